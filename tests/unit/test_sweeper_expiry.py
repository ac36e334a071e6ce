"""The sweeper deletes finished instances whose retention has ended, more than one page
of them per sweep, and leaves alone those a parent still waits to hear from."""

from __future__ import annotations

from typing import Any

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import from_ms
from lambda_workflows.journal.records import InstanceMeta, InstanceStatus

from tests.unit.memory_engine import MemoryEngine

HOUR_MS = 3_600_000


class Noop(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return None


def _finished(instance_id: str, watchers: list[str] | None = None) -> InstanceMeta:
    return InstanceMeta(
        workflow="noop",
        instance_id=instance_id,
        status=InstanceStatus.COMPLETE,
        params=None,
        created_at=0,
        finished_at=0,
        due_at=HOUR_MS,
        watchers=watchers or [],
    )


def test_one_sweep_deletes_more_than_a_page_of_expired_instances() -> None:
    memory = MemoryEngine(WorkflowApp([Workflow("noop", Noop)], retention="1 hour"))
    memory.journal.create_instances([_finished(f"i{n}") for n in range(250)])
    memory.journal.create_instances([_finished("told-late", ["parent#p#0"])])
    memory.clock.advance_to(from_ms(2 * HOUR_MS))  # type: ignore[attr-defined]
    resent = memory.engine.sweeper.sweep()
    remaining = memory.journal.list_instances("noop", None, 1_000, None).instances
    assert [m.instance_id for m in remaining] == ["told-late"]
    assert [w.instance_id for w in resent] == ["told-late"]  # its parents are told first


def test_expiries_stop_when_the_invocation_runs_short_but_wake_ups_go_first() -> None:
    """With under 10 s of the sweeper's invocation left no expiry starts (the next
    minute's sweep goes on), and an overdue wake-up is re-sent before any expiry."""
    memory = MemoryEngine(WorkflowApp([Workflow("noop", Noop)], retention="1 hour"))
    memory.journal.create_instances([_finished(f"i{n}") for n in range(30)])
    memory.journal.create_instances([_finished("told-late", ["parent#p#0"])])
    memory.clock.advance_to(from_ms(2 * HOUR_MS))  # type: ignore[attr-defined]
    left = iter([60_000] * 10 + [9_000] * 100)
    resent = memory.engine.sweeper.sweep(lambda: next(left))
    assert [w.instance_id for w in resent] == ["told-late"]
    remaining = memory.journal.list_instances("noop", None, 1_000, None).instances
    assert len(remaining) == 1 + 30 - 10
    memory.engine.sweeper.sweep(lambda: 60_000)
    remaining = memory.journal.list_instances("noop", None, 1_000, None).instances
    assert [m.instance_id for m in remaining] == ["told-late"]
