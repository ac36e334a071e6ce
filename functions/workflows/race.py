"""Race: the first of two steps wins; then a human's override races a one-hour deadline."""

from __future__ import annotations

from typing import Any

from lambda_workflows import WorkflowEntrypoint, WorkflowEvent, WorkflowStep


def quote(supplier: str) -> dict[str, Any]:
    """A supplier's price (stands in for a call to the supplier's API)."""
    return {"supplier": supplier, "price": {"A": 120, "B": 95}[supplier]}


class RaceWorkflow(WorkflowEntrypoint[Any]):
    async def run(self, event: WorkflowEvent[Any], step: WorkflowStep) -> Any:
        _, first_quote = await step.race(
            step.do("quote from A", lambda: quote("A")),
            step.do("quote from B", lambda: quote("B")),
        )
        winner, answer = await step.race(
            step.wait_for_event("manual override", type="override", timeout="1 day"),
            step.sleep("decision deadline", "1 hour"),
        )
        override = answer["payload"] if winner == 0 and answer is not None else None
        return {"quote": first_quote, "override": override}
