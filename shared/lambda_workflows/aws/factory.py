"""Builds the engine's services on AWS (or on a moto endpoint) from Settings."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from lambda_workflows.app import WorkflowApp
from lambda_workflows.aws.dynamodb import DynamoDBJournal
from lambda_workflows.aws.metrics import EmfMetrics
from lambda_workflows.aws.s3 import S3BlobStore
from lambda_workflows.aws.wakeups import QueueWakeups
from lambda_workflows.clock import Clock, SystemClock
from lambda_workflows.engine import Engine
from lambda_workflows.metrics import Metrics, NoMetrics
from lambda_workflows.payloads import Payloads
from lambda_workflows.runtime.worker import WorkerSettings
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


class AwsResources:
    """The `Resources` of bindings: clients at the settings' endpoint, names from settings."""

    def __init__(self, settings: Settings, session: Any = None, *, is_local: bool = False) -> None:
        self._settings = settings
        self._session = session
        self._clients: dict[str, Any] = {}
        self.is_local = is_local

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(self._settings, service, self._session)
        return self._clients[service]

    def resource_name(self, binding: str, default: str) -> str:
        return self._settings.bindings.get(binding, default)


def aws_services(
    settings: Settings,
    clock: Clock | None = None,
    session: Any = None,
    metrics: Metrics | None = None,
) -> Services:
    """Journal on DynamoDB, results on S3, wake-ups on SQS and EventBridge Scheduler;
    `metrics` default to none (the deployed engine passes `EmfMetrics`)."""
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
        metrics=metrics or NoMetrics(),
    )


def deployed_engine(
    app: WorkflowApp, settings: Settings | None = None, clock: Clock | None = None
) -> Engine:
    """The engine of a Lambda function: services and bindings from `LWF_*` settings,
    metrics as CloudWatch EMF (the handlers flush them after each invocation). `clock`:
    the system clock unless a test gives a virtual one."""
    chosen = settings or Settings.from_env()
    return Engine(
        app,
        aws_services(chosen, clock, metrics=EmfMetrics(chosen.metrics_namespace)),
        WorkerSettings(heartbeat_ms=chosen.heartbeat_ms),
        resources=AwsResources(chosen),
    )
