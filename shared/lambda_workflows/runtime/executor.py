"""The replay executor: runs `run()` once per invocation against the journal.

It owns a private event loop and drives it by hand, one iteration at a time, so it
always knows when every branch of the workflow is blocked:

- Journaled results are handed back in the order they first completed (`done`), one
  per idle point, so `asyncio.gather`, `asyncio.wait(FIRST_COMPLETED)` and races see
  the same interleaving on every replay.
- Each asyncio task created inside `run()` is a branch with its own step counter, so
  a step's position (`branch:index`) does not depend on timing; replay checks that the
  journal has the same step at the same position (`NondeterminismError` otherwise).
- New steps start only after the journal is fully replayed.
- When nothing can progress (all branches sleep, wait or back off), the invocation
  suspends: `Suspended` is thrown into every blocked operation and the outcome carries
  the earliest deadline.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
from collections import defaultdict
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from lambda_workflows.api import Env, UndoFunction, WorkflowEvent, WorkflowStep
from lambda_workflows.app import Workflow
from lambda_workflows.clock import Clock, from_ms, now_ms
from lambda_workflows.config import StepConfig
from lambda_workflows.errors import (
    NondeterminismError,
    NonRetryableError,
    NotJsonError,
    OutputTooLargeError,
    StepConditionFailedError,
    StepError,
    StepLimitExceededError,
    ValidationError,
    WorkflowError,
)
from lambda_workflows.journal.records import (
    MAX_ERROR_MESSAGE,
    OUTSIDE_REPLAY_ORDER,
    ErrorInfo,
    EventRecord,
    InstanceMeta,
    Snapshot,
    StepKind,
    StepRecord,
    StepStatus,
    step_key,
)
from lambda_workflows.names import check_step_name
from lambda_workflows.runtime.context import BRANCH, IN_STEP, Claim
from lambda_workflows.runtime.operations.rollback import Rollback, Undo
from lambda_workflows.runtime.policy import StopPolicy
from lambda_workflows.runtime.suspension import StopReason, Suspended
from lambda_workflows.runtime.threads import StepThreads
from lambda_workflows.runtime.tracking import StepCall, call_site, forget_finished, left_behind
from lambda_workflows.services import Services

T = TypeVar("T")
OutcomeKind = Literal[
    "complete", "errored", "terminated", "suspended", "paused", "abandoned", "again"
]
"""`terminated`: rolled back after `terminate(rollback=True)`; `again`: such a terminate
arrived while the invocation ran, so the instance must be replayed in that mode."""


@dataclass
class Outcome:
    """How an invocation ended."""

    kind: OutcomeKind
    output: Any = None
    error: ErrorInfo | None = None
    wake_at: int | None = None
    steps_written: int = 0


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


CODE_CHANGED = (
    " (the code changed under an instance that journaled the old steps: guard the change "
    "with step.patched, or restart the instance; `lwf replay-check` finds these before a "
    "deploy, docs/guide.md Versioning)"
)


class _ReplayLoop(asyncio.SelectorEventLoop):
    def has_ready(self) -> bool:
        return bool(getattr(self, "_ready", ()))


@dataclass
class _Gates:
    """Hands journaled results back in completion order."""

    order: list[int]
    position: int = 0
    waiting: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)

    @property
    def drained(self) -> bool:
        return self.position >= len(self.order)


class ReplayExecutor:
    """Runs one invocation of one instance. Create a new one per invocation."""

    deadline_poll_s = 1.0
    """While step attempts run on the real clock, how often blocked deadlines are checked."""

    def __init__(
        self,
        workflow: Workflow,
        snapshot: Snapshot,
        services: Services,
        env: Env,
        policy: StopPolicy,
        threads: StepThreads,
    ) -> None:
        self.workflow = workflow
        self.snapshot = snapshot
        self.meta: InstanceMeta = snapshot.meta
        self.services = services
        self.clock: Clock = services.clock
        self.env = env
        self.policy = policy
        self.threads = threads
        self.unwinding = False
        """True once the invocation stops: `run()` unwinds and no step may start."""
        self.attempts_started = 0
        self.steps: dict[str, StepRecord] = dict(snapshot.steps)
        self.by_position = {r.position: r for r in self.steps.values()}
        self.consumed_events = {r.event_seq for r in self.steps.values() if r.event_seq}
        done = {r.done: r.kind for r in self.steps.values() if r.resolved and r.done is not None}
        self._gates = _Gates(
            order=sorted(d for d, k in done.items() if k not in OUTSIDE_REPLAY_ORDER)
        )
        self._next_done = max(done, default=-1) + 1
        self._patches: dict[tuple[str, str], bool] = {}
        self._branch_next: dict[str, int] = defaultdict(int)
        """Each branch's next step position (an index)."""
        self._branch_children: dict[str, itertools.count[int]] = defaultdict(itertools.count)
        self._occurrences: dict[str, itertools.count[int]] = defaultdict(itertools.count)
        self._blocked: dict[asyncio.Future[None], int | None] = {}
        self._drained_waiters: list[asyncio.Future[None]] = []
        self._inflight = 0
        self._activity: asyncio.Future[None] | None = None
        self._loop: _ReplayLoop | None = None
        self.stop_reason: StopReason | None = None
        self.fatal: BaseException | None = None
        self.crash: Exception | None = None
        self.steps_written = 0
        self._undos: list[Undo] = []
        self.rolling_back = False
        """True once the rollback chain runs (`run()` has stopped)."""
        self.terminating = bool(snapshot.meta.terminating)
        """`terminate(rollback=True)` was asked: replay `run()` without starting anything,
        roll back, end terminated."""
        self.run_error: ErrorInfo | None = None
        """`run()`'s own error, once it ended in one."""
        self.run_ended = False
        """`run()` failed: nothing new starts while its running steps end."""
        self._undoing: str | None = None
        self._calls: dict[int, StepCall] = {}
        """Step operations called and not yet started nor scheduled as a task."""
        self.claimed: set[str] = set()
        """The keys of the steps this run of the code called."""
        if self.terminating:
            self.stop_reason = StopReason.TERMINATE

    # -- the loop ---------------------------------------------------------------------

    def run(self, step: WorkflowStep) -> Outcome:
        """Replay and continue `run()` until it finishes or every branch is blocked."""
        loop = _ReplayLoop()
        self._loop = loop
        loop.set_task_factory(self._task_factory)
        context = contextvars.copy_context()
        context.run(BRANCH.set, "0")
        main = asyncio.Task(self._main(step), loop=loop, context=context)
        try:
            return self._drive(loop, main)
        finally:
            self._close(loop)

    async def _main(self, step: WorkflowStep) -> Any:
        meta = self.meta
        event = WorkflowEvent(
            payload=self.workflow.parse_params(
                self.infra(lambda: self.services.payloads.unpack(meta.params, meta.params_ref))
            ),
            timestamp=from_ms(self.meta.created_at),
            instance_id=self.meta.instance_id,
        )
        instance = self.workflow.cls(self.env)
        body = instance.run(event, step)
        if not inspect.isawaitable(body):
            raise WorkflowError(
                f"{type(instance).__name__}.run returned {type(body).__name__}, not an "
                "awaitable: write `async def run(self, event, step):`"
            )
        return await body

    def _task_factory(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        context: contextvars.Context = kwargs.pop("context", None) or contextvars.copy_context()
        parent = context.get(BRANCH)
        if parent is not None and not context.get(IN_STEP):
            child = f"{parent}.{next(self._branch_children[parent])}"
            context = context.copy()
            context.run(BRANCH.set, child)
        task = asyncio.Task(coro, loop=loop, context=context, **kwargs)
        call = self._calls.get(id(coro))
        if call is not None and call.coro is coro:
            call.task = task  # asyncio.gather, create_task, step.race...
        return task

    def _drive(self, loop: _ReplayLoop, main: asyncio.Task[Any]) -> Outcome:
        task = main
        self._run_until_blocked(loop, main)
        if self._run_failed(main):
            self._let_steps_end(loop)
        if self._rolls_back(main):
            task = self._start_rollback(loop, main)
            self._run_until_blocked(loop, task)
        if task.done() and self.fatal is None and self.crash is None:
            return self._rolled_back(task) if task is not main else self._finished(main)
        outcome = self._suspend(loop, task)
        if self.crash is not None:
            raise self.crash
        return outcome

    def _run_until_blocked(self, loop: _ReplayLoop, main: asyncio.Task[Any]) -> None:
        """Run until `main` ends, fails the invocation, or every branch is blocked."""
        while True:
            loop.call_soon(loop.stop)
            loop.run_forever()
            if main.done() or self.fatal is not None or self.crash is not None:
                break
            if loop.has_ready():
                continue
            if self._release_next():
                continue
            if self.fatal is not None:
                break
            if self._inflight:
                self._await_activity(loop)
                if self.stop_reason is None:
                    self._wake_due()
                continue
            if self.stop_reason is None and self._wake_due():
                continue
            if not self._blocked and not main.done():
                self.fatal = WorkflowError(
                    "run() is waiting on something that is not a step (asyncio.sleep, a "
                    "future or an event of its own?): only step operations can suspend a "
                    "workflow; use step.sleep or step.wait_for_event"
                )
            break

    # -- the rollback chain -------------------------------------------------------------

    def _run_failed(self, main: asyncio.Task[Any]) -> bool:
        """Whether `run()` ended in an error of its own (its `run_error` is set then)."""
        if self.fatal is not None or self.crash is not None:
            return False
        if not main.done() or main.cancelled():
            return False
        exc = main.exception()
        if not isinstance(exc, Exception):
            return False
        self.run_error = self._error_of_run(exc)
        return True

    def _let_steps_end(self, loop: _ReplayLoop) -> None:
        """`run()` failed: let the step attempts still running in other branches end and
        be journaled (a step that completes is undone like the others), and hand back
        the completions journaled so; start nothing new."""
        self.run_ended = True
        while self.fatal is None and self.crash is None:
            loop.call_soon(loop.stop)
            loop.run_forever()
            if loop.has_ready() or self._release_next(ending=True):
                continue
            if not self._inflight:
                return
            self._await_activity(loop)

    def _rolls_back(self, main: asyncio.Task[Any]) -> bool:
        """Whether the rollback chain runs now: `run()` ended in an error (and undos are
        registered), or a terminate with rollback stopped it."""
        if self.fatal is not None or self.crash is not None:
            return False
        if self.stop_reason == StopReason.TERMINATE:
            return True
        return self.run_error is not None and bool(self._undos)

    def _start_rollback(self, loop: _ReplayLoop, main: asyncio.Task[Any]) -> asyncio.Task[None]:
        """Stop what is left of `run()` (nothing of it is journaled), then start the chain."""
        self.unwinding = True
        self._release_blocked()
        if not main.done():
            self._unwind(loop, main)
        rest = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for _ in range(100):
            if not any(not t.done() for t in rest):
                break
            for task in rest:
                task.cancel()
            loop.call_soon(loop.stop)
            loop.run_forever()
        else:
            raise RuntimeError("run() does not stop when cancelled")
        for task in (main, *rest):
            if not task.cancelled():
                task.exception()  # retrieved: the chain decides the outcome
        self.unwinding = False
        self.stop_reason = None
        self.rolling_back = True
        context = contextvars.copy_context()
        context.run(BRANCH.set, "rollback")
        return asyncio.Task(self._roll_back(), loop=loop, context=context)

    async def _roll_back(self) -> None:
        for undo in sorted(self._undos, key=lambda u: u.done, reverse=True):
            self._undoing = undo.record.name
            value = self.infra(functools.partial(self._result_of, undo.record))
            await Rollback(self, undo, value, self.run_error)()

    def _result_of(self, record: StepRecord) -> Any:
        return self.services.payloads.unpack(record.result, record.result_ref)

    def _rolled_back(self, chain: asyncio.Task[None]) -> Outcome:
        """After the chain: `run()`'s error (terminated, for a terminate with rollback of
        an instance whose `run()` had not failed); an undo that failed adds its error."""
        failure = None if chain.cancelled() else chain.exception()
        if failure is None and not chain.cancelled():
            if self.run_error is None:
                return Outcome("terminated", steps_written=self.steps_written)
            return Outcome("errored", error=self.run_error, steps_written=self.steps_written)
        if isinstance(failure, StepError):
            undo = f"{failure.error_type}: {failure.message}"
        else:
            undo = f"{type(failure).__name__}: {failure}" if failure else "CancelledError"
        why = f"the undo of step {self._undoing!r} failed: {undo}"
        if self.run_error is None:
            error = ErrorInfo(
                "RollbackError", f"terminate with rollback stopped: {why}", self._undoing
            )
        else:
            run = self.run_error
            error = ErrorInfo(run.name, f"{run.message} (rollback stopped: {why})", run.step)
        return Outcome(
            "errored", error=error.truncated(MAX_ERROR_MESSAGE), steps_written=self.steps_written
        )

    def register_undo(
        self, record: StepRecord, undo: UndoFunction, config: StepConfig, step_config: StepConfig
    ) -> None:
        if not self.rolling_back and record.done is not None:
            self._undos.append(Undo(record, undo, config, step_config))

    def _await_activity(self, loop: _ReplayLoop) -> None:
        """Wait until a running step attempt ends, or the earliest blocked deadline passes
        (real clock only: a virtual clock does not move while a step runs). Deadlines are
        re-checked at least every `deadline_poll_s`, which also absorbs clock steps."""
        activity = self._activity = loop.create_future()
        deadlines = [d for d in self._blocked.values() if d is not None]
        timer = None
        if deadlines and not self.clock.is_virtual:
            until = max(0.0, (min(deadlines) - now_ms(self.clock)) / 1000)
            timer = loop.call_later(min(until, self.deadline_poll_s), _settle, activity)
        loop.run_until_complete(activity)
        if timer is not None:
            timer.cancel()

    def _finished(self, main: asyncio.Task[Any]) -> Outcome:
        if main.cancelled():
            return Outcome("errored", error=ErrorInfo("CancelledError", "run() was cancelled"))
        exc = main.exception()
        if exc is None:
            left = left_behind(self._calls.values(), tasks_too=True)
            missed = self.unclaimed()
            if left is not None:
                error = ErrorInfo.of(left.error())
            elif missed is not None:
                self.fatal = NondeterminismError(
                    f"run() returned before {missed.kind} {missed.name!r}, which the "
                    f"journal has at position {missed.position}{CODE_CHANGED}",
                    position=missed.position,
                    journaled=(missed.kind, missed.name),
                )
                error = ErrorInfo.of(self.fatal)
            else:
                return Outcome("complete", output=main.result(), steps_written=self.steps_written)
            return Outcome("errored", error=error, steps_written=self.steps_written)
        if isinstance(exc, Suspended):
            return self._suspended_outcome()
        error = self.run_error or self._error_of_run(exc)
        return Outcome("errored", error=error, steps_written=self.steps_written)

    def unclaimed(self) -> StepRecord | None:
        """The first step of the journal that this run of the code never called."""
        missed = [
            r
            for r in self.snapshot.steps.values()
            if r.key not in self.claimed and r.kind not in OUTSIDE_REPLAY_ORDER
        ]
        return min(missed, key=lambda r: (r.done is None, r.done or 0, r.position), default=None)

    def _error_of_run(self, exc: BaseException) -> ErrorInfo:
        """`run()`'s error, noting a step operation it never awaited (often the cause: a
        forgotten `await` on a compensation in an `except` block)."""
        error = ErrorInfo.of(exc)
        forgotten = left_behind(self._calls.values(), tasks_too=False)
        if forgotten is None:
            return error
        note = f"{error.message} (and: {forgotten.error()})"
        return ErrorInfo(error.name, note, error.step).truncated(MAX_ERROR_MESSAGE)

    def _suspend(self, loop: _ReplayLoop, main: asyncio.Task[Any]) -> Outcome:
        outcome = (
            Outcome("errored", error=ErrorInfo.of(self.fatal), steps_written=self.steps_written)
            if self.fatal is not None
            else self._suspended_outcome()
        )
        self.unwinding = True
        self._release_blocked()
        self._unwind(loop, main)
        if not main.cancelled():
            main.exception()
        return outcome

    def _release_blocked(self) -> None:
        """Throw `Suspended` into every blocked operation and gate."""
        for future in list(self._blocked):
            if not future.done():
                future.set_exception(Suspended())
        for gate in list(self._gates.waiting.values()) + self._drained_waiters:
            if not gate.done():
                gate.set_exception(Suspended())

    def _unwind(self, loop: _ReplayLoop, main: asyncio.Task[Any]) -> None:
        """Let `run()` unwind from `Suspended`; cancel it if it waits on anything else."""
        cancels = 0
        while not main.done():
            loop.call_soon(loop.stop)
            loop.run_forever()
            if main.done() or loop.has_ready() or self._inflight:
                if self._inflight and not loop.has_ready():
                    self._await_activity(loop)
                continue
            if cancels >= 100:
                raise RuntimeError("run() does not stop when cancelled")
            main.cancel()
            cancels += 1

    def _suspended_outcome(self) -> Outcome:
        if self.stop_reason == StopReason.LOST:
            return Outcome("abandoned", steps_written=self.steps_written)
        if self.stop_reason == StopReason.PAUSE:
            return Outcome("paused", steps_written=self.steps_written)
        if self.stop_reason == StopReason.TERMINATE:
            return Outcome("again", steps_written=self.steps_written)
        if self.stop_reason == StopReason.YIELD:
            return Outcome(
                "suspended", wake_at=now_ms(self.clock), steps_written=self.steps_written
            )
        deadlines = [d for d in self._blocked.values() if d is not None]
        return Outcome(
            "suspended",
            wake_at=min(deadlines) if deadlines else None,
            steps_written=self.steps_written,
        )

    def _close(self, loop: _ReplayLoop) -> None:
        for call in self._calls.values():
            if call.never_started:
                call.coro.close()  # reported when run() ends; no RuntimeWarning meanwhile
        self.unwinding = True
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def _release_next(self, *, ending: bool = False) -> bool:
        """Hand back the next journaled completion (or, once all are, let new work start).

        `ending`: `run()` has failed; hand back only completions whose step waits for
        them, and start nothing."""
        gates = self._gates
        while not gates.drained and gates.order[gates.position] in gates.skipped:
            gates.position += 1
        if gates.drained:
            if self._drained_waiters and not ending:
                for waiter in self._drained_waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self._drained_waiters.clear()
                return True
            return False
        done = gates.order[gates.position]
        gate = gates.waiting.pop(done, None)
        if gate is None and ending:
            return False  # run() failed before it reached this step: its error stands
        if gate is None:
            expected = next(r for r in self.steps.values() if r.done == done)
            self.fatal = NondeterminismError(
                f"replay expected step {expected.name!r} ({expected.kind}) at position "
                f"{expected.position} to complete next, but the workflow did not call it"
                f"{CODE_CHANGED}",
                position=expected.position,
                journaled=(expected.kind, expected.name),
            )
            return False
        gates.position += 1
        gate.set_result(None)
        return True

    def _wake_due(self) -> bool:
        now = now_ms(self.clock)
        woke = False
        for future, deadline in list(self._blocked.items()):
            if deadline is not None and deadline <= now and not future.done():
                future.set_result(None)
                woke = True
        return woke

    # -- what operations use ----------------------------------------------------------------

    def claim(self, name: str, kind: StepKind, occurrence: int | None = None) -> Claim:
        """Give a step call its position and occurrence; check them against the journal."""
        check_step_name(name)
        if self.unwinding:
            raise Suspended()  # a `finally:` or `except BaseException:` during suspension
        branch = BRANCH.get()
        if branch is None or IN_STEP.get():
            raise WorkflowError(
                f"step {name!r}: step operations must be awaited in run(), not inside a step"
            )
        position = self._next_position(branch)
        if occurrence is None:
            occurrence = next(self._occurrences[name])
        key = step_key(name, occurrence, kind)
        self.claimed.add(key)
        at_position = self.by_position.get(position)
        if at_position is not None and (at_position.name != name or at_position.kind != kind):
            self._nondeterminism(
                f"replay mismatch at step position {position}: the journal has "
                f"{at_position.kind} {at_position.name!r}, the code now calls {kind} {name!r}",
                position=position,
                journaled=(at_position.kind, at_position.name),
                called=(kind, name),
            )
        record = self.steps.get(key)
        if record is not None and record.position != position:
            self._nondeterminism(
                f"step {name!r} (occurrence {occurrence}) moved from position "
                f"{record.position} to {position} since it was journaled",
                position=record.position,
                journaled=(record.kind, record.name),
                called=(kind, name),
            )
        undo = kind == StepKind.ROLLBACK  # at most one per step: never over the limit
        if record is None and not undo and len(self.steps) >= self.workflow.step_limit:
            raise StepLimitExceededError(
                f"step {name!r} would exceed the limit of {self.workflow.step_limit} steps "
                "per instance"
            )
        return Claim(name, kind, occurrence, position, record)

    def _next_position(self, branch: str) -> str:
        """The branch's next position, past patch markers there (those `patched` calls
        answered from, and those the code no longer asks for: a removed `deprecate_patch`)."""
        index = self._branch_next[branch]
        while self._marker_at(branch, index) is not None:
            index += 1
        self._branch_next[branch] = index + 1
        return f"{branch}:{index}"

    def _marker_at(self, branch: str, index: int) -> StepRecord | None:
        at = self.by_position.get(f"{branch}:{index}")
        return at if at is not None and at.kind == StepKind.PATCH else None

    def patch(self, change_id: str, *, deprecated: bool) -> bool:
        """Whether this instance runs the patched code of `change_id` (`step.patched`).

        The branch's next position decides. Patch markers journaled there (one or more in
        a row) that include this patch's mean yes; a step journaled there means the
        journal was written before the patch (no); nothing there means the branch reaches
        this point for the first time, so the marker is journaled after any others and
        the answer is yes for good. A branch keeps its first answer per change id.
        """
        what = "deprecate_patch" if deprecated else "patched"
        try:
            check_step_name(change_id)
        except ValidationError as exc:
            raise ValidationError(f"step.{what}: a change id is named like a step; {exc}") from None
        branch = BRANCH.get()
        if branch is None or IN_STEP.get():
            raise WorkflowError(
                f"step.{what}({change_id!r}) must be called in run(), not inside a step"
            )
        known = self._patches.get((branch, change_id))
        if known is not None:
            return known
        if self.unwinding:
            raise Suspended()
        index = self._branch_next[branch]
        markers: set[str] = set()
        while (marker := self._marker_at(branch, index)) is not None:
            markers.add(marker.name)
            index += 1
        if change_id in markers:
            answer = True
        elif f"{branch}:{index}" in self.by_position:
            answer = False  # a step journaled before the patch existed
        else:
            answer = True
            if self.stop_reason != StopReason.TERMINATE:
                self._mark_patch(change_id, f"{branch}:{index}")
        self._patches[(branch, change_id)] = answer
        return answer

    def _mark_patch(self, change_id: str, position: str) -> None:
        if len(self.steps) >= self.workflow.step_limit:
            raise StepLimitExceededError(
                f"patch marker {change_id!r} would exceed the limit of "
                f"{self.workflow.step_limit} steps per instance"
            )
        now = self.now()
        taken = sum(
            1 for r in self.steps.values() if r.kind == StepKind.PATCH and r.name == change_id
        )
        marker = StepRecord(
            name=change_id,
            occurrence=taken,  # one per branch that took it
            kind=StepKind.PATCH,
            position=position,
            status=StepStatus.SUCCEEDED,
            generation=self.meta.generation,
            started_at=now,
            finished_at=now,
            done=self.next_done(),
        )
        self.write(marker, None)

    def _nondeterminism(
        self, message: str, *, position: str, journaled: tuple[str, str], called: tuple[str, str]
    ) -> None:
        self._fail(
            NondeterminismError(
                message + CODE_CHANGED, position=position, journaled=journaled, called=called
            )
        )

    def _fail(self, error: WorkflowError) -> None:
        """A mistake in the workflow's code: the instance errors with it."""
        self.fatal = error
        raise error

    def track(self, coro: Coroutine[Any, Any, T], what: str, name: str) -> Coroutine[Any, Any, T]:
        """Remember a step operation's coroutine until it has run: one `run()` leaves
        behind (never awaited, or a task that never finished) is an error when it ends."""
        if IN_STEP.get():
            coro.close()
            raise NonRetryableError(
                f"{what}({name!r}) at {call_site()} is called inside a step function: step "
                "operations belong in run() (a step cannot contain steps)",
                name="WorkflowError",
            )
        if BRANCH.get() is not None:
            if len(self._calls) >= 256:
                forget_finished(self._calls)
            self._calls[id(coro)] = StepCall(coro, what, name, call_site())
        return coro

    async def turn(self, done: int) -> None:
        """Wait until it is completion number `done`'s turn to be handed back.

        Journaled completions come back in their original order; new ones join the
        queue as they are journaled. Either way one completion is handed back per idle
        point, so the first run and every replay see the same interleavings.
        """
        if self.rolling_back:
            return  # the chain runs alone, one undo after the other
        assert self._loop is not None
        gates = self._gates
        if done not in gates.order[gates.position :]:
            gates.order.append(done)
        gate: asyncio.Future[None] = self._loop.create_future()
        gates.waiting[done] = gate
        try:
            await gate
        except asyncio.CancelledError:
            gates.waiting.pop(done, None)
            gates.skipped.add(done)
            raise

    async def live_turn(self) -> None:
        """Wait until the journal is replayed; new work starts only then (never while a
        terminate with rollback stops `run()`)."""
        if self.rolling_back:
            return
        if self.stop_reason == StopReason.TERMINATE or self.run_ended:
            await self.block(None)
        if self._gates.drained:
            return
        assert self._loop is not None
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drained_waiters.append(waiter)
        await waiter

    async def block(self, deadline_ms: int | None) -> None:
        """Wait until `deadline_ms` passes (None: until the invocation suspends)."""
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._blocked[future] = deadline_ms
        try:
            await future
        finally:
            self._blocked.pop(future, None)

    def infra(self, call: Callable[[], T]) -> T:
        """Call the journal or the blob store from inside `run()`.

        A failure there is the platform's, not the workflow's: it must not reach user
        code as an exception it could catch. The invocation unwinds (`Suspended`) and
        then raises it, so the message is redelivered.
        """
        try:
            return call()
        except (StepConditionFailedError, NotJsonError, OutputTooLargeError):
            raise
        except Exception as exc:
            self.crash = exc
            self.unwinding = True  # no step may run while the invocation fails
            raise Suspended() from exc

    async def before_attempt(self, timeout_ms: int) -> None:
        """Before a new attempt: stop here if the invocation must end.

        The first attempt of an invocation always starts (so a step longer than any
        invocation still makes progress, cut by the attempt budget); later ones only if
        they can finish in the Lambda time left."""
        if self.stop_reason is None:
            needed = timeout_ms if self.attempts_started else 0
            reason = self.infra(lambda: self.policy.check(needed))
            if reason == StopReason.TERMINATE:
                self.terminating = True
                if self.rolling_back:  # the chain goes on; the instance ends terminated
                    reason = None
            self.stop_reason = reason
        if self.stop_reason is not None or (self.run_ended and not self.rolling_back):
            await self.block(None)
        self.attempts_started += 1

    async def yield_invocation(self) -> None:
        if self.stop_reason is None:
            self.stop_reason = StopReason.YIELD
        await self.block(None)

    def attempt_budget_ms(self) -> int | None:
        return self.policy.attempt_budget_ms()

    def begin_work(self) -> None:
        self._inflight += 1

    def end_work(self) -> None:
        self._inflight -= 1
        if self._activity is not None:
            _settle(self._activity)

    def next_done(self) -> int:
        done = self._next_done
        self._next_done += 1
        return done

    def write(self, record: StepRecord, expected_version: int | None) -> StepRecord:
        """Journal a record with one conditional write; adopt a resolved winner's record."""
        meta = self.meta
        try:
            self.infra(
                lambda: self.services.journal.put_step(
                    meta.workflow, meta.instance_id, record, expected_version
                )
            )
        except StepConditionFailedError as exc:
            stored = exc.current
            if stored is not None and stored.resolved and stored.generation == record.generation:
                record = stored
            else:
                raise self.lost() from None
        else:
            self.steps_written += 1
        self.steps[record.key] = record
        self.by_position[record.position] = record
        if record.event_seq is not None:
            self.consumed_events.add(record.event_seq)
        return record

    def lost(self) -> Suspended:
        """Another worker owns the instance now: abandon this invocation (raise this)."""
        self.stop_reason = StopReason.LOST
        self.unwinding = True
        return Suspended()

    def next_event(self, event_type: str) -> EventRecord | None:
        for event in self.snapshot.events:
            if event.type == event_type and event.seq not in self.consumed_events:
                return event
        return None

    def event(self, seq: int) -> EventRecord:
        for event in self.snapshot.events:
            if event.seq == seq:
                return event
        raise self.lost()  # a winner consumed an event that arrived after our snapshot

    def now(self) -> int:
        return now_ms(self.clock)
