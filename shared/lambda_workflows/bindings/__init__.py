"""Bindings: what `self.env` holds (declared in `WorkflowApp(bindings=...)`)."""

from lambda_workflows.bindings.ai import AI, BedrockAI, LocalAI
from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.bindings.bucket import Bucket, BucketBinding, BucketListing, BucketObject
from lambda_workflows.bindings.email import Email, SesEmail
from lambda_workflows.bindings.table import Table, TableBinding

__all__ = [
    "AI",
    "BedrockAI",
    "BindingSpec",
    "Bucket",
    "BucketBinding",
    "BucketListing",
    "BucketObject",
    "Email",
    "LocalAI",
    "Resources",
    "SesEmail",
    "Table",
    "TableBinding",
]
