"""Replay-only checks: would a recorded journal still replay under the current code?

`check_journal` replays one instance's journal document (journal/document.py) through
the production executor with in-memory ports: no step function runs, nothing is written
or sent. Journaled steps are matched and handed back exactly as a worker would; where
the code reaches the journal's end (a new step, a pending sleep, wait or retry) that
branch stops. The verdict says whether the instance would break when it next wakes:

- `ok`: the journal replays (to its live point, or to the end `run()` recorded);
- `diverged`: the first `NondeterminismError` (position, the journaled step, what the
  code now calls there), or `run()` now ends before a step it journaled;
- `failed`: `run()` now raises something else during replay (a renamed params field, a
  workflow the app no longer declares), where the instance had not ended that way;
- `unchecked`: the journal lacks a value the replay needs (left out of the export).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from lambda_workflows.api import Env
from lambda_workflows.app import Workflow, WorkflowApp
from lambda_workflows.bindings.base import BindingSpec
from lambda_workflows.blobs import MemoryBlobStore
from lambda_workflows.clock import VirtualClock, from_ms
from lambda_workflows.errors import BlobMissingError, NondeterminismError, WorkflowError
from lambda_workflows.journal.document import OMITTED_PREFIX, JournalDocument, snapshot_of
from lambda_workflows.journal.memory import MemoryJournal
from lambda_workflows.journal.records import (
    ErrorInfo,
    InstanceStatus,
    Snapshot,
    StepKind,
    StepRecord,
)
from lambda_workflows.payloads import Payloads
from lambda_workflows.runtime.context import Claim
from lambda_workflows.runtime.executor import Outcome, ReplayExecutor
from lambda_workflows.runtime.step import DurableStep
from lambda_workflows.runtime.suspension import StopReason
from lambda_workflows.runtime.threads import StepThreads
from lambda_workflows.services import Services
from lambda_workflows.wakeups import MemoryWakeups

VerdictKind = Literal["ok", "diverged", "failed", "unchecked"]
BREAKING: frozenset[str] = frozenset({"diverged", "failed"})
"""Verdicts of an instance that would break when it next wakes."""


@dataclass(frozen=True)
class StepRef:
    """A step as replay sees it: its kind and name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r}"

    def to_dict(self) -> dict[str, str]:
        return {"type": self.kind, "name": self.name}


@dataclass(frozen=True)
class Verdict:
    """How one instance's journal replays under the current code."""

    workflow: str
    instance_id: str
    status: str
    """The instance's status when its journal was read."""
    verdict: VerdictKind
    message: str
    position: str | None = None
    """Where the code and the journal part (`diverged`)."""
    journaled: StepRef | None = None
    """The journal's step at `position`."""
    called: StepRef | None = None
    """What the code now calls there (None: no step; it returns, raises or waits)."""
    replayed: int = 0
    """Journaled steps the code met again."""
    steps: int = 0
    """Steps in the journal."""

    @property
    def breaks(self) -> bool:
        return self.verdict in BREAKING

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "id": self.instance_id,
            "status": self.status,
            "verdict": self.verdict,
            "message": self.message,
            "position": self.position,
            "journaled": self.journaled.to_dict() if self.journaled else None,
            "called": self.called.to_dict() if self.called else None,
            "replayed": self.replayed,
            "steps": self.steps,
        }


@dataclass
class Report:
    """Verdicts of a run of `lwf replay-check`."""

    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def breaks(self) -> bool:
        return any(v.breaks for v in self.verdicts)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("ok", "diverged", "failed", "unchecked"), 0)
        for verdict in self.verdicts:
            counts[verdict.verdict] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.breaks,
            "counts": self.counts(),
            "instances": [v.to_dict() for v in self.verdicts],
        }


class _NoAttempts:
    """The stop policy of a check: no step attempt ever starts (none is reached)."""

    def check(self, needed_ms: int) -> StopReason | None:
        return StopReason.YIELD

    def attempt_budget_ms(self) -> int | None:
        return 0


class _Inert:
    """A binding in a check: using it outside a step is a side effect replay repeats."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        def refuse(*_args: Any, **_kwargs: Any) -> Any:
            raise WorkflowError(
                f"run() called self.env.{self._name}.{attribute} outside a step: a side "
                "effect every replay repeats; call it inside step.do"
            )

        return refuse


def _env(app: WorkflowApp) -> Env:
    """Stand-ins for the bindings that reach AWS (resources and workflow bindings); plain
    objects pass through, as on the worker (code outside steps only reads them)."""
    env: dict[str, Any] = {
        name: spec if not isinstance(spec, BindingSpec) else _Inert(name)
        for name, spec in app.bindings.items()
    }
    env.update({w.binding: _Inert(w.binding) for w in app.workflows if w.binding})
    return Env(env)


class _CheckExecutor(ReplayExecutor):
    """The executor with every way out closed: live work blocks until the check ends,
    and writes (a patch marker first met here) stay in this object."""

    def __init__(
        self, workflow: Workflow, snapshot: Snapshot, services: Services, env: Env
    ) -> None:
        super().__init__(workflow, snapshot, services, env, _NoAttempts(), StepThreads())
        self.frontier: list[Claim] = []
        """Steps the code reached past the journal (new ones, or pending ones), in order."""

    def claim(self, name: str, kind: StepKind, occurrence: int | None = None) -> Claim:
        claim = super().claim(name, kind, occurrence)
        if claim.record is None or not claim.record.resolved:
            self.frontier.append(claim)
        return claim

    async def live_turn(self) -> None:
        await super().live_turn()
        await self.block(None)  # the journal ends here: nothing runs, this branch stops

    def write(self, record: StepRecord, expected_version: int | None) -> StepRecord:
        self.claimed.add(record.key)
        self.steps[record.key] = record
        self.by_position[record.position] = record
        return record


def _last_time(snapshot: Snapshot) -> int:
    meta = snapshot.meta
    times = [meta.created_at, meta.started_at or 0, meta.finished_at or 0]
    for record in snapshot.steps.values():
        times += [record.started_at or 0, record.finished_at or 0]
    times += [event.timestamp for event in snapshot.events]
    return max(times)


def _services(snapshot: Snapshot) -> Services:
    return Services(
        journal=MemoryJournal(),
        payloads=Payloads(MemoryBlobStore()),
        wakeups=MemoryWakeups(),
        clock=VirtualClock(from_ms(_last_time(snapshot))),
    )


def check_journal(app: WorkflowApp, document: JournalDocument) -> Verdict:
    """Replay `document` against `app`'s code for `document.workflow`."""
    snapshot = snapshot_of(document)
    try:
        workflow = app.workflow(document.workflow)
    except WorkflowError:
        return _verdict(
            snapshot,
            "failed",
            f"the app no longer declares workflow {document.workflow!r}",
        )
    return check_snapshot(workflow, snapshot, _env(app))


def check_snapshot(workflow: Workflow, snapshot: Snapshot, env: Env | None = None) -> Verdict:
    """Replay one loaded journal against `workflow`'s code."""
    executor = _CheckExecutor(workflow, snapshot, _services(snapshot), env or Env())
    try:
        outcome = executor.run(DurableStep(executor))
    except BlobMissingError as exc:
        key = str(exc.args[0]) if exc.args else ""
        if key.startswith(OMITTED_PREFIX):
            what = key[len(OMITTED_PREFIX) :]
            return _verdict(
                snapshot,
                "unchecked",
                f"replay needs {what}, which the export left out (too large); export "
                "the instance with fewer large values, or check it where it runs",
                executor,
            )
        return _verdict(snapshot, "failed", f"replay failed: {exc!r}", executor)
    return _judge(snapshot, executor, outcome)


def _judge(snapshot: Snapshot, executor: _CheckExecutor, outcome: Outcome) -> Verdict:
    fatal = executor.fatal
    meta = snapshot.meta
    recorded = meta.error
    if (
        isinstance(fatal, NondeterminismError)
        and meta.status == InstanceStatus.ERRORED
        and recorded is not None
        and recorded.name == NondeterminismError.__name__
        and recorded.message == str(fatal)
    ):
        return _verdict(
            snapshot,
            "ok",
            "it ended with this same divergence already (it will not run again)",
            executor,
        )
    if isinstance(fatal, NondeterminismError):
        return _diverged(snapshot, executor, fatal)
    if outcome.kind == "errored":
        error = outcome.error or ErrorInfo("Error", "")
        recorded = meta.error
        same = (
            meta.status == InstanceStatus.ERRORED
            and recorded is not None
            and (recorded.name, recorded.message) == (error.name, error.message)
        )
        if not same:
            return _verdict(
                snapshot,
                "failed",
                f"run() now raises {error.name}: {error.message}",
                executor,
            )
    if outcome.kind in ("complete", "errored"):
        unclaimed = executor.unclaimed()
        if unclaimed is not None:
            ends = "returns" if outcome.kind == "complete" else "raises"
            return _verdict(
                snapshot,
                "diverged",
                f"the code now {ends} before {unclaimed.kind} {unclaimed.name!r}, journaled "
                f"at position {unclaimed.position}",
                executor,
                position=unclaimed.position,
                journaled=StepRef(unclaimed.kind, unclaimed.name),
            )
        end = "returns" if outcome.kind == "complete" else f"raises the recorded {error.name}"
        return _verdict(snapshot, "ok", f"replays to the end: run() {end}", executor)
    waiting = [c for c in executor.frontier if c.key not in _resolved_keys(executor)]
    where = ", ".join(f"{c.kind} {c.name!r}" for c in waiting[:3]) or "no step"
    more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
    return _verdict(snapshot, "ok", f"replays to its live point: {where}{more}", executor)


def _resolved_keys(executor: _CheckExecutor) -> set[str]:
    return {key for key, record in executor.steps.items() if record.resolved}


def _diverged(snapshot: Snapshot, executor: _CheckExecutor, error: NondeterminismError) -> Verdict:
    called = StepRef(*error.called) if error.called else None
    if called is None:  # the code waits elsewhere: what it calls past the journal
        new = [c for c in executor.frontier if c.record is None]
        called = StepRef(new[0].kind, new[0].name) if new else None
    return _verdict(
        snapshot,
        "diverged",
        str(error),
        executor,
        position=error.position,
        journaled=StepRef(*error.journaled) if error.journaled else None,
        called=called,
    )


def _verdict(
    snapshot: Snapshot,
    verdict: VerdictKind,
    message: str,
    executor: _CheckExecutor | None = None,
    **where: Any,
) -> Verdict:
    journaled = set(snapshot.steps)
    replayed = len(journaled & executor.claimed) if executor is not None else 0
    meta = snapshot.meta
    return Verdict(
        workflow=meta.workflow,
        instance_id=meta.instance_id,
        status=str(meta.status),
        verdict=verdict,
        message=message,
        replayed=replayed,
        steps=len(snapshot.steps),
        **where,
    )


def check_all(app: WorkflowApp, documents: Iterable[JournalDocument]) -> Report:
    """A verdict per document, in order."""
    return Report([check_journal(app, document) for document in documents])


__all__ = [
    "BREAKING",
    "Report",
    "StepRef",
    "Verdict",
    "check_all",
    "check_journal",
    "check_snapshot",
]
