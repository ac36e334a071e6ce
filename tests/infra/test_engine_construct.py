"""The `WorkflowEngine` construct on the example app (the stack of `infra/app.py`):
template assertions for each resource and IAM policy (synthesized once for the module),
and a minimal app that gets a smaller stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from lambda_workflows.cdk import WorkflowEngine, WorkflowEngineProps

from functions.app import app as example_app

ROOT = Path(__file__).resolve().parents[2]


def _minimal_stack(
    tmp: Path,
    app_path: str,
    props: Callable[[Stack], WorkflowEngineProps] | None = None,
) -> Stack:
    code_dir = tmp / app_path.replace(":", "_")
    code_dir.mkdir()
    (code_dir / "placeholder.py").write_text("")
    cdk_app = App()
    stack = Stack(cdk_app, "Workflows")
    WorkflowEngine(
        stack,
        "Engine",
        app=app_path,
        project_dir=ROOT,
        code=lambda_.Code.from_asset(str(code_dir)),
        props=props(stack) if props else None,
    )
    return stack


@pytest.fixture(scope="module")
def example_stack() -> Stack:
    """The stack `infra/app.py` (what `cdk.json` runs) builds for the example app."""
    from infra.app import build

    return build(App(context={"aws:cdk:bundling-stacks": []}))


@pytest.fixture(scope="module")
def minimal_stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    return _minimal_stack(tmp_path_factory.mktemp("code"), "tests.infra.minimal_app:app")


@pytest.fixture(scope="module")
def template(example_stack: Stack) -> Template:
    return Template.from_stack(example_stack)


@pytest.fixture(scope="module")
def minimal(minimal_stack: Stack) -> Template:
    return Template.from_stack(minimal_stack)


def _resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_every_function_is_arm64_python_with_its_own_role(template: Template) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    assert handlers == [
        f"lambda_workflows.handlers.entry.{name}" for name in ("api", "cron", "sweeper", "worker")
    ]
    roles = {str(f["Properties"]["Role"]) for f in functions.values()}
    assert len(roles) == 4
    for function in functions.values():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == "python3.14"
        assert props["Environment"]["Variables"]["LWF_APP"] == "functions.app:app"
        assert "LoggingConfig" in props


def _statements(template: Template) -> list[dict[str, Any]]:
    found = []
    for policy in _resources(template, "AWS::IAM::Policy").values():
        found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_no_policy_has_a_wildcard_action_or_an_unscoped_resource(template: Template) -> None:
    statements = _statements(template)
    assert statements
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        for action in actions:
            assert "*" not in action, statement
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            assert resource != "*", statement


def test_the_worker_may_schedule_only_in_the_apps_group(template: Template) -> None:
    schedule = [s for s in _statements(template) if s["Action"] == "scheduler:CreateSchedule"]
    assert len(schedule) == 1
    assert "schedule/LambdaWorkflows-Engine/*" in str(schedule[0]["Resource"])
    template.has_resource_properties(
        "AWS::Scheduler::ScheduleGroup", {"Name": "LambdaWorkflows-Engine"}
    )


def test_every_api_method_wants_iam_auth(template: Template) -> None:
    methods = _resources(template, "AWS::ApiGateway::Method")
    assert methods
    for method in methods.values():
        assert method["Properties"]["AuthorizationType"] == "AWS_IAM"
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"AccessLogSetting": Match.object_like({}), "MethodSettings": Match.any_value()},
    )


def test_the_bucket_blocks_public_access_and_plain_http(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like(
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        )])}},
    )  # fmt: skip


def test_the_queue_redrives_to_its_dlq_and_feeds_the_worker(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 5},
         "VisibilityTimeout": 1800},
    )  # fmt: skip
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
    )


def test_the_journal_matches_the_engines_table_definition(template: Template) -> None:
    from lambda_workflows.aws.dynamodb.schema import table_definition

    definition = table_definition("x")
    [table] = [
        t
        for key, t in _resources(template, "AWS::DynamoDB::Table").items()
        if key.startswith("EngineJournal")
    ]
    props = table["Properties"]
    assert props["KeySchema"] == definition["KeySchema"]
    assert sorted(i["IndexName"] for i in props["GlobalSecondaryIndexes"]) == sorted(
        i["IndexName"] for i in definition["GlobalSecondaryIndexes"]
    )
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "TimeToLiveSpecification" not in props  # retention: the sweeper deletes whole
    assert props["DeletionProtectionEnabled"] is True


def test_one_rule_per_cron_plus_the_sweeper(template: Template) -> None:
    rules = _resources(template, "AWS::Events::Rule")
    expressions = sorted(r["Properties"]["ScheduleExpression"] for r in rules.values())
    wanted = sorted(
        ["rate(1 minute)"]
        + [
            c.expression if c.expression.startswith(("cron(", "rate(")) else f"cron({c.expression})"
            for c in example_app.crons
        ]
    )
    assert expressions == wanted
    cron_inputs = [
        r["Properties"]["Targets"][0]["InputTransformer"]
        for r in rules.values()
        if "InputTransformer" in r["Properties"]["Targets"][0]
    ]
    assert len(cron_inputs) == len(list(example_app.crons))
    for transformer in cron_inputs:
        assert transformer["InputPathsMap"] == {"time": "$.time"}
        assert '"time":<time>' in transformer["InputTemplate"]


def test_the_outputs_name_what_clients_and_tests_need(template: Template) -> None:
    outputs = list(template.to_json()["Outputs"])
    for wanted in ("ApiUrl", "TableName", "QueueUrl", "BucketName", "ScheduleGroup"):
        assert any(name.startswith(f"Engine{wanted}") for name in outputs), (wanted, outputs)


def test_an_app_without_crons_gets_no_cron_function_or_rule(
    template: Template, minimal: Template
) -> None:
    assert len(_resources(minimal, "AWS::Lambda::Function")) == 3
    assert len(_resources(minimal, "AWS::Events::Rule")) == 1
    assert len(minimal.to_json()["Resources"]) < len(template.to_json()["Resources"])


def test_cfn_lint_finds_nothing(template: Template, minimal: Template) -> None:
    """W3005 (a DependsOn that a GetAtt already implies) is how CDK ties a function to its
    role's policy; everything else must be clean."""
    from cfnlint.api import ManualArgs, lint

    config = ManualArgs(regions=["us-east-1"], ignore_checks=["W3005"])
    for synthesized in (template, minimal):
        matches = lint(json.dumps(synthesized.to_json()), config=config)
        assert [str(m) for m in matches] == []


def test_cdk_nag_finds_nothing_unacknowledged(example_stack: Stack, minimal_stack: Stack) -> None:
    """AwsSolutions on both stacks: clean, each acknowledgment naming its finding."""
    from cdk_nag import AwsSolutionsChecks

    for stack in (example_stack, minimal_stack):
        report = AwsSolutionsChecks(stack.node.root).validate_scope(stack)
        assert [v.rule_name for v in report.violations] == []
        assert report.success


def test_cdk_nag_would_catch_a_resource_the_construct_did_not_vet(
    tmp_path: Path,
) -> None:
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    stack = _minimal_stack(tmp_path, "tests.infra.minimal_app:app")
    s3.Bucket(stack, "Plain")
    report = AwsSolutionsChecks(stack.node.root).validate_scope(stack)
    assert "AwsSolutions-S10" in {v.rule_name for v in report.violations}


def _function(template: Template, entry: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        f["Properties"]
        for f in _resources(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].endswith(f".{entry}")
    ]
    assert len(found) == 1
    return found[0]


def _policy_of(template: Template, entry: str) -> str:
    role = _function(template, entry)["Role"]["Fn::GetAtt"][0]
    [policy] = [
        p["Properties"]["PolicyDocument"]
        for p in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    return json.dumps(policy)


def test_bindings_get_their_resources_names_and_permissions(template: Template) -> None:
    """The example app's BUCKET, DB, AI and EMAIL: a bucket and a table of their own named
    in LWF_BINDINGS, the SES identity, Bedrock invoke on the model; only the functions
    that run workflow code (worker, cron) may use them."""
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
         "BillingMode": "PAY_PER_REQUEST"},
    )  # fmt: skip
    assert len(_resources(template, "AWS::S3::Bucket")) == 2
    template.has_resource_properties(
        "AWS::SES::EmailIdentity", {"EmailIdentity": Match.string_like_regexp("@")}
    )
    bindings = _function(template, "worker")["Environment"]["Variables"]["LWF_BINDINGS"]
    literal = "".join(part for part in bindings["Fn::Join"][1] if isinstance(part, str))
    assert '"BUCKET":' in literal
    assert '"DB":' in literal
    assert '"AI"' not in literal
    assert '"EMAIL"' not in literal
    for entry in ("worker", "cron"):
        policy = _policy_of(template, entry)
        assert "bedrock:InvokeModel" in policy
        assert "ses:SendEmail" in policy
    for entry in ("api", "sweeper"):
        policy = _policy_of(template, entry)
        assert "bedrock" not in policy
        assert "ses:" not in policy


def test_an_app_without_bindings_gets_no_binding_resources(minimal: Template) -> None:
    assert len(_resources(minimal, "AWS::S3::Bucket")) == 1
    assert len(_resources(minimal, "AWS::DynamoDB::Table")) == 1
    assert _resources(minimal, "AWS::SES::EmailIdentity") == {}
    worker = _function(minimal, "worker")
    assert "LWF_BINDINGS" not in worker["Environment"]["Variables"]


def test_alarms_watch_the_dlq_the_worker_and_the_api(template: Template) -> None:
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    watched = sorted(
        (a["Properties"].get("Namespace"), a["Properties"].get("MetricName"))
        for a in alarms.values()
    )
    assert watched == [
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ]
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert (props["Threshold"], props["EvaluationPeriods"]) == (1, 1)
        assert props["TreatMissingData"] == "notBreaching"
        assert "AlarmActions" not in props
    body = json.dumps(_resources(template, "AWS::CloudWatch::Dashboard"))
    for metric in ("StepsCompleted", "StepFailures", "WakeupLagMs", "LambdaWorkflows"):
        assert metric in body


def test_alarms_notify_the_topic_given(tmp_path: Path) -> None:
    from aws_cdk import aws_sns as sns

    app = App()
    topic_stack = Stack(app, "Topics")
    topic = sns.Topic(topic_stack, "Ops", enforce_ssl=True)
    stack = Stack(app, "WithTopic")
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    WorkflowEngine(
        stack,
        "Engine",
        app="tests.infra.minimal_app:app",
        project_dir=ROOT,
        code=lambda_.Code.from_asset(str(code_dir)),
        props=WorkflowEngineProps(alarm_topic=topic),
    )
    alarms = _resources(Template.from_stack(stack), "AWS::CloudWatch::Alarm")
    assert len(alarms) == 4
    assert all(len(a["Properties"]["AlarmActions"]) == 1 for a in alarms.values())


# -- options: a customer KMS key, another authorizer --------------------------------------


def _nag_violations(stack: Stack) -> list[str]:
    """AwsSolutions findings on the construct (not on what the test itself adds)."""
    from cdk_nag import AwsSolutionsChecks

    engine = stack.node.find_child("Engine")
    report = AwsSolutionsChecks(stack.node.root).validate_scope(engine)
    return [v.rule_name for v in report.violations]


def test_a_customer_key_encrypts_the_stores_and_every_role_may_use_it(tmp_path: Path) -> None:
    from aws_cdk import aws_kms as kms

    def props(stack: Stack) -> WorkflowEngineProps:
        key = kms.Key(stack, "AppKey", enable_key_rotation=True)
        return WorkflowEngineProps(encryption_key=key, deletion_protection=False)

    stack = _minimal_stack(tmp_path, "tests.infra.minimal_app:app", props)
    template = Template.from_stack(stack)
    [key_id] = _resources(template, "AWS::KMS::Key")
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    [table] = _resources(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["DeletionProtectionEnabled"] is False
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": key_arn,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    for bucket in _resources(template, "AWS::S3::Bucket").values():
        [rule] = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {
            "KMSMasterKeyID": key_arn,
            "SSEAlgorithm": "aws:kms",
        }
        assert rule["BucketKeyEnabled"] is True
    queues = _resources(template, "AWS::SQS::Queue").values()
    assert [q["Properties"]["KmsMasterKeyId"] for q in queues] == [key_arn, key_arn]
    policies = [p["Properties"] for p in _resources(template, "AWS::IAM::Policy").values()]
    roles_with_key = {
        role["Ref"]
        for policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Resource"] == key_arn and "kms:Decrypt" in statement["Action"]
        for role in policy["Roles"]
    }
    function_roles = {
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in _resources(template, "AWS::Lambda::Function").values()
    }
    scheduler = [r for r in _resources(template, "AWS::IAM::Role") if "SchedulerRole" in r]
    assert function_roles | set(scheduler) <= roles_with_key
    assert _nag_violations(stack) == []


def test_a_cognito_authorizer_replaces_iam_auth(tmp_path: Path) -> None:
    from aws_cdk import aws_apigateway as apigateway
    from aws_cdk import aws_cognito as cognito

    def props(stack: Stack) -> WorkflowEngineProps:
        pool = cognito.UserPool(stack, "Users")
        authorizer = apigateway.CognitoUserPoolsAuthorizer(stack, "Auth", cognito_user_pools=[pool])
        return WorkflowEngineProps(authorizer=authorizer)

    stack = _minimal_stack(tmp_path, "tests.infra.minimal_app:app", props)
    methods = _resources(Template.from_stack(stack), "AWS::ApiGateway::Method").values()
    kinds = {m["Properties"]["AuthorizationType"] for m in methods}
    assert kinds == {"COGNITO_USER_POOLS"}
    assert all("AuthorizerId" in m["Properties"] for m in methods)
    assert _nag_violations(stack) == []


def test_a_lambda_authorizer_replaces_iam_auth(tmp_path: Path) -> None:
    from aws_cdk import aws_apigateway as apigateway

    def props(stack: Stack) -> WorkflowEngineProps:
        check = lambda_.Function(
            stack,
            "CheckToken",
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return {}"),
        )
        return WorkflowEngineProps(
            authorizer=apigateway.TokenAuthorizer(stack, "Auth", handler=check)
        )

    stack = _minimal_stack(tmp_path, "tests.infra.minimal_app:app", props)
    methods = _resources(Template.from_stack(stack), "AWS::ApiGateway::Method").values()
    assert {m["Properties"]["AuthorizationType"] for m in methods} == {"CUSTOM"}
    assert _nag_violations(stack) == []
