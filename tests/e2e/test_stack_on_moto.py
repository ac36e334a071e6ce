"""End to end on the synthesized template: the example app's stack (what `cdk deploy`
would create) is created in moto's CloudFormation; the handlers run with exactly the
environment each Lambda function got from the template; a cron tick, a step, a 7-day
sleep through EventBridge Scheduler and an event sent through the API handler each run
to completion.

What moto's CloudFormation does not do is done here or asserted on the template instead:
- no bootstrap-version rule (CDK's default synthesizer adds it; `cdk deploy` checks it
  against the bootstrap stack): removed from the template before the stack is created;
- the assets bucket `cdk deploy` uploads to: created, with a placeholder code zip (the
  handlers run in this process, from this checkout);
- the SQS event-source mapping is created disabled (moto would run the function in
  Docker); the pump below receives the queue's messages and calls the worker handler,
  as Lambda's poller does, and the template is checked to map the queue to the worker
  with partial batch responses;
- skipped by moto, asserted on the template: the Scheduler group (created here by its
  name, which the functions get as a plain string), the SES identity (verified here),
  queue and bucket policies, the API stage, alarms; arm64 reads back as x86_64 from moto;
- EventBridge rules never fire in moto: the test invokes the cron handler with the input
  the cron rule's target sends, and the sweeper whenever the queue is idle (its rule
  runs it every minute).
Time is virtual (moto and the engine on one clock): nothing here waits 7 days.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_workflows.app import import_app
from lambda_workflows.aws.factory import client, deployed_engine
from lambda_workflows.clock import VirtualClock
from lambda_workflows.engine import Engine
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.handlers.cron import CronHandler
from lambda_workflows.handlers.sweeper import SweeperHandler
from lambda_workflows.handlers.worker import WorkerHandler
from lambda_workflows.local.cloud import ACCOUNT_ID, REGION
from lambda_workflows.local.moto_clock import moto_on_clock
from lambda_workflows.local.pump import FakeLambdaContext, Pump
from lambda_workflows.settings import Settings

STACK = "LambdaWorkflows"
START = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT_ID}-{REGION}"
MOTO_SKIPS = {
    "AWS::Scheduler::ScheduleGroup",
    "AWS::SES::EmailIdentity",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
    "AWS::ApiGateway::Stage",
    "AWS::CloudWatch::Alarm",
}
"""Resource types moto 5.2.5's CloudFormation does not create (it warns and goes on)."""


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The example app's stack as `cdk synth` writes it (bundling skipped: the handlers
    run from this checkout)."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.app import build

    stack = build(App(context={"aws:cdk:bundling-stacks": []}))
    return dict(Template.from_stack(stack).to_json())


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _for_moto(template: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(template))
    assert "CheckBootstrapVersion" in copy.pop("Rules")
    copy["Parameters"].pop("BootstrapVersion")
    if not copy["Parameters"]:
        copy.pop("Parameters")
    for mapping in _resources(copy, "AWS::Lambda::EventSourceMapping").values():
        mapping["Properties"]["Enabled"] = False
    return copy


@dataclass
class Deployed:
    """The stack in moto: its outputs, each function's environment, and its handlers."""

    clock: VirtualClock
    outputs: dict[str, str]
    environments: dict[str, dict[str, str]]
    engines: list[Engine] = field(default_factory=list)

    def engine_of(self, entry: str) -> Callable[[], Engine]:
        """The engine a function builds at its cold start, from its own environment."""
        environment = self.environments[entry]

        def build() -> Engine:
            engine = deployed_engine(
                import_app(environment["LWF_APP"]), Settings.from_env(environment), self.clock
            )
            self.engines.append(engine)
            return engine

        return build

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.environments["worker"])

    def client(self, service: str) -> Any:
        return client(self.settings, service)


@pytest.fixture
def deployed(template: dict[str, Any]) -> Iterator[Deployed]:
    from moto import mock_aws

    clock = VirtualClock(START)
    lambda_runtime = {  # what Lambda's runtime sets beside the function's own variables
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    saved = {k: os.environ.get(k) for k in lambda_runtime}
    os.environ.update(lambda_runtime)
    try:
        with moto_on_clock(clock), mock_aws():
            yield _create_stack(template, clock)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _create_stack(template: dict[str, Any], clock: VirtualClock) -> Deployed:
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=ASSETS_BUCKET)
    placeholder = io.BytesIO()
    with zipfile.ZipFile(placeholder, "w") as archive:
        archive.writestr("README.txt", "the handlers run from the test's checkout")
    for function in _resources(template, "AWS::Lambda::Function").values():
        code = function["Properties"]["Code"]
        assert code["S3Bucket"] == {
            "Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"
        }
        s3.put_object(Bucket=ASSETS_BUCKET, Key=code["S3Key"], Body=placeholder.getvalue())

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(_for_moto(template)),
            Capabilities=["CAPABILITY_IAM"],
        )
    unsupported = {
        match.group(1)
        for warning in skipped
        if (match := re.search(r"Tried to parse (\S+) but", str(warning.message)))
    }
    assert unsupported == MOTO_SKIPS  # each asserted on the template instead
    [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {_output_name(o["OutputKey"]): o["OutputValue"] for o in stack["Outputs"]}

    functions = boto3.client("lambda", region_name=REGION)
    environments: dict[str, dict[str, str]] = {}
    for summary in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]:
        if summary["ResourceType"] == "AWS::Lambda::Function":
            config = functions.get_function_configuration(
                FunctionName=summary["PhysicalResourceId"]
            )
            entry = config["Handler"].rsplit(".", 1)[-1]
            environments[entry] = dict(config["Environment"]["Variables"])
    deployed = Deployed(clock, outputs, environments)

    # What moto's CloudFormation skips, made by hand (asserted on the template below).
    deployed.client("scheduler").create_schedule_group(Name=outputs["ScheduleGroup"])
    deployed.client("ses").verify_email_identity(EmailAddress="noreply@example.com")
    return deployed


def _output_name(key: str) -> str:
    """`EngineTableName28613A9F` → `TableName`."""
    return key.removeprefix("Engine")[:-8]


class StackCloud:
    """What the pump needs of a cloud: clients and the worker's settings."""

    def __init__(self, deployed: Deployed) -> None:
        self.settings = deployed.settings
        self._deployed = deployed

    def client(self, service: str) -> Any:
        return self._deployed.client(service)


def _api(handler: ApiHandler, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A request as API Gateway REST (proxy integration, stage `prod`) hands it over."""
    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": "api.example"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "requestId": "e2e",
            "stage": "prod",
            "path": f"/prod{path}",
            "httpMethod": method,
            "resourcePath": "/{proxy+}",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    response = handler(event, FakeLambdaContext(function_name="api"))
    text = response.get("body")
    return int(response["statusCode"]), json.loads(text) if text else None


def test_the_template_has_what_moto_skips(template: dict[str, Any]) -> None:
    [group] = _resources(template, "AWS::Scheduler::ScheduleGroup").values()
    assert group["Properties"]["Name"] == f"{STACK}-Engine"
    [identity] = _resources(template, "AWS::SES::EmailIdentity").values()
    assert identity["Properties"]["EmailIdentity"] == "noreply@example.com"
    assert len(_resources(template, "AWS::SQS::QueuePolicy")) == 2
    assert len(_resources(template, "AWS::S3::BucketPolicy")) == 2
    [stage] = _resources(template, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "prod"
    assert len(_resources(template, "AWS::CloudWatch::Alarm")) == 4
    functions = _resources(template, "AWS::Lambda::Function").values()
    assert {tuple(f["Properties"]["Architectures"]) for f in functions} == {("arm64",)}
    [mapping] = _resources(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Enabled" not in mapping["Properties"]  # enabled on AWS; disabled only for moto


def test_a_cron_tick_a_long_sleep_and_an_api_event_run_to_completion(
    deployed: Deployed, template: dict[str, Any]
) -> None:
    worker = WorkerHandler(deployed.engine_of("worker"))
    api = ApiHandler(deployed.engine_of("api"))
    cron = CronHandler(deployed.engine_of("cron"))
    sweeper = SweeperHandler(deployed.engine_of("sweeper"))
    pump = Pump(
        StackCloud(deployed),  # type: ignore[arg-type]
        worker,
        deployed.clock,
        idle_hooks=[lambda: sweeper({}, FakeLambdaContext(function_name="sweeper"))["resent"]],
    )
    assert set(deployed.environments) == {"worker", "api", "cron", "sweeper"}
    for environment in deployed.environments.values():
        assert environment["LWF_TABLE_NAME"] == deployed.outputs["TableName"]
        assert environment["LWF_QUEUE_URL"] == deployed.outputs["QueueUrl"]
        assert environment["LWF_BUCKET_NAME"] == deployed.outputs["BucketName"]
        assert environment["LWF_SCHEDULE_GROUP"] == deployed.outputs["ScheduleGroup"]

    # The cron rule's target input, as EventBridge sends it at the tick.
    [rule] = [
        r
        for r in _resources(template, "AWS::Events::Rule").values()
        if r["Properties"]["ScheduleExpression"] == "cron(0 0 * * ? *)"
    ]
    [target] = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time"}
    tick = json.loads(
        transformer["InputTemplate"].replace("<time>", json.dumps("2026-12-04T00:00:00Z"))
    )
    assert cron(tick, FakeLambdaContext())["created"] == "daily-2026-12-04T0000Z"
    cron(tick, FakeLambdaContext())  # EventBridge delivers at least once: a no-op
    pump.run_until_idle()

    status, listed = _api(api, "GET", "/workflows/daily-report/instances")
    assert status == 200
    [daily] = listed["instances"]
    assert (daily["id"], daily["status"]) == ("daily-2026-12-04T0000Z", "waiting")
    scheduler = deployed.client("scheduler")
    [schedule] = scheduler.list_schedules(GroupName=deployed.outputs["ScheduleGroup"])[
        "Schedules"
    ]  # the 7-day sleep: past SQS's 15 minutes, so a one-time Scheduler schedule
    details = scheduler.get_schedule(
        Name=schedule["Name"], GroupName=deployed.outputs["ScheduleGroup"]
    )
    assert details["ScheduleExpression"] == "at(2026-12-11T00:00:00)"
    assert details["Target"]["RoleArn"] == deployed.environments["worker"]["LWF_SCHEDULER_ROLE_ARN"]

    status, created = _api(
        api, "POST", "/workflows/approval/instances", {"id": "req-1", "params": {"user_id": "u1"}}
    )
    assert (status, created) == (201, {"id": "req-1", "status": "queued"})
    pump.run_until_idle()
    status, sent = _api(
        api,
        "POST",
        "/workflows/approval/instances/req-1/events/approval-response",
        {"payload": {"approved": True}},
    )
    assert status == 202, sent
    pump.run_until_idle()
    status, approval = _api(api, "GET", "/workflows/approval/instances/req-1")
    assert approval["status"] == "complete", approval
    assert [s["name"] for s in approval["steps"]] == [
        "create approval",
        "wait for approval",
        "process approval",
    ]

    deployed.clock.advance(timedelta(days=7, minutes=1))
    pump.run_until_idle()
    status, report = _api(api, "GET", "/workflows/daily-report/instances/daily-2026-12-04T0000Z")
    assert report["status"] == "complete", report
    assert report["output"] == {"report": "reports/2026-12-04.json"}
    assert [s["type"] for s in report["steps"]] == ["do", "sleep", "do"]
    bucket = json.loads(deployed.environments["worker"]["LWF_BINDINGS"])["BUCKET"]
    stored = deployed.client("s3").get_object(Bucket=bucket, Key="reports/2026-12-04.json")
    assert json.loads(stored["Body"].read())["instance"] == "daily-2026-12-04T0000Z"
    assert scheduler.list_schedules(GroupName=deployed.outputs["ScheduleGroup"])["Schedules"] == []
    assert {e.services.clock for e in deployed.engines} == {deployed.clock}
