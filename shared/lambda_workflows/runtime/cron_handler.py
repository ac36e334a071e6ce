"""The cron Lambda: one EventBridge rule per declared `Cron`, one tick per invocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambda_workflows.engine import Engine
from lambda_workflows.errors import ValidationError
from lambda_workflows.instances import Instance


class CronHandler:
    """Callable as a Lambda handler of events `{"cron": name, "time": ISO 8601}`.

    The rule's input transformer passes EventBridge's `time` (the tick's scheduled time,
    the same on a re-delivery) and the cron's name.
    """

    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._factory = engine_factory
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        name, when = event.get("cron"), event.get("time")
        if not isinstance(name, str) or when is None:
            raise ValidationError('a cron event needs "cron" (a name) and "time"')
        result = self.engine.crons.fire(name, when)
        created = [r.id for r in result] if isinstance(result, list) else result
        if isinstance(created, Instance):
            created = created.id
        return {"cron": name, "time": str(when), "created": created}
