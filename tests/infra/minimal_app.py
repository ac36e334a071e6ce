"""The smallest app: one workflow, no bindings, no crons."""

from typing import Any

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint, WorkflowStep


class Hello(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        return await step.do("greet", lambda: "hello")


app = WorkflowApp(workflows=[Workflow("hello", Hello)])
