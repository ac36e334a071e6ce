"""The sweeper Lambda: a one-minute schedule re-sends the wake-ups of overdue instances."""

from __future__ import annotations

from typing import Any

from lambda_workflows.handlers.worker import EngineHandler


class SweeperHandler(EngineHandler):
    """Callable as a Lambda handler of the schedule's events (their content is ignored)."""

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            remaining = getattr(context, "get_remaining_time_in_millis", None)
            resent = self.engine.sweeper.sweep(remaining if callable(remaining) else None)
            return {"resent": [f"{w.workflow}#{w.instance_id}" for w in resent]}
        finally:
            self.flush_metrics()
