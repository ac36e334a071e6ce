"""User lifecycle: a welcome email, a 7-day trial, then a follow-up only if the user did
nothing in the meantime."""

from __future__ import annotations

from typing import Any

from lambda_workflows import WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pydantic import BaseModel


class UserParams(BaseModel):
    user_id: str
    email: str


def activity_partition(user_id: str) -> str:
    """Where the app records a user's activity in the `DB` table (`sk = "activity#<ts>"`)."""
    return f"user#{user_id}"


class UserLifecycleWorkflow(WorkflowEntrypoint[UserParams]):
    async def run(self, event: WorkflowEvent[UserParams], step: WorkflowStep) -> Any:
        user = event.payload
        mail = self.env.EMAIL

        await step.do(
            "send welcome email",
            lambda: mail.send(user.email, "Welcome!", f"Hi {user.user_id}, your trial has begun."),
        )
        await step.sleep("trial period", "7 days")

        def recent_activity() -> int:
            rows = self.env.DB.query(activity_partition(user.user_id), sort_prefix="activity#")
            return len(rows)

        actions = await step.do("check activity", recent_activity)
        if actions:
            return {"user_id": user.user_id, "actions": actions, "followed_up": False}
        await step.do(
            "send follow-up email",
            lambda: mail.send(user.email, "Your trial ends soon", "We miss you: come back!"),
        )
        return {"user_id": user.user_id, "actions": 0, "followed_up": True}
