"""`step.sleep` and `step.sleep_until`: suspend until a point in time."""

from __future__ import annotations

from typing import Any

from lambda_workflows.journal.records import StepKind, StepStatus
from lambda_workflows.runtime.context import ReplayContext
from lambda_workflows.runtime.operations.base import Operation


class Sleep(Operation):
    """Sleep until `wake_at`, or for `duration_ms` from the first call when it is None."""

    kind = StepKind.SLEEP

    def __init__(
        self, ctx: ReplayContext, name: str, wake_at: int | None, duration_ms: int
    ) -> None:
        super().__init__(ctx, name)
        self.wake_at = wake_at
        self.duration_ms = duration_ms

    async def execute(self) -> Any:
        ctx = self.ctx
        interceptor = ctx.services.interceptor
        assert self.claim is not None
        if interceptor is not None and interceptor.skip_sleep(self.claim.target(ctx.meta)):
            return await self.resolve(StepStatus.SUCCEEDED, wake_at=ctx.now())
        if self.record is None:
            target = self.wake_at if self.wake_at is not None else ctx.now() + self.duration_ms
            if target <= ctx.now():
                return await self.resolve(StepStatus.SUCCEEDED, wake_at=target)
            await self.save(StepStatus.SLEEPING, wake_at=target)
        assert self.record is not None
        if self.adopted:
            return self.replayed(self.record)
        target = self.record.wake_at or 0
        while ctx.now() < target:
            await ctx.block(target)
        return await self.resolve(StepStatus.SUCCEEDED)
