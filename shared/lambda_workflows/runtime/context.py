"""What a durable operation sees of the invocation running it: `ReplayContext`.

The executor implements it; operations (runtime/operations/) depend on this narrow
interface only, so each can be read (and tested) without the executor's loop machinery.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from lambda_workflows.api import UndoFunction
from lambda_workflows.clock import Clock
from lambda_workflows.config import StepConfig
from lambda_workflows.journal.records import (
    EventRecord,
    InstanceMeta,
    StepKind,
    StepRecord,
    step_key,
)
from lambda_workflows.runtime.interception import StepTarget
from lambda_workflows.runtime.threads import StepThreads
from lambda_workflows.services import Services

T = TypeVar("T")

BRANCH: contextvars.ContextVar[str | None] = contextvars.ContextVar("lwf_branch", default=None)
"""The asyncio task (branch of `run()`) a step call comes from: `0`, `0.1`, `0.1.0`..."""
IN_STEP: contextvars.ContextVar[bool] = contextvars.ContextVar("lwf_in_step", default=False)
"""True inside a step function, where step operations are not allowed."""


@dataclass
class Claim:
    """A step call matched against the journal: its position, occurrence and record."""

    name: str
    kind: StepKind
    occurrence: int
    position: str
    record: StepRecord | None

    @property
    def key(self) -> str:
        return step_key(self.name, self.occurrence, self.kind)

    def target(self, meta: InstanceMeta) -> StepTarget:
        return StepTarget(meta.workflow, meta.instance_id, self.name, self.occurrence)


class ReplayContext(Protocol):
    """The invocation, as operations use it."""

    @property
    def meta(self) -> InstanceMeta: ...

    @property
    def services(self) -> Services: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def threads(self) -> StepThreads: ...

    @property
    def unwinding(self) -> bool:
        """True while the invocation stops (`run()` unwinds from a suspension)."""

    def now(self) -> int: ...

    def claim(self, name: str, kind: StepKind, occurrence: int | None = None) -> Claim:
        """Give a step call its position and occurrence (the next of its name unless
        given); check them against the journal."""

    def register_undo(
        self, record: StepRecord, undo: UndoFunction, config: StepConfig, step_config: StepConfig
    ) -> None:
        """The succeeded step `record` has an undo for the rollback chain."""

    def track(self, coro: Coroutine[Any, Any, T], what: str, name: str) -> Coroutine[Any, Any, T]:
        """Remember a step operation until it starts: one never awaited is an error."""

    def patch(self, change_id: str, *, deprecated: bool) -> bool:
        """Whether the instance runs the patched code of `change_id` (journals the marker)."""

    async def turn(self, done: int) -> None:
        """Wait until completion number `done` is handed back (journal order)."""

    async def live_turn(self) -> None:
        """Wait until the journal is replayed; new work starts only then."""

    async def block(self, deadline_ms: int | None) -> None:
        """Wait until `deadline_ms` passes (None: until the invocation suspends)."""

    def infra(self, call: Callable[[], T]) -> T:
        """Call a port; a platform failure ends the invocation instead of reaching `run()`."""

    async def before_attempt(self, timeout_ms: int) -> None:
        """Stop here (block) if the invocation must end before an attempt of that length."""

    async def yield_invocation(self) -> None:
        """End this invocation here and continue in a new one (no attempt consumed)."""

    @property
    def attempts_started(self) -> int:
        """Step attempts started in this invocation so far."""

    def attempt_budget_ms(self) -> int | None:
        """How long an attempt may run before the invocation's own time runs out."""

    def begin_work(self) -> None: ...

    def end_work(self) -> None: ...

    def next_done(self) -> int:
        """The completion number of the next resolution journaled live."""

    def write(self, record: StepRecord, expected_version: int | None) -> StepRecord:
        """One conditional write; returns what is stored (a resolved winner's record when
        another worker journaled the step first)."""

    def next_event(self, event_type: str) -> EventRecord | None:
        """The oldest unconsumed inbox event of `event_type`."""

    def event(self, seq: int) -> EventRecord:
        """The inbox event `seq` (the invocation is abandoned if it is not loaded)."""
