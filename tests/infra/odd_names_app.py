"""Names an app may use that once collided with the construct's own ids: crons called
`logs`, `role` and `_`, crons and bindings that differ only in `-` vs `_`, and a Bedrock
model reached through a cross-region inference profile."""

from typing import Any

from lambda_workflows import Cron, Workflow, WorkflowApp, WorkflowEntrypoint, WorkflowStep
from lambda_workflows.bindings import AI, Bucket


class Tick(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        return await step.do("tick", lambda: "tock")

    @staticmethod
    def schedule(scheduled_time: Any, env: Any) -> None:
        return None


app = WorkflowApp(
    workflows=[Workflow("tick", Tick)],
    bindings={
        "my-files": Bucket(),
        "my_files": Bucket(),
        "MODEL": AI("us.anthropic.claude-sonnet-4-20250514-v1:0"),
    },
    crons=[
        Cron("rate(1 hour)", Tick.schedule, name=name)
        for name in ("logs", "role", "_", "daily-report", "daily_report")
    ],
)
