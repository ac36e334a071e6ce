"""The example app: what `lwf dev` serves and what a new user reads first."""

from lambda_workflows import Workflow, WorkflowApp

from functions.workflows.approval import ApprovalWorkflow
from functions.workflows.fan_out import FanOutWorkflow

app = WorkflowApp(
    workflows=[
        Workflow("approval", ApprovalWorkflow, binding="APPROVAL_WORKFLOW"),
        Workflow("fan-out", FanOutWorkflow, binding="FAN_OUT_WORKFLOW"),
    ],
)
