"""Issue 11, "right results": lost writes, Lambda time, a step's own TimeoutError,
duplicate wake-ups, self-waits, event ids after restart, dropped completions, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from lambda_workflows import (
    NondeterminismError,
    ValidationError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.clock import now_ms
from lambda_workflows.journal import MemoryJournal, StepRecord
from lambda_workflows.local.pump import FakeLambdaContext
from lambda_workflows.testing import WorkflowTestEnv
from pydantic import BaseModel

from tests.functional.helpers import Calls
from tests.unit.memory_engine import MemoryEngine

calls = Calls()
seen: list[Any] = []


class Answer(BaseModel):
    approved: bool


class DoThenWait(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        a = await step.do("a", lambda: "mine")
        seen.append(a)
        got = await step.wait_for_event("w", type="go", timeout="1 hour")
        seen.append(got["payload"])
        return [a, got["payload"]]


class TimedSteps(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        clock = event.payload["clock"]

        def first(ctx: Any) -> int:
            CLOCKS[clock].advance(timedelta(seconds=50))
            return 1

        def second(ctx: Any) -> int:
            seen.append(REMAINING["now"]())
            return 2

        await step.do("first", first, timeout="60 seconds")
        await step.do("second", second, timeout="60 seconds")
        return "done"


class OwnTimeout(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def call_upstream() -> None:
            raise TimeoutError("upstream did not answer in 3 s")

        await step.do("call", call_upstream, retries={"limit": 1, "delay": 0})


class TenSleeps(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        for i in range(10):
            await step.sleep(f"nap {i}", "1 hour")
        return "rested"


class WaitsForItself(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            await step.wait_for_workflow("me", ("self-wait", event.instance_id))
        except ValidationError as exc:
            return str(exc)
        return "waited"


class WaitTwice(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("w", type="go")
        return got["payload"]


VERSION = {"v": 1}


class Evolving(WorkflowEntrypoint[Any]):
    """v1 runs step "a", then a fan-out, then sleeps; v2 no longer calls "a"."""

    async def run(self, event: Any, step: Any) -> Any:
        if VERSION["v"] == 1:
            await step.do("a", lambda: "a")
        results = await asyncio.gather(step.do("b", lambda: "b"), step.do("c", lambda: "c"))
        await step.sleep("nap", "1 hour")
        return results


class Plain(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("w", type="answer")
        return got["payload"]


CLOCKS: dict[str, Any] = {}
REMAINING: dict[str, Any] = {}

APP = WorkflowApp(
    [
        Workflow("do-then-wait", DoThenWait),
        Workflow("timed", TimedSteps),
        Workflow("own-timeout", OwnTimeout),
        Workflow("ten-sleeps", TenSleeps),
        Workflow("self-wait", WaitsForItself),
        Workflow("wait-twice", WaitTwice),
        Workflow("evolving", Evolving),
        Workflow("plain", Plain),
    ]
)


@pytest.fixture
def env(make_env: Any) -> WorkflowTestEnv:
    environment: WorkflowTestEnv = make_env(APP)
    calls.reset(environment.clock)
    seen.clear()
    VERSION["v"] = 1
    return environment


class RacingJournal(MemoryJournal):
    """A journal where another worker journals some steps just before this one does."""

    def __init__(self, winners: dict[str, Any]) -> None:
        super().__init__()
        self.winners = winners

    def put_step(
        self, workflow: str, instance_id: str, record: StepRecord, expected_version: int | None
    ) -> None:
        winner = self.winners.pop(record.key, None)
        if winner is not None and record.resolved:
            super().put_step(workflow, instance_id, winner(record), expected_version)
        super().put_step(workflow, instance_id, record, expected_version)


def test_a_lost_write_returns_the_winners_value_for_do_and_wait_for_event() -> None:
    """Guards: after losing the conditional write of a step to another worker, `do` and
    `wait_for_event` return the journaled winner's value on the first run, not their own."""
    journal = RacingJournal(
        {
            "a#0": lambda r: dataclasses.replace(r, result="theirs"),
            "w#0": lambda r: dataclasses.replace(r, event_seq=2),
        }
    )
    engine = MemoryEngine(APP, journal=journal)
    instance = engine.engine.binding("do-then-wait").create(id="r")
    instance.send_event("go", "first")
    instance.send_event("go", "second")
    engine.run()
    assert seen == ["theirs", "second"]
    assert instance.status().output == ["theirs", "second"]
    assert journal.winners == {}  # both writes were lost to a winner


def test_short_lambda_time_yields_instead_of_failing_an_attempt(env: WorkflowTestEnv) -> None:
    """Guards: the worker does not start an attempt that cannot finish in the Lambda time
    left (100 s, 10 s reserve, 60 s step timeout, 50 s used by the first step): it yields,
    and the step runs in a new invocation with enough time, without using a retry."""
    CLOCKS["env"] = env.clock
    deadlines: list[int] = []

    class Context(FakeLambdaContext):
        def __init__(self) -> None:
            super().__init__()
            deadlines.append(now_ms(env.clock) + 100_000)
            self.deadline = deadlines[-1]

        def get_remaining_time_in_millis(self) -> int:
            return self.deadline - now_ms(env.clock)

    REMAINING["now"] = lambda: deadlines[-1] - now_ms(env.clock)
    env.pump.context_factory = Context
    env.binding("timed").create(id="t", params={"clock": "env"})
    status = env.wait_for_status("timed", "t", "complete")
    assert seen
    assert seen[0] >= 60_000
    second = next(s for s in status.steps if s.name == "second")
    assert second.attempts == 1
    assert len(deadlines) >= 2


def test_a_steps_own_timeout_error_is_reported_as_itself(env: WorkflowTestEnv) -> None:
    """Guards: a `TimeoutError` raised by the step function is that error, with its
    message, not the step's attempt timeout."""
    env.binding("own-timeout").create(id="o")
    status = env.wait_for_status("own-timeout", "o", "errored")
    log = status.steps[0].attempt_log
    assert [a.error.name for a in log if a.error] == ["TimeoutError", "TimeoutError"]
    assert log[0].error is not None
    assert log[0].error.message == "upstream did not answer in 3 s"


def _wakeups_for_ten_sleeps(duplicate_start: bool) -> int:
    engine = MemoryEngine(APP)
    engine.engine.binding("ten-sleeps").create(id="z")
    if duplicate_start:
        engine.wakeups.sent.append(engine.wakeups.sent[0])
    sent_before = len(engine.wakeups.sent)
    delivered = engine.run()
    meta = engine.journal.get_meta("ten-sleeps", "z")
    assert meta is not None
    assert meta.status == "complete"
    return delivered - sent_before


def test_a_duplicate_wake_up_dies_out() -> None:
    """Guards: a duplicated start message does not double every later suspension: a
    10-sleep workflow sends as many wake-ups with it as without it (± 1)."""
    single = _wakeups_for_ten_sleeps(duplicate_start=False)
    doubled = _wakeups_for_ten_sleeps(duplicate_start=True)
    assert single == 10
    assert abs(doubled - single) <= 1


def test_waiting_for_itself_is_a_validation_error_at_the_call(env: WorkflowTestEnv) -> None:
    """Guards: `wait_for_workflow` on the instance itself raises ValidationError in
    `run()` at the call (it would otherwise wait until its timeout)."""
    env.binding("self-wait").create(id="s")
    output = env.wait_for_status("self-wait", "s", "complete").output
    assert "cannot wait for itself" in output


def test_an_event_id_is_new_again_after_restart(env: WorkflowTestEnv) -> None:
    """Guards: a restart forgets the events its discarded steps consumed, with their
    `event_id`s: the same id sent again is a new event, never a KeyError."""
    instance = env.binding("wait-twice").create(id="w")
    env.run_until_idle()
    instance.send_event("go", "first", event_id="e1")
    assert env.wait_for_status("wait-twice", "w", "complete").output == "first"
    instance.restart()
    env.run_until_idle()
    instance.send_event("go", "second", event_id="e1")
    assert env.wait_for_status("wait-twice", "w", "complete").output == "second"


def test_a_dropped_journaled_completion_is_a_nondeterminism_error(env: WorkflowTestEnv) -> None:
    """Guards: code that stops calling a journaled step fails with the documented
    NondeterminismError naming it, not the "waiting on something that is not a step"
    message."""
    env.binding("evolving").create(id="e")
    env.run_until_idle()
    VERSION["v"] = 2
    status = env.wait_for_status("evolving", "e", "errored")
    assert status.error is not None
    assert status.error.name == NondeterminismError.__name__
    assert "'a'" in status.error.message


def test_bad_input_is_a_validation_error_and_writes_nothing(env: WorkflowTestEnv) -> None:
    """Guards: a pydantic model as an event payload is dumped; non-JSON params on a
    workflow without a params model are a ValidationError (not a TypeError) and write
    nothing; control characters in ids, step names and event types are refused."""
    instance = env.binding("plain").create(id="p")
    env.run_until_idle()
    instance.send_event("answer", Answer(approved=True))
    assert env.wait_for_status("plain", "p", "complete").output == {"approved": True}
    with pytest.raises(ValidationError, match="params must be JSON"):
        env.binding("plain").create(id="q", params={"when": object()})
    with pytest.raises(ValidationError):
        env.binding("plain").create(id="q\n")
    assert env.engine.services.journal.get_meta("plain", "q") is None
    other = env.binding("plain").create(id="r")
    with pytest.raises(ValidationError, match="control characters"):
        other.send_event("answer\x00", 1)
    with pytest.raises(ValidationError, match="must be JSON"):
        other.send_event("answer", {1, 2})
    assert other.status().events == ()
