"""`WorkflowEngine`: the L3 construct that deploys a workflow app."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_workflows.app import WorkflowApp, configured_app_path, import_app
from lambda_workflows.cdk import (
    bindings,
    bundling,
    compliance,
    messaging,
    observability,
    permissions,
    storage,
)
from lambda_workflows.errors import ValidationError

ENTRY = "lambda_workflows.handlers.entry"
RUNTIME = lambda_.Runtime.PYTHON_3_14
_SCHEDULE = re.compile(r"^(cron|rate)\(.*\)$")


@dataclass(frozen=True)
class WorkflowEngineProps:
    """Options of `WorkflowEngine` (every one has a production default)."""

    worker_timeout: Duration = field(default_factory=lambda: Duration.minutes(5))
    worker_batch_size: int = 10
    worker_max_concurrency: int | None = None
    memory_size: int = 1024
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    deletion_protection: bool | None = None
    """The journal table's deletion protection (default: on when the removal policy
    retains it)."""
    versioned_bucket: bool = False
    throttling_rate_limit: float = 100
    throttling_burst_limit: int = 200
    tracing: bool = False
    alarm_topic: sns.ITopic | None = None
    """Where alarms notify (none by default: they still show in CloudWatch)."""
    metrics_namespace: str = "LambdaWorkflows"
    authorizer: apigateway.IAuthorizer | None = None
    """Authorize the API with this Cognito user-pool or Lambda (token or request)
    authorizer instead of IAM (SigV4, which `lwf --url` signs with)."""
    encryption_key: kms.IKey | None = None
    """A customer-managed KMS key for the journal table, the results and binding buckets,
    binding tables and the queues (default: AWS-owned or AWS-managed keys). Every
    function's role and the Scheduler role may use it."""


class WorkflowEngine(Construct):
    """Everything a workflow app needs on AWS: journal table, wake-up queue and DLQ,
    Scheduler group and role, results bucket, worker / api / cron / sweeper functions (one
    role each), the REST API (IAM auth), one EventBridge rule per cron.

    `app` is `module:attribute` (default: `[tool.lambda-workflows] app` of the project);
    `code` is the functions' code (default: the app's package and the project's
    dependencies, bundled locally for Lambda arm64 without Docker; see `cdk.bundling`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        app: str | None = None,
        project_dir: str | Path | None = None,
        code: lambda_.Code | None = None,
        props: WorkflowEngineProps | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        options = props or WorkflowEngineProps()
        self.options = options
        app_path, folder = _app_path(app, project_dir)
        self.app_path = app_path
        self.app: WorkflowApp = _import(app_path, folder)
        self.code = code or bundling.bundled_code(folder, app_path, RUNTIME)
        stack = Stack.of(self)
        self.stack = stack
        self.roles: list[iam.Role] = []

        key = options.encryption_key
        key_use = permissions.key_use(key)
        protected = options.deletion_protection
        if protected is None:
            protected = options.removal_policy == RemovalPolicy.RETAIN
        self.table = storage.journal_table(self, options.removal_policy, protected, key)
        self.bucket = storage.results_bucket(
            self, options.removal_policy, options.versioned_bucket, key
        )
        self.queue, self.dead_letters = messaging.wakeup_queues(self, options.worker_timeout, key)
        group = resource_name(f"{stack.stack_name}-{construct_id}", 64)
        self.schedule_group, schedules_arn = messaging.schedule_group(self, group)
        self.schedules_arn_pattern = (
            f"arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/{group}/*"
        )
        self.scheduler_role = messaging.scheduler_role(self, self.queue, key_use)
        binding_scope = Construct(self, "Bindings")
        provisioned = {
            name: bindings.provision(binding_scope, name, spec, options.removal_policy, key)
            for name, spec in self.app.bindings.items()
        }
        self.buckets = [self.bucket] + [b for p in provisioned.values() for b in p.buckets]
        binding_names = {
            name: p.physical_name for name, p in provisioned.items() if p.physical_name
        }
        workflow_code = [s for p in provisioned.values() for s in p.statements]
        self.binding_patterns = {k: v for p in provisioned.values() for k, v in p.patterns.items()}

        environment = {
            "LWF_APP": app_path,
            "LWF_TABLE_NAME": self.table.table_name,
            "LWF_QUEUE_URL": self.queue.queue_url,
            "LWF_QUEUE_ARN": self.queue.queue_arn,
            "LWF_BUCKET_NAME": self.bucket.bucket_name,
            "LWF_SCHEDULER_ROLE_ARN": self.scheduler_role.role_arn,
            "LWF_SCHEDULE_GROUP": self.schedule_group,
            "POWERTOOLS_SERVICE_NAME": "lambda-workflows",
            "LWF_METRICS_NAMESPACE": options.metrics_namespace,
        }
        if binding_names:
            environment["LWF_BINDINGS"] = json.dumps(binding_names, sort_keys=True)
        common = [permissions.journal(self.table), *permissions.results(self.bucket), *key_use]
        send = permissions.send(self.queue)

        self.worker = self._function(
            "Worker", "worker", options, environment, options.worker_timeout,
            [*common, send, *permissions.schedule(schedules_arn, self.scheduler_role),
             *workflow_code],
        )  # fmt: skip
        self.worker.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=options.worker_batch_size,
                report_batch_item_failures=True,
                max_concurrency=options.worker_max_concurrency,
            )
        )
        short = Duration.seconds(29)
        self.api_function = self._function(
            "Api", "api", options, environment, short, [*common, send]
        )
        sweeping = [
            permissions.journal(self.table, permissions.SWEEPER_JOURNAL_ACTIONS),
            *permissions.purge_results(self.bucket),
            *key_use,
            send,
        ]
        self.sweeper = self._function(
            "Sweeper", "sweeper", options, environment, Duration.minutes(1), sweeping
        )
        events.Rule(
            self,
            "SweepEveryMinute",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(self.sweeper)],
        )
        self.cron = self._cron_function(options, environment, [*common, send, *workflow_code])
        self.api = self._rest_api(options)
        self.alarms = observability.alarms(
            self, self.worker, self.api_function, self.dead_letters, options.alarm_topic
        )
        self.dashboard = observability.dashboard(
            self, group, options.metrics_namespace, self.worker, self.queue, self.dead_letters
        )

        for name, value in (
            ("ApiUrl", self.api.url),
            ("TableName", self.table.table_name),
            ("QueueUrl", self.queue.queue_url),
            ("BucketName", self.bucket.bucket_name),
            ("ScheduleGroup", self.schedule_group),
        ):
            CfnOutput(self, name, value=value)
        compliance.acknowledge(self)

    def _cron_function(
        self,
        options: WorkflowEngineProps,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
    ) -> lambda_.Function | None:
        """The cron Lambda and one EventBridge rule per declared `Cron` (none without)."""
        if not self.app.crons:
            return None
        function = self._function(
            "Cron", "cron", options, environment, Duration.minutes(1), statements
        )
        rules = Construct(self, "CronRules")
        for cron in self.app.crons:
            events.Rule(
                rules,
                cron.name,
                schedule=events.Schedule.expression(_schedule_expression(cron.expression)),
                targets=[
                    targets.LambdaFunction(
                        function,
                        event=events.RuleTargetInput.from_object(
                            {"cron": cron.name, "time": events.EventField.time}
                        ),
                    )
                ],
            )
        return function

    def _function(
        self,
        construct_id: str,
        entry: str,
        options: WorkflowEngineProps,
        environment: dict[str, str],
        timeout: Duration,
        statements: list[iam.PolicyStatement],
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=options.log_retention,
            removal_policy=options.removal_policy,
        )
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        for statement in statements:
            role.add_to_policy(statement)
        self.roles.append(role)
        return lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=f"{ENTRY}.{entry}",
            code=self.code,
            role=role,
            timeout=timeout,
            memory_size=options.memory_size,
            environment=environment,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE if options.tracing else lambda_.Tracing.DISABLED,
        )

    def _rest_api(self, options: WorkflowEngineProps) -> apigateway.LambdaRestApi:
        access_logs = logs.LogGroup(
            self,
            "ApiAccessLogs",
            retention=options.log_retention,
            removal_policy=options.removal_policy,
        )
        return apigateway.LambdaRestApi(
            self,
            "InstanceApi",
            handler=self.api_function,
            proxy=True,
            cloud_watch_role=False,
            default_method_options=(
                apigateway.MethodOptions(authorizer=options.authorizer)
                if options.authorizer is not None
                else apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.IAM)
            ),
            deploy_options=apigateway.StageOptions(
                stage_name="prod",
                throttling_rate_limit=options.throttling_rate_limit,
                throttling_burst_limit=options.throttling_burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                tracing_enabled=options.tracing,
            ),
        )


def resource_name(wanted: str, limit: int) -> str:
    """`wanted` in the characters Scheduler groups and dashboards take (`[A-Za-z0-9_-]`),
    at most `limit` long: a longer one keeps its start and a hash of the whole, so two
    long names never collapse into one."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", wanted)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


def _app_path(app: str | None, project_dir: str | Path | None) -> tuple[str, Path]:
    folder = Path(project_dir).resolve() if project_dir is not None else None
    if app is not None:
        return app, folder or Path.cwd()
    return configured_app_path(folder)


def _import(path: str, folder: Path) -> WorkflowApp:
    """The app of the project in `folder`; `ValidationError` when its module was already
    imported from another folder (two projects whose apps share a module name in one
    CDK app: Python would hand the second the first's declaration)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    app = import_app(path)
    module = sys.modules.get(path.partition(":")[0])
    source = getattr(module, "__file__", None)
    if source is not None and folder.resolve() not in Path(source).resolve().parents:
        raise ValidationError(
            f"{path} is already imported from {source}, not from the project in {folder}: "
            "two projects whose apps share a module name cannot be in one CDK app; rename "
            "one app's package, or synthesize them in separate apps"
        )
    return app


def _schedule_expression(expression: str) -> str:
    text = expression.strip()
    return text if _SCHEDULE.match(text) else f"cron({text})"
