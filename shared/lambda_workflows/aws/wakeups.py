"""Wake-ups on AWS: SQS DelaySeconds up to 15 minutes, EventBridge Scheduler beyond."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflows.wakeups import MAX_QUEUE_DELAY_MS, Wakeup


def schedule_name(wakeup: Wakeup, at_ms: int) -> str:
    """A deterministic name, so re-sending the same wake-up does not create a second
    schedule (each epoch's wake-up is a new one)."""
    key = f"{wakeup.workflow}#{wakeup.instance_id}#{wakeup.generation}#{wakeup.epoch}#{at_ms}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"lwf-{digest}"


def at_expression(at_ms: int) -> str:
    """`at(yyyy-mm-ddThh:mm:ss)` in UTC, rounded up to the next whole second."""
    when = datetime.fromtimestamp(math.ceil(at_ms / 1000), tz=UTC)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


class QueueWakeups:
    """Sends wake-ups to the worker queue, through Scheduler when the delay is long."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        scheduler: Any = None,
        queue_arn: str | None = None,
        scheduler_role_arn: str | None = None,
        schedule_group: str = "default",
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._scheduler = scheduler
        self._queue_arn = queue_arn
        self._role_arn = scheduler_role_arn
        self._group = schedule_group

    def send(self, wakeup: Wakeup, *, at_ms: int, now_ms: int) -> None:
        delay_ms = at_ms - now_ms
        if delay_ms <= MAX_QUEUE_DELAY_MS or self._scheduler is None:
            seconds = min(max(0, math.ceil(delay_ms / 1000)), MAX_QUEUE_DELAY_MS // 1000)
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=wakeup.to_json(), DelaySeconds=seconds
            )
            return
        try:
            self._scheduler.create_schedule(
                Name=schedule_name(wakeup, at_ms),
                GroupName=self._group,
                ScheduleExpression=at_expression(at_ms),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._queue_arn,
                    "RoleArn": self._role_arn,
                    "Input": wakeup.to_json(),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise

    def send_now(self, wakeups: list[Wakeup]) -> None:
        for start in range(0, len(wakeups), 10):
            chunk = wakeups[start : start + 10]
            response = self._sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": w.to_json()} for i, w in enumerate(chunk)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused wake-ups: {response['Failed']}")
