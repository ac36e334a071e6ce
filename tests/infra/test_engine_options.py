"""The construct under options and names that once broke it: tracing, versioned buckets,
odd cron and binding names, long stack names, inference profiles, two projects in one
CDK app; and the least privilege of the sweeper and the Scheduler role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from lambda_workflows.cdk import WorkflowEngine, WorkflowEngineProps
from lambda_workflows.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def _stack(
    tmp: Path,
    app_path: str = "tests.infra.minimal_app:app",
    props: WorkflowEngineProps | None = None,
    stack_name: str = "Workflows",
    engine_ids: tuple[str, ...] = ("Engine",),
) -> Stack:
    code = tmp / "code"
    code.mkdir(exist_ok=True)
    stack = Stack(App(), stack_name)
    for engine_id in engine_ids:
        WorkflowEngine(
            stack,
            engine_id,
            app=app_path,
            project_dir=ROOT,
            code=lambda_.Code.from_asset(str(code)),
            props=props,
        )
    return stack


def _violations(stack: Stack) -> list[str]:
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks(stack.node.root).validate_scope(stack)
    return [v.rule_name for v in report.violations]


def _resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def test_tracing_synthesizes_nag_clean(tmp_path: Path) -> None:
    stack = _stack(tmp_path, props=WorkflowEngineProps(tracing=True))
    functions = _resources(Template.from_stack(stack), "AWS::Lambda::Function").values()
    assert {f["Properties"]["TracingConfig"]["Mode"] for f in functions} == {"Active"}
    assert _violations(stack) == []


def test_a_versioned_bucket_expires_what_was_deleted(tmp_path: Path) -> None:
    stack = _stack(tmp_path, props=WorkflowEngineProps(versioned_bucket=True))
    [bucket] = _resources(Template.from_stack(stack), "AWS::S3::Bucket").values()
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rule["ExpiredObjectDeleteMarker"] is True
    assert _violations(stack) == []


def test_odd_cron_and_binding_names_and_an_inference_profile(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "tests.infra.odd_names_app:app")
    template = Template.from_stack(stack)
    rules = _resources(template, "AWS::Events::Rule").values()
    inputs = sorted(
        json.loads(
            r["Properties"]["Targets"][0]["InputTransformer"]["InputTemplate"].replace(
                "<time>", '"t"'
            )
        )["cron"]
        for r in rules
        if "InputTransformer" in r["Properties"]["Targets"][0]
    )
    assert inputs == sorted(["logs", "role", "_", "daily-report", "daily_report"])
    assert len(_resources(template, "AWS::S3::Bucket")) == 3  # results + two bindings
    policies = json.dumps(_resources(template, "AWS::IAM::Policy"))
    assert "inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0" in policies
    assert "bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0" in policies
    assert _violations(stack) == []


def test_long_stack_names_and_odd_engine_ids_give_distinct_valid_names(tmp_path: Path) -> None:
    stack = _stack(tmp_path, stack_name="S" * 70, engine_ids=("Engine.v2", "Engine v3"))
    template = Template.from_stack(stack)
    groups = [
        g["Properties"]["Name"]
        for g in _resources(template, "AWS::Scheduler::ScheduleGroup").values()
    ]
    assert len(set(groups)) == 2
    assert all(len(g) <= 64 and g.replace("-", "").replace("_", "").isalnum() for g in groups)
    boards = [
        d["Properties"]["DashboardName"]
        for d in _resources(template, "AWS::CloudWatch::Dashboard").values()
    ]
    assert sorted(boards) == sorted(groups)


def test_the_sweeper_and_the_scheduler_role_get_only_what_they_use(tmp_path: Path) -> None:
    template = Template.from_stack(_stack(tmp_path))
    functions = _resources(template, "AWS::Lambda::Function")
    [sweeper_role] = [
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in functions.values()
        if f["Properties"]["Handler"].endswith(".sweeper")
    ]
    [sweeper_policy] = [
        p["Properties"]["PolicyDocument"]
        for p in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": sweeper_role} in p["Properties"]["Roles"]
    ]
    actions = {
        a
        for s in sweeper_policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not actions & {"s3:GetObject", "s3:PutObject", "dynamodb:PutItem"}
    assert {"s3:DeleteObject", "dynamodb:DeleteItem", "sqs:SendMessage"} <= actions
    [role] = [r for k, r in _resources(template, "AWS::IAM::Role").items() if "SchedulerRole" in k]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    passes = [
        s
        for p in _resources(template, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "iam:PassRole"
    ]
    assert passes
    assert all(
        s["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
        for s in passes
    )


def test_two_projects_sharing_an_app_module_name_are_refused(tmp_path: Path) -> None:
    """Python would hand the second project the first's declaration (its module is
    cached): the construct says so instead of deploying the wrong app."""
    other = tmp_path / "other"
    (other / "tests" / "infra").mkdir(parents=True)
    (other / "tests" / "__init__.py").write_text("")
    (other / "tests" / "infra" / "__init__.py").write_text("")
    (other / "tests" / "infra" / "minimal_app.py").write_text(
        (ROOT / "tests" / "infra" / "minimal_app.py").read_text()
    )
    stack = Stack(App(), "Two")
    code = lambda_.Code.from_asset(str(other))
    WorkflowEngine(stack, "A", app="tests.infra.minimal_app:app", project_dir=ROOT, code=code)
    with pytest.raises(ValidationError, match="already imported from"):
        WorkflowEngine(stack, "B", app="tests.infra.minimal_app:app", project_dir=other, code=code)
