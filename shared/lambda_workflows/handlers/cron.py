"""The cron Lambda: one EventBridge rule per declared `Cron`, one tick per invocation."""

from __future__ import annotations

from typing import Any

from lambda_workflows.errors import ValidationError
from lambda_workflows.handlers.worker import EngineHandler


class CronHandler(EngineHandler):
    """Callable as a Lambda handler of events `{"cron": name, "time": ISO 8601}`.

    The rule's input transformer passes EventBridge's `time` (the tick's scheduled time,
    the same on a re-delivery) and the cron's name.
    """

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        name, when = event.get("cron"), event.get("time")
        if not isinstance(name, str) or when is None:
            raise ValidationError('a cron event needs "cron" (a name) and "time"')
        result = self.engine.crons.fire(name, when)
        if isinstance(result, list):
            created = [getattr(r, "id", r) for r in result]
        else:
            created = getattr(result, "id", result)  # an Instance handle, or what it returned
        return {"cron": name, "time": str(when), "created": created}
