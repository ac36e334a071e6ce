"""`step.wait_for_workflow`: suspend until another instance ends; return its output."""

from __future__ import annotations

from typing import Any

from lambda_workflows.errors import MetaConditionFailedError
from lambda_workflows.journal.base import MAX_WATCHERS
from lambda_workflows.journal.records import (
    FINISHED,
    OPEN,
    ErrorInfo,
    InstanceMeta,
    InstanceStatus,
    StepKind,
    StepStatus,
    watcher_key,
)
from lambda_workflows.runtime.context import ReplayContext
from lambda_workflows.runtime.delivery import child_done_event
from lambda_workflows.runtime.operations.base import Operation


class WaitForWorkflow(Operation):
    """The waiter registers itself in the child's `watchers`; the child's end delivers an
    internal event that wakes the waiter, which then reads the child's outcome. Every pass
    reads the child first, so a lost notification only delays the waiter until its
    deadline, never hides the outcome."""

    kind = StepKind.WAIT_FOR_WORKFLOW

    def __init__(
        self, ctx: ReplayContext, name: str, workflow: str, instance_id: str, timeout_ms: int
    ) -> None:
        super().__init__(ctx, name)
        self.workflow = workflow
        self.instance_id = instance_id
        self.timeout_ms = timeout_ms

    async def execute(self) -> Any:
        ctx = self.ctx
        journal = ctx.services.journal
        me = watcher_key(ctx.meta.workflow, ctx.meta.instance_id)
        kind = child_done_event(self.workflow, self.instance_id)
        while True:
            child = ctx.infra(lambda: journal.get_meta(self.workflow, self.instance_id))
            ended = await self._ended(child, kind)
            if ended is not None:
                return ended[0]
            try:  # every pass: a restarted child has forgotten earlier registrations
                ctx.infra(lambda: journal.add_watcher(self.workflow, self.instance_id, me, OPEN))
            except MetaConditionFailedError as exc:
                if exc.current is not None and exc.current.status in OPEN:  # full
                    error = ErrorInfo(
                        "TooManyWaitersError",
                        f"{MAX_WATCHERS} instances wait for {self.workflow}/{self.instance_id}",
                    )
                    return await self.resolve(StepStatus.FAILED, error=error, event_type=kind)
                continue
            resolved = await self.wait_pass(self.timeout_ms, kind)
            if resolved is not None:
                return resolved[0]

    async def _ended(self, child: InstanceMeta | None, kind: str) -> tuple[Any] | None:
        """Resolve the step if the child has ended (or does not exist): `(output,)`."""
        ref = f"{self.workflow}/{self.instance_id}"
        if child is None:
            error = ErrorInfo("InstanceNotFoundError", f"no instance {ref}")
            return (await self.resolve(StepStatus.FAILED, error=error, event_type=kind),)
        if child.status not in FINISHED:
            return None
        if child.status == InstanceStatus.COMPLETE:
            ctx = self.ctx
            payloads = ctx.services.payloads
            output = ctx.infra(lambda: payloads.unpack(child.output, child.output_ref))
            meta = ctx.meta
            packed = ctx.infra(
                lambda: payloads.pack(
                    output,
                    owner=f"{meta.workflow}/{meta.instance_id}/{self.workflow}-{self.instance_id}",
                )
            )
            return (
                await self.resolve(
                    StepStatus.SUCCEEDED,
                    packed.value,
                    result=packed.inline,
                    result_ref=packed.ref,
                    event_type=kind,
                    wake_at=None,
                ),
            )
        cause = child.error
        detail = f": {cause.name}: {cause.message}" if cause else ""
        error = ErrorInfo(
            f"Workflow{str(child.status).capitalize()}", f"{ref} {child.status}{detail}"
        )
        return (await self.resolve(StepStatus.FAILED, error=error, event_type=kind, wake_at=None),)
