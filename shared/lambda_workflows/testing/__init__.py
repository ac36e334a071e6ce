"""Test harness: the app on moto with a virtual clock and a pump (see docs/testing.md)."""

from lambda_workflows.errors import UnusedModifierError
from lambda_workflows.testing.env import StatusNotReachedError, WorkflowTestEnv
from lambda_workflows.testing.introspection import Introspector

__all__ = ["Introspector", "StatusNotReachedError", "UnusedModifierError", "WorkflowTestEnv"]
