"""Parent-child: a parent starts one child instance per item in a step, then awaits each
child's output (`step.wait_for_workflow`, beyond Cloudflare's model) and aggregates."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from lambda_workflows import (
    InstanceConflictError,
    StepError,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
)
from pydantic import BaseModel, Field


class ParentParams(BaseModel):
    items: list[str] = Field(default_factory=lambda: ["alpha", "beta", "gamma"])


class ChildParams(BaseModel):
    item: str


class ChildTaskWorkflow(WorkflowEntrypoint[ChildParams]):
    async def run(self, event: WorkflowEvent[ChildParams], step: WorkflowStep) -> Any:
        item = event.payload.item
        return await step.do("process item", lambda: {"item": item, "length": len(item)})


class ParentChildWorkflow(WorkflowEntrypoint[ParentParams]):
    async def run(self, event: WorkflowEvent[ParentParams], step: WorkflowStep) -> Any:
        children = self.env.CHILD_TASK_WORKFLOW

        def start_children() -> list[str]:
            ids = []
            for n, item in enumerate(event.payload.items):
                child_id = f"{event.instance_id}-child-{n}"
                with contextlib.suppress(InstanceConflictError):  # an earlier attempt's
                    children.create(id=child_id, params={"item": item})
                ids.append(child_id)
            return ids

        child_ids = await step.do("start children", start_children)
        outcomes = await asyncio.gather(
            *(step.wait_for_workflow(f"await {i}", ("child-task", i)) for i in child_ids),
            return_exceptions=True,
        )
        failed = [i for i, o in zip(child_ids, outcomes, strict=True) if isinstance(o, StepError)]
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, StepError):
                raise outcome
        results = [o for o in outcomes if not isinstance(o, BaseException)]
        return await step.do(
            "aggregate",
            lambda: {
                "children": len(child_ids),
                "total_length": sum(r["length"] for r in results),
                "failed": failed,
            },
        )
