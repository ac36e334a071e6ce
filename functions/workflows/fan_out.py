"""Fan-out: process items in parallel steps, then aggregate."""

from __future__ import annotations

import asyncio
from typing import Any

from lambda_workflows import WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pydantic import BaseModel, Field


class FanOutParams(BaseModel):
    items: list[str] = Field(default_factory=lambda: [f"item-{i}" for i in range(10)])


class FanOutWorkflow(WorkflowEntrypoint[FanOutParams]):
    async def run(self, event: WorkflowEvent[FanOutParams], step: WorkflowStep) -> Any:
        results = await asyncio.gather(
            *(
                step.do(f"process {i}", lambda item=item: {"item": item, "length": len(item)})
                for i, item in enumerate(event.payload.items)
            )
        )
        return await step.do(
            "aggregate",
            lambda: {"count": len(results), "total_length": sum(r["length"] for r in results)},
        )
