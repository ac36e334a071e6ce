"""Human-in-the-loop approval: record, wait 48 h for a decision, auto-reject on timeout."""

from __future__ import annotations

from typing import Any

from lambda_workflows import WaitTimeoutError, WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pydantic import BaseModel


class ApprovalParams(BaseModel):
    user_id: str
    request_id: str | None = None


class ApprovalWorkflow(WorkflowEntrypoint[ApprovalParams]):
    async def run(self, event: WorkflowEvent[ApprovalParams], step: WorkflowStep) -> Any:
        request = event.payload.request_id or event.instance_id
        await step.do(
            "create approval",
            lambda: {"request_id": request, "user_id": event.payload.user_id, "status": "pending"},
        )
        try:
            decision = await step.wait_for_event(
                "wait for approval", type="approval-response", timeout="48 hours"
            )
        except WaitTimeoutError:
            await step.do("auto reject", lambda: {"request_id": request, "status": "auto-rejected"})
            return {"approved": False, "reason": "timeout"}
        approved = bool((decision["payload"] or {}).get("approved"))
        outcome = "process approval" if approved else "handle rejection"
        await step.do(outcome, lambda: {"request_id": request, "approved": approved})
        return {"approved": approved}
