"""What AWS does by itself and moto does not: deliver SQS messages to the worker Lambda
and fire due EventBridge Scheduler schedules."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambda_workflows.clock import Clock, now_ms, to_ms
from lambda_workflows.local.cloud import ACCOUNT_ID, REGION, LocalCloud
from lambda_workflows.sweeper import Sweeper

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


@dataclass
class FakeLambdaContext:
    """The parts of a Lambda context the handlers read."""

    remaining_ms: int = 900_000
    function_name: str = "lwf-worker"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:lwf-worker"
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Pump:
    """Moves messages and schedules along; never sleeps, never reads the wall clock."""

    def __init__(
        self,
        cloud: LocalCloud,
        handler: Handler,
        clock: Clock,
        sweeper: Sweeper | None = None,
        idle_hooks: list[Callable[[], object]] | None = None,
    ) -> None:
        """`idle_hooks` run whenever the queue is empty; a truthy answer means "more to do"."""
        self.cloud = cloud
        self.handler = handler
        self.clock = clock
        self.sweeper = sweeper
        self.idle_hooks = list(idle_hooks or [])
        if sweeper is not None:
            self.idle_hooks.insert(0, sweeper.sweep)
        self.sqs = cloud.client("sqs")
        self.scheduler = cloud.client("scheduler")
        assert cloud.settings is not None
        self.settings = cloud.settings
        self.invocations = 0
        self.context_factory: Callable[[], Any] = FakeLambdaContext

    def fire_due_schedules(self) -> int:
        """Send the target input of every due one-time schedule to the queue, then delete it."""
        fired = 0
        group = self.settings.schedule_group
        for name in self._schedule_names():
            schedule = self.scheduler.get_schedule(Name=name, GroupName=group)
            at = _parse_at(schedule["ScheduleExpression"])
            if at is None or at > now_ms(self.clock):
                continue
            self.sqs.send_message(
                QueueUrl=self.settings.queue_url, MessageBody=schedule["Target"]["Input"]
            )
            self.scheduler.delete_schedule(Name=name, GroupName=group)
            fired += 1
        return fired

    def _schedule_names(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"GroupName": self.settings.schedule_group}
        while True:
            page = self.scheduler.list_schedules(**kwargs)
            names += [s["Name"] for s in page.get("Schedules", [])]
            if not page.get("NextToken"):
                return names
            kwargs["NextToken"] = page["NextToken"]

    def deliver_once(self) -> int:
        """Receive one batch of visible messages and invoke the worker handler with it."""
        response = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, self.settings.queue_arn) for m in messages]}
        failed: set[str] = set()
        self.invocations += 1
        try:
            result = self.handler(event, self.context_factory())
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(messages)

    def run_until_idle(self, max_batches: int = 10_000) -> int:
        """Deliver, fire and sweep until nothing is due now. Returns the messages delivered."""
        delivered = 0
        for _ in range(max_batches):
            self.fire_due_schedules()
            count = self.deliver_once()
            if count == 0 and not self._idle():
                return delivered
            delivered += count
        raise RuntimeError(f"the queue did not drain in {max_batches} batches")

    def _idle(self) -> bool:
        busy = [bool(hook()) for hook in self.idle_hooks]
        return any(busy)

    def next_due_ms(self) -> int | None:
        """When the next delayed or in-flight message, or schedule, becomes due."""
        times = [t for t in self._message_times() if t > now_ms(self.clock)]
        if self.sweeper is not None and (swept := self.sweeper.next_due_ms()) is not None:
            times.append(swept)
        group = self.settings.schedule_group
        for name in self._schedule_names():
            at = _parse_at(
                self.scheduler.get_schedule(Name=name, GroupName=group)["ScheduleExpression"]
            )
            if at is not None:
                times.append(at)
        return min(times) if times else None

    def _message_times(self) -> list[int]:
        from moto.sqs.models import sqs_backends

        queue_name = self.settings.queue_url.rsplit("/", 1)[-1]
        queue = sqs_backends[ACCOUNT_ID][REGION].queues[queue_name]
        times: list[int] = []
        for message in queue._messages:
            times.append(math.ceil(message.delayed_until))  # moto: delayed while now < this
            times.append(int(message.visible_at) + 1)  # moto: visible once now > this
        return times


def sqs_record(message: dict[str, Any], queue_arn: str | None) -> dict[str, Any]:
    """A received SQS message as Lambda's event source mapping hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _parse_at(expression: str) -> int | None:
    match = _AT.match(expression)
    if not match:
        return None
    return to_ms(datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC))
