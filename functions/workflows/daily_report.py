"""Scheduled chain: a daily cron creates `daily-<time>` instances (a repeated tick is a
no-op); each writes a report, sleeps 7 days, then sends a follow-up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lambda_workflows import Env, Instance, WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pydantic import BaseModel

REPORT_RECIPIENT = "team@example.com"


class DailyReportParams(BaseModel):
    scheduled_time: str


def instance_id_for(scheduled_time: datetime) -> str:
    """One instance per tick: the same tick always gives the same id."""
    return f"daily-{scheduled_time:%Y-%m-%dT%H%MZ}"


class DailyReportWorkflow(WorkflowEntrypoint[DailyReportParams]):
    @staticmethod
    def schedule(scheduled_time: datetime, env: Env) -> Instance:
        """The cron handler: start this tick's instance."""
        instance: Instance = env.DAILY_REPORT_WORKFLOW.create(
            id=instance_id_for(scheduled_time),
            params={"scheduled_time": scheduled_time.isoformat()},
        )
        return instance

    async def run(self, event: WorkflowEvent[DailyReportParams], step: WorkflowStep) -> Any:
        day = event.payload.scheduled_time[:10]

        def write_report() -> str:
            key = f"reports/{day}.json"
            self.env.BUCKET.put(key, {"day": day, "instance": event.instance_id})
            return key

        report = await step.do("daily task", write_report)
        await step.sleep("wait 7 days", "7 days")
        await step.do(
            "weekly follow-up",
            lambda: self.env.EMAIL.send(
                REPORT_RECIPIENT, f"Follow-up on the {day} report", f"See {report}."
            ),
        )
        return {"report": report}
