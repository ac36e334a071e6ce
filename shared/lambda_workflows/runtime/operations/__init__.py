"""The durable operations, one module per kind, around one replay-or-run shape
(`base.Operation`)."""

from lambda_workflows.runtime.operations.do import Do
from lambda_workflows.runtime.operations.sleep import Sleep
from lambda_workflows.runtime.operations.wait_for_event import WaitForEvent
from lambda_workflows.runtime.operations.wait_for_workflow import WaitForWorkflow

__all__ = ["Do", "Sleep", "WaitForEvent", "WaitForWorkflow"]
