"""On the real clock, a deadline passing while a step attempt runs wins a race at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.runtime.executor import ReplayExecutor

from tests.unit.memory_engine import MemoryEngine


class HandClock:
    """A clock the engine treats as real (it arms real timeouts) that the test moves."""

    is_virtual = False

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


CLOCK = HandClock()
release = threading.Event()
calls: list[str] = []


def slow_call() -> str:
    calls.append("slow call")
    CLOCK.advance(timedelta(hours=2))  # the call outlives the deadline...
    release.wait(30)  # ...and is still running when the deadline is noticed
    return "late answer"


class Deadline(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        winner, _ = await step.race(
            step.sleep("deadline", "1 hour"),  # first: its deadline is set before the call
            step.do("slow call", slow_call, timeout="1 day"),
        )
        return {"winner": winner}


def test_a_deadline_beats_a_step_that_is_still_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ReplayExecutor, "deadline_poll_s", 0.001)
    memory = MemoryEngine(WorkflowApp([Workflow("deadline", Deadline)]), clock=CLOCK)
    try:
        instance = memory.engine.binding("deadline").create(id="d")
        memory.run(max_deliveries=1)
        status = instance.status().to_dict()
    finally:
        release.set()
    assert status["status"] == "complete", status
    assert status["output"] == {"winner": 0}
    steps = {s["name"]: s["status"] for s in status["steps"]}
    assert steps == {"deadline": "succeeded"}  # the loser was never journaled
    assert calls == ["slow call"]
