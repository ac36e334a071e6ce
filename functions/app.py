"""The example app: what `lwf dev` serves and what a new user reads first."""

from lambda_workflows import Cron, Workflow, WorkflowApp
from lambda_workflows.bindings import AI, Bucket, Email, Table

from functions.demo import seed_demo
from functions.workflows.approval import ApprovalWorkflow
from functions.workflows.daily_report import DailyReportWorkflow
from functions.workflows.data_pipeline import DataPipelineWorkflow
from functions.workflows.fan_out import FanOutWorkflow
from functions.workflows.image_processing import ImageProcessingWorkflow
from functions.workflows.parent_child import ChildTaskWorkflow, ParentChildWorkflow
from functions.workflows.race import RaceWorkflow
from functions.workflows.user_lifecycle import UserLifecycleWorkflow

SENDER = "noreply@example.com"

app = WorkflowApp(
    workflows=[
        Workflow("image-processing", ImageProcessingWorkflow, binding="IMAGE_WORKFLOW"),
        Workflow("user-lifecycle", UserLifecycleWorkflow, binding="USER_LIFECYCLE_WORKFLOW"),
        Workflow("data-pipeline", DataPipelineWorkflow, binding="DATA_PIPELINE_WORKFLOW"),
        Workflow("approval", ApprovalWorkflow, binding="APPROVAL_WORKFLOW"),
        Workflow("fan-out", FanOutWorkflow, binding="FAN_OUT_WORKFLOW"),
        Workflow("parent-child", ParentChildWorkflow, binding="PARENT_CHILD_WORKFLOW"),
        Workflow("child-task", ChildTaskWorkflow, binding="CHILD_TASK_WORKFLOW"),
        Workflow("race", RaceWorkflow, binding="RACE_WORKFLOW"),
        Workflow("daily-report", DailyReportWorkflow, binding="DAILY_REPORT_WORKFLOW"),
    ],
    bindings={
        "BUCKET": Bucket(),
        "DB": Table("app-data"),
        "AI": AI(),
        "EMAIL": Email(SENDER),
    },
    crons=[Cron("cron(0 0 * * ? *)", DailyReportWorkflow.schedule, name="daily-report")],
)

__all__ = ["app", "seed_demo"]
