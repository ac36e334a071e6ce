"""cdk-nag (AwsSolutions) acknowledgments of the construct: each names its rule, the exact
finding, and why it holds for this stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnElement, Validations
from aws_cdk.aws_apigateway import AuthorizationType
from constructs import Construct

if TYPE_CHECKING:
    from lambda_workflows.cdk.engine import WorkflowEngine


def acknowledge(engine: WorkflowEngine) -> None:
    """Record why the remaining AwsSolutions findings are accepted."""
    findings = {
        f"Resource::<{_logical_id(engine, engine.table)}.Arn>/index/*": "Query on the "
        "journal's own GSIs (instances by workflow, due instances); the pattern names only "
        "this table's indexes.",
        f"Resource::{engine.schedules_arn_pattern}": "One-time wake-up schedules get "
        "generated names; the pattern is limited to this app's schedule group.",
    }
    for bucket in engine.buckets:
        findings[f"Resource::<{_logical_id(engine, bucket)}.Arn>/*"] = (
            "Objects are keyed by the engine or the workflow code at run time; the pattern "
            "names only the objects of this bucket."
        )
        Validations.of(bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="Only this app's functions touch the bucket, through their roles; "
                "object access is auditable with CloudTrail data events when needed.",
            )
        )
    findings.update(engine.binding_patterns)
    if engine.options.tracing:
        findings["Resource::*"] = (
            "X-Ray's PutTraceSegments and PutTelemetryRecords (added by CDK for tracing) "
            "take no resource ARN."
        )
    for role in engine.roles:
        Validations.of(role).acknowledge(
            *[
                Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason)
                for finding, reason in findings.items()
            ]
        )
    authorizer = engine.options.authorizer
    if authorizer is None:
        how = "Every method requires SigV4 (IAM), as the lwf CLI signs"
    else:
        how = f"Every method requires the deployer's {authorizer.authorization_type} authorizer"
    Validations.of(engine.api).acknowledge(
        Acknowledgment(
            id="AwsSolutions-APIG3",
            reason=f"{how}; a WAF web ACL can be attached to the stage by the deployer.",
        ),
        Acknowledgment(
            id="AwsSolutions-APIG2",
            reason="The API Lambda validates every request itself (screening, pydantic "
            "models; docs/api.md); a proxy resource has no model for API Gateway to check.",
        ),
        Acknowledgment(
            id="AwsSolutions-APIG6",
            reason="Access logs are on; execution logging needs an account-wide "
            "API Gateway CloudWatch role, which this construct does not create.",
        ),
    )
    if authorizer is None or authorizer.authorization_type != AuthorizationType.COGNITO:
        Validations.of(engine.api).acknowledge(
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason=f"{how}; the deployer chose it over a Cognito user pool.",
            )
        )


def _logical_id(engine: WorkflowEngine, construct: Construct) -> str:
    resource = construct.node.default_child
    assert isinstance(resource, CfnElement)
    return engine.stack.get_logical_id(resource)
