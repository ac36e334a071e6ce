"""Least-privilege statements per function: the exact API calls the engine's adapters make,
on the app's own resources (no `*` action, no `*` resource)."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

JOURNAL_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
]
"""What `DynamoDBJournal` calls (TransactWriteItems is authorized per contained action)."""
RESULTS_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
SEND_ACTIONS = ["sqs:SendMessage"]


SWEEPER_JOURNAL_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
]
"""What the sweeper calls: due instances, re-dating, and purging expired ones."""


def journal(table: dynamodb.Table, actions: list[str] = JOURNAL_ACTIONS) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=actions, resources=[table.table_arn, f"{table.table_arn}/index/*"]
    )


def purge_results(bucket: s3.Bucket) -> list[iam.PolicyStatement]:
    """Deleting an expired instance's stored values (the sweeper reads and writes none)."""
    return [
        iam.PolicyStatement(actions=["s3:DeleteObject"], resources=[bucket.arn_for_objects("*")]),
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
    ]


def results(bucket: s3.Bucket) -> list[iam.PolicyStatement]:
    return [
        iam.PolicyStatement(actions=RESULTS_ACTIONS, resources=[bucket.arn_for_objects("*")]),
        iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]),
    ]


def send(queue: sqs.Queue) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=SEND_ACTIONS, resources=[queue.queue_arn])


KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
"""What DynamoDB, S3 (SSE-KMS) and SQS need of a caller's role under a customer key."""


def key_use(key: kms.IKey | None) -> list[iam.PolicyStatement]:
    """Use of the customer key, when there is one."""
    if key is None:
        return []
    return [iam.PolicyStatement(actions=KEY_ACTIONS, resources=[key.key_arn])]


def schedule(schedules_arn: str, role: iam.Role) -> list[iam.PolicyStatement]:
    """Create one-time schedules in the app's group (they delete themselves), passing the
    Scheduler role."""
    return [
        iam.PolicyStatement(actions=["scheduler:CreateSchedule"], resources=[schedules_arn]),
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        ),
    ]
