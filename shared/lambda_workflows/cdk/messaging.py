"""The wake-up queue with its dead-letter queue, and the Scheduler group and role for
wake-ups past SQS's 15-minute delay."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVE_COUNT = 5
"""Deliveries of a wake-up before it goes to the dead-letter queue."""


def wakeup_queues(
    scope: Construct, worker_timeout: Duration, key: kms.IKey | None = None
) -> tuple[sqs.Queue, sqs.Queue]:
    """(queue, dead-letter queue). The visibility timeout is six worker timeouts, as AWS
    advises for an SQS event source. Encrypted with SQS's key, or `key`."""
    encryption = sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED
    dead_letters = sqs.Queue(
        scope,
        "WakeupsDlq",
        retention_period=Duration.days(14),
        enforce_ssl=True,
        encryption=encryption,
        encryption_master_key=key,
    )
    queue = sqs.Queue(
        scope,
        "Wakeups",
        visibility_timeout=Duration.seconds(worker_timeout.to_seconds() * 6),
        retention_period=Duration.days(14),
        enforce_ssl=True,
        encryption=encryption,
        encryption_master_key=key,
        dead_letter_queue=sqs.DeadLetterQueue(
            queue=dead_letters, max_receive_count=MAX_RECEIVE_COUNT
        ),
    )
    return queue, dead_letters


def schedule_group(scope: Construct, name: str) -> tuple[str, str]:
    """The app's Scheduler group: (name, ARN of its schedules). Referenced by name, not
    by attribute, so the ARN is known without a lookup."""
    scheduler.CfnScheduleGroup(scope, "Schedules", name=name)
    stack = Stack.of(scope)
    schedules = stack.format_arn(
        service="scheduler", resource="schedule", resource_name=f"{name}/*"
    )
    return name, schedules


def scheduler_role(
    scope: Construct, queue: sqs.Queue, key_use: list[iam.PolicyStatement]
) -> iam.Role:
    """The role EventBridge Scheduler assumes to put a wake-up on the queue (and, under a
    customer key, to encrypt it)."""
    account = Stack.of(scope).account
    role = iam.Role(
        scope,
        "SchedulerRole",
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com",
            conditions={"StringEquals": {"aws:SourceAccount": account}},
        ),
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn])
    )
    for statement in key_use:
        role.add_to_policy(statement)
    return role
