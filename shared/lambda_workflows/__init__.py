"""lambda-workflows: durable workflows for Python on AWS Lambda.

The programming model of Cloudflare Workflows (`WorkflowEntrypoint.run(event, step)`),
run on DynamoDB, SQS, EventBridge Scheduler and S3.
"""

from lambda_workflows.api import (
    Env,
    RollbackContext,
    StepContext,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
)
from lambda_workflows.app import Cron, Workflow, WorkflowApp, load_app
from lambda_workflows.config import RetryPolicy, StepConfig, parse_duration
from lambda_workflows.errors import (
    InstanceConflictError,
    InstanceNotFoundError,
    NondeterminismError,
    NonRetryableError,
    StepError,
    StepLimitExceededError,
    ValidationError,
    WaitTimeoutError,
    WorkflowError,
    WorkflowNotFoundError,
)
from lambda_workflows.instances import CreateRequest, Instance, WorkflowBinding
from lambda_workflows.journal.records import InstanceStatus

__all__ = [
    "CreateRequest",
    "Cron",
    "Env",
    "Instance",
    "InstanceConflictError",
    "InstanceNotFoundError",
    "InstanceStatus",
    "NonRetryableError",
    "NondeterminismError",
    "RetryPolicy",
    "RollbackContext",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepLimitExceededError",
    "ValidationError",
    "WaitTimeoutError",
    "Workflow",
    "WorkflowApp",
    "WorkflowBinding",
    "WorkflowEntrypoint",
    "WorkflowError",
    "WorkflowEvent",
    "WorkflowNotFoundError",
    "WorkflowStep",
    "load_app",
    "parse_duration",
]
