"""The AWS resources of an app's bindings (`WorkflowApp(bindings={...})`), and the
statements that let the functions running workflow code use them."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from constructs import Construct

from lambda_workflows.bindings import AI, BindingSpec, Bucket, Email, Table
from lambda_workflows.cdk import permissions, storage
from lambda_workflows.errors import ValidationError


@dataclass
class Provisioned:
    """What one binding became: its physical name for `LWF_BINDINGS` (if it has one), the
    statements its users need, and the buckets among its resources (for cdk-nag)."""

    physical_name: str | None = None
    statements: list[iam.PolicyStatement] = field(default_factory=list)
    buckets: list[s3.Bucket] = field(default_factory=list)
    patterns: dict[str, str] = field(default_factory=dict)
    """cdk-nag IAM5 findings its statements raise, with the reason each holds."""


INFERENCE_PROFILE_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global")
"""A Bedrock model id starting `<prefix>.` names a cross-region inference profile."""


def provision(
    scope: Construct,
    name: str,
    spec: BindingSpec,
    removal_policy: RemovalPolicy,
    key: kms.IKey | None = None,
) -> Provisioned:
    """Create binding `name`'s resource in `scope` (buckets and tables under `key`); its
    construct id is the binding's name, unique in the app."""
    construct_id = name
    if isinstance(spec, Bucket):
        bucket = storage.private_bucket(scope, construct_id, removal_policy, key=key)
        return Provisioned(bucket.bucket_name, permissions.results(bucket), [bucket])
    if isinstance(spec, Table):
        table = dynamodb.Table(
            scope,
            construct_id,
            partition_key=dynamodb.Attribute(
                name=spec.partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=(
                dynamodb.Attribute(name=spec.sort_key, type=dynamodb.AttributeType.STRING)
                if spec.sort_key
                else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=storage.table_encryption(key),
            encryption_key=key,
            removal_policy=removal_policy,
        )
        actions = ["GetItem", "PutItem", "DeleteItem", "Query", "BatchWriteItem"]
        return Provisioned(
            table.table_name,
            [
                iam.PolicyStatement(
                    actions=[f"dynamodb:{a}" for a in actions], resources=[table.table_arn]
                )
            ],
        )
    if isinstance(spec, Email):
        identity = ses.EmailIdentity(scope, construct_id, identity=ses.Identity.email(spec.sender))
        arn = Stack.of(scope).format_arn(
            service="ses", resource="identity", resource_name=identity.email_identity_name
        )
        return Provisioned(None, [iam.PolicyStatement(actions=["ses:SendEmail"], resources=[arn])])
    if isinstance(spec, AI):
        return _bedrock(Stack.of(scope), spec.model_id)
    raise ValidationError(
        f"binding {name!r}: a {type(spec).__name__} has no AWS resource the CDK construct "
        "knows how to create"
    )


def _bedrock(stack: Stack, model_id: str) -> Provisioned:
    """`bedrock:InvokeModel` on the model, or, for an inference profile (`us.anthropic...`),
    on the profile and on its model in the regions the profile routes to."""
    prefix, _, base = model_id.partition(".")
    if prefix not in INFERENCE_PROFILE_PREFIXES or not base:
        model = stack.format_arn(
            service="bedrock", account="", resource="foundation-model", resource_name=model_id
        )
        return Provisioned(
            None, [iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[model])]
        )
    profile = stack.format_arn(
        service="bedrock", resource="inference-profile", resource_name=model_id
    )
    models = f"arn:{stack.partition}:bedrock:*::foundation-model/{base}"
    statement = iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=[profile, models])
    finding = f"Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{base}"
    reason = (
        f"The inference profile {model_id} routes each call to {base} in one of several "
        "regions; the pattern names only that model."
    )
    return Provisioned(None, [statement], patterns={finding: reason})
