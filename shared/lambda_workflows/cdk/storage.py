"""The journal table and the results bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambda_workflows.aws.dynamodb.schema import table_definition

NONCURRENT_VERSION_DAYS = 7
"""With versioning, how long a deleted or overwritten value is kept (retention and
`DELETE` then remove it for good)."""

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def journal_table(
    scope: Construct,
    removal_policy: RemovalPolicy,
    deletion_protection: bool,
    key: kms.IKey | None = None,
) -> dynamodb.Table:
    """The step journal: the keys and indexes of `table_definition`, on demand, with
    point-in-time recovery. No TTL: the sweeper deletes a finished instance whole (items
    and stored values) when the app's retention ends (docs/decisions.md)."""
    definition = table_definition("unused")
    types = {
        a["AttributeName"]: _TYPES[a["AttributeType"]] for a in definition["AttributeDefinitions"]
    }

    def attribute(name: str) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=name, type=types[name])

    keys = {k["KeyType"]: k["AttributeName"] for k in definition["KeySchema"]}
    table = dynamodb.Table(
        scope,
        "Journal",
        partition_key=attribute(keys["HASH"]),
        sort_key=attribute(keys["RANGE"]),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=table_encryption(key),
        encryption_key=key,
        deletion_protection=deletion_protection,
        removal_policy=removal_policy,
    )
    for index in definition["GlobalSecondaryIndexes"]:
        index_keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
        projection = index["Projection"]
        include = projection.get("NonKeyAttributes")
        table.add_global_secondary_index(
            index_name=index["IndexName"],
            partition_key=attribute(index_keys["HASH"]),
            sort_key=attribute(index_keys["RANGE"]),
            projection_type=(
                dynamodb.ProjectionType.INCLUDE if include else dynamodb.ProjectionType.ALL
            ),
            non_key_attributes=include,
        )
    return table


def table_encryption(key: kms.IKey | None) -> dynamodb.TableEncryption:
    """With a customer key, that key; else the AWS-managed one."""
    if key is None:
        return dynamodb.TableEncryption.AWS_MANAGED
    return dynamodb.TableEncryption.CUSTOMER_MANAGED


def results_bucket(
    scope: Construct, removal_policy: RemovalPolicy, versioned: bool, key: kms.IKey | None = None
) -> s3.Bucket:
    """Large step results, params, outputs and event payloads."""
    return private_bucket(scope, "Results", removal_policy, versioned, key)


def private_bucket(
    scope: Construct,
    construct_id: str,
    removal_policy: RemovalPolicy,
    versioned: bool = False,
    key: kms.IKey | None = None,
) -> s3.Bucket:
    """A bucket only the app's roles use: encrypted (SSE-S3, or SSE-KMS with a bucket key
    under a customer key), TLS only, no public access, no ACLs."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=key,
        bucket_key_enabled=True if key else None,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        lifecycle_rules=(
            [
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    expired_object_delete_marker=True,
                )
            ]
            if versioned
            else None
        ),
        removal_policy=removal_policy,
        auto_delete_objects=False,
    )
