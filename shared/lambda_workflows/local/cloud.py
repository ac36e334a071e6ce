"""The engine's resources on moto, in-process: table, queue + DLQ, bucket, schedule group."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from lambda_workflows.aws.dynamodb import table_definition
from lambda_workflows.aws.factory import AwsResources, aws_services, client
from lambda_workflows.bindings.base import BindingSpec
from lambda_workflows.clock import Clock, SystemClock
from lambda_workflows.local.moto_clock import moto_on_clock
from lambda_workflows.services import Services
from lambda_workflows.settings import Settings

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
FOURTEEN_DAYS = str(14 * 24 * 3600)
MAX_RECEIVE_COUNT = 5


class LocalCloud:
    """Starts moto (in-process), puts it on `clock` and creates the engine's resources."""

    def __init__(
        self,
        clock: Clock,
        *,
        prefix: str = "lwf",
        visibility_timeout: int = 60,
        endpoint_url: str | None = None,
        bindings: Mapping[str, Any] | None = None,
    ) -> None:
        """In-process moto by default; with `endpoint_url`, a moto server in this process.

        `bindings` (an app's) get their resources created too: buckets, tables, senders.
        """
        self.clock = clock
        self.bindings = dict(bindings or {})
        self.prefix = prefix
        self.visibility_timeout = visibility_timeout
        self.endpoint_url = endpoint_url
        self._stack = ExitStack()
        self.settings: Settings | None = None

    def __enter__(self) -> LocalCloud:
        from moto import mock_aws

        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            os.environ.setdefault(key, value)
        if not isinstance(self.clock, SystemClock):  # a virtual or a scaled clock
            self._stack.enter_context(moto_on_clock(self.clock))
        if self.endpoint_url is None:
            self._stack.enter_context(mock_aws())
        self.settings = self._provision_bindings(self._create_resources())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def client(self, service: str) -> Any:
        return client(self._settings, service)

    @property
    def _settings(self) -> Settings:
        if self.settings is None:
            raise RuntimeError("LocalCloud is not started")
        return self.settings

    def services(self) -> Services:
        """The engine's services on this cloud, on its clock."""
        return aws_services(self._settings, self.clock)

    def resources(self) -> AwsResources:
        """What the app's bindings bind to on this cloud."""
        return AwsResources(self._settings, is_local=True)

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every message sent through SES on this cloud, oldest first."""
        from moto.ses.models import ses_backends

        backend = ses_backends[ACCOUNT_ID][REGION]
        return [
            {
                "from": m.source,
                "to": list(m.destinations.get("ToAddresses", [])),
                "subject": m.subject,
                "body": m.body,
            }
            for m in backend.sent_messages
        ]

    def _provision_bindings(self, settings: Settings) -> Settings:
        resources = AwsResources(settings, is_local=True)
        names = {}
        for name, spec in self.bindings.items():
            if isinstance(spec, BindingSpec):
                physical = spec.provision_local(name, resources, self.prefix)
                if physical is not None:
                    names[name] = physical
        return settings.model_copy(update={"bindings": names})

    def _create_resources(self) -> Settings:
        base = Settings(
            table_name=f"{self.prefix}-journal",
            queue_url="pending",
            bucket_name=f"{self.prefix}-results",
            region=REGION,
            endpoint_url=self.endpoint_url,
        )
        ddb = client(base, "dynamodb")
        ddb.create_table(**table_definition(base.table_name))
        sqs = client(base, "sqs")
        dlq_url = sqs.create_queue(
            QueueName=f"{self.prefix}-wakeups-dlq",
            Attributes={"MessageRetentionPeriod": FOURTEEN_DAYS},
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName=f"{self.prefix}-wakeups",
            Attributes={
                "MessageRetentionPeriod": FOURTEEN_DAYS,
                "VisibilityTimeout": str(self.visibility_timeout),
                "RedrivePolicy": (
                    f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{MAX_RECEIVE_COUNT}"}}'
                ),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        client(base, "s3").create_bucket(Bucket=base.bucket_name)
        group = f"{self.prefix}-wakeups"
        client(base, "scheduler").create_schedule_group(Name=group)
        self.dlq_url = dlq_url
        return base.model_copy(
            update={
                "queue_url": queue_url,
                "queue_arn": queue_arn,
                "schedule_group": group,
                "scheduler_role_arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{self.prefix}-scheduler",
            }
        )
