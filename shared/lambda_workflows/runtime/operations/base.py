"""The shape every durable operation shares.

`Operation.__call__` claims the step's position. A resolved record is replayed at its
turn (the journal's completion order); a cancelled one (a race loser) waits to be
cancelled again; anything else waits for the replay to drain and continues live from the
stored state (`execute`). A write that loses to another worker's resolution returns that
worker's outcome, never this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any, ClassVar

from lambda_workflows.errors import StepError, WaitTimeoutError
from lambda_workflows.journal.records import RESOLVED, StepKind, StepRecord, StepStatus
from lambda_workflows.runtime.context import Claim, ReplayContext


class Operation:
    """One call of a durable operation; subclasses implement `execute` (live)."""

    kind: ClassVar[StepKind]

    def __init__(self, ctx: ReplayContext, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self.occurrence: int | None = None
        """The occurrence to claim; None: the next of the name (rollbacks take the one of
        the step they undo)."""
        self.claim: Claim | None = None
        self.record: StepRecord | None = None
        self.adopted = False
        """The last write lost to another worker's resolution, which `record` now holds."""

    async def __call__(self) -> Any:
        claim = self.claim = self.ctx.claim(self.name, self.kind, self.occurrence)
        record = self.record = claim.record
        if record is not None and record.resolved:
            assert record.done is not None
            await self.ctx.turn(record.done)
            return self.replayed(record)
        if record is not None and record.status == StepStatus.CANCELLED:
            await self.ctx.block(None)  # cancelled again by run(), as the first time
        await self.ctx.live_turn()
        try:
            return await self.execute()
        except asyncio.CancelledError:
            self._cancelled()
            raise

    async def execute(self) -> Any:
        raise NotImplementedError

    def replayed(self, record: StepRecord) -> Any:
        """What a resolved record returns (or raises), the same on every replay."""
        if record.status == StepStatus.SUCCEEDED:
            return self.ctx.infra(
                lambda: self.ctx.services.payloads.unpack(record.result, record.result_ref)
            )
        if record.status == StepStatus.TIMED_OUT:
            raise WaitTimeoutError(record.name, record.event_type or "")
        error = record.error
        raise StepError(
            record.name, error.name if error else "Error", error.message if error else ""
        )

    async def save(self, status: StepStatus, **fields: Any) -> StepRecord:
        """Journal the step's next state (one conditional write) and return what is stored.

        A resolution then waits for its turn to be handed back, as on replay.
        """
        ctx = self.ctx
        claim = self.claim
        assert claim is not None
        previous = self.record
        done = None
        now = ctx.now()  # one reading: a scaled clock must not finish a step before it starts
        if status in RESOLVED:
            fields.setdefault("finished_at", now)
            done = fields["done"] = ctx.next_done()
        if previous is None:
            attempts = fields.get("attempts")
            fields.setdefault("started_at", attempts[0].started_at if attempts else now)
            proposed = StepRecord(
                name=claim.name,
                occurrence=claim.occurrence,
                kind=claim.kind,
                position=claim.position,
                status=status,
                generation=ctx.meta.generation,
                **fields,
            )
            stored = ctx.write(proposed, None)
        else:
            proposed = dataclasses.replace(
                previous, status=status, version=previous.version + 1, **fields
            )
            stored = ctx.write(proposed, previous.version)
        self.record = stored
        self.adopted = stored is not proposed
        if self.adopted:
            assert stored.done is not None
            await ctx.turn(stored.done)
            return stored
        self.journaled(stored)
        if done is not None:
            await ctx.turn(done)
        return stored

    def journaled(self, record: StepRecord) -> None:
        """This invocation's write of `record` is stored: never on replay, nor when
        another worker's resolution is adopted instead (for metrics)."""

    async def resolve(self, status: StepStatus, value: Any = None, **fields: Any) -> Any:
        """Journal a resolution; return `value` (or raise its error), or what another
        worker's resolution returns if its write came first."""
        await self.save(status, **fields)
        assert self.record is not None
        if self.adopted or status != StepStatus.SUCCEEDED:
            return self.replayed(self.record)
        return value

    async def wait_pass(self, timeout_ms: int, event_type: str) -> tuple[Any] | None:
        """One pass of a wait with a deadline: journal it as waiting (the first time),
        then time it out if the deadline has passed, else block until the deadline or a
        wake-up. Returns `(value,)` when the step resolved (another worker's outcome),
        None to look again; a timeout raises `WaitTimeoutError`."""
        ctx = self.ctx
        if self.record is None:
            await self.save(
                StepStatus.WAITING, wake_at=ctx.now() + timeout_ms, event_type=event_type
            )
        assert self.record is not None
        if self.adopted:
            return (self.replayed(self.record),)
        deadline = self.record.wake_at or 0
        if ctx.now() >= deadline:
            return (await self.resolve(StepStatus.TIMED_OUT, wake_at=None),)
        await ctx.block(deadline)
        return None

    def _cancelled(self) -> None:
        """`run()` cancelled this operation (a race it lost): journal that, unless the
        invocation is only unwinding or the step has no pending state to close."""
        record = self.record
        if self.ctx.unwinding or record is None or record.resolved:
            return
        if record.status == StepStatus.CANCELLED:
            return
        cancelled = dataclasses.replace(
            record,
            status=StepStatus.CANCELLED,
            version=record.version + 1,
            wake_at=None,
            finished_at=self.ctx.now(),
        )
        with contextlib.suppress(BaseException):  # a lost lease or a platform failure
            self.record = self.ctx.write(cancelled, record.version)  # ends the invocation
