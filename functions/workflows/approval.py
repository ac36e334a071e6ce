"""Human-in-the-loop approval: record the request, wait 48 h for a decision, auto-reject
on timeout."""

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
        table = self.env.DB
        key = {"pk": f"approval#{request}", "sk": "request"}

        def record(status: str) -> str:
            table.put({**key, "user_id": event.payload.user_id, "status": status})
            return status

        await step.do("create approval", lambda: record("pending"))
        try:
            decision = await step.wait_for_event(
                "wait for approval", type="approval-response", timeout="48 hours"
            )
        except WaitTimeoutError:
            await step.do("auto reject", lambda: record("auto-rejected"))
            return {"approved": False, "reason": "timeout"}
        approved = bool((decision["payload"] or {}).get("approved"))
        if approved:
            await step.do("process approval", lambda: record("approved"))
        else:
            await step.do("handle rejection", lambda: record("rejected"))
        return {"approved": approved}
