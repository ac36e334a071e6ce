"""Builds the engine's services on AWS (or on a moto endpoint) from Settings."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lambda_workflows.aws.s3 import S3BlobStore
from lambda_workflows.aws.wakeups import QueueWakeups
from lambda_workflows.clock import Clock, SystemClock
from lambda_workflows.journal.dynamodb import DynamoDBJournal
from lambda_workflows.payloads import Payloads
from lambda_workflows.services import Services
from lambda_workflows.settings import Settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def client(settings: Settings, service: str, session: Any = None) -> Any:
    """A boto3 client for `service` at the settings' region and endpoint."""
    maker = session or boto3
    return maker.client(
        service,
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=_CONFIG,
    )


def aws_services(settings: Settings, clock: Clock | None = None, session: Any = None) -> Services:
    """Journal on DynamoDB, results on S3, wake-ups on SQS and EventBridge Scheduler."""
    return Services(
        journal=DynamoDBJournal(client(settings, "dynamodb", session), settings.table_name),
        payloads=Payloads(
            S3BlobStore(client(settings, "s3", session), settings.bucket_name),
            settings.results_prefix,
        ),
        wakeups=QueueWakeups(
            client(settings, "sqs", session),
            settings.queue_url,
            scheduler=client(settings, "scheduler", session),
            queue_arn=settings.queue_arn,
            scheduler_role_arn=settings.scheduler_role_arn,
            schedule_group=settings.schedule_group,
        ),
        clock=clock or SystemClock(),
    )
