"""Running a declared `Cron` for one tick: what the cron Lambda and the local pump do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from lambda_workflows.api import Env
from lambda_workflows.app import Cron, WorkflowApp
from lambda_workflows.errors import InstanceConflictError, ValidationError

logger = Logger(service="lambda-workflows", child=True)


def parse_tick_time(value: Any) -> datetime:
    """A tick's time: an aware datetime or an ISO 8601 string (EventBridge's `time`)."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"not an ISO 8601 time: {value!r}") from None
    else:
        raise ValidationError(f"a tick time must be a datetime or an ISO string, got {value!r}")
    if when.tzinfo is None:
        raise ValidationError(f"a tick time must carry a timezone: {value!r}")
    return when.astimezone(UTC)


class CronRunner:
    """Calls a cron's handler for a tick; a tick that already ran is a no-op."""

    def __init__(self, app: WorkflowApp, env: Env) -> None:
        self.app = app
        self.env = env

    def fire(self, name: str, scheduled_time: datetime | str) -> Any:
        """Run cron `name` for the tick at `scheduled_time`; return the handler's result.

        The handler's `InstanceConflictError` means the tick's instance exists already (a
        re-delivered tick): it is logged and the tick counts as done (returns None).
        """
        cron = self.app.cron(name)
        when = parse_tick_time(scheduled_time)
        try:
            return cron.handler(when, self.env)
        except InstanceConflictError as exc:
            logger.info(
                "cron tick already ran",
                extra={"cron": name, "time": when.isoformat(), "conflict": str(exc)},
            )
            return None

    def due(self, after: datetime, until: datetime) -> list[tuple[Cron, datetime]]:
        """Every (cron, tick) with `after` < tick <= `until`, in time order."""
        ticks = [
            (cron, tick)
            for cron in self.app.crons
            for tick in cron.schedule.fire_times(after, until)
        ]
        return sorted(ticks, key=lambda pair: pair[1])

    def next_tick(self, after: datetime, name: str | None = None) -> datetime | None:
        """The earliest tick after `after` of cron `name` (of any cron when None)."""
        crons = [self.app.cron(name)] if name is not None else list(self.app.crons)
        times = [c.schedule.next_after(after) for c in crons]
        found = [t for t in times if t is not None]
        return min(found) if found else None


class CronTicker:
    """Fires every cron tick that came due since the last call (the local dev loop)."""

    def __init__(self, runner: CronRunner, since: datetime) -> None:
        self.runner = runner
        self.since = since

    def tick(self, now: datetime) -> int:
        """Fire the ticks in (since, now]; returns how many ran."""
        due = self.runner.due(self.since, now)
        for cron, when in due:
            try:
                self.runner.fire(cron.name, when)
            except Exception:
                logger.exception("cron handler failed", extra={"cron": cron.name})
        self.since = now
        return len(due)
