"""Typed errors of the public API.

Errors a caller of the instance API can get carry an HTTP-style `status` and a stable
`code`, so the HTTP layer maps them without a table of its own.
"""

from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    """Base class of every error raised by lambda-workflows."""

    status: int = 500
    code: str = "internal_error"


class ValidationError(WorkflowError, ValueError):
    """Bad input: a name, an id, a duration, a config or params that don't validate."""

    status = 400
    code = "validation_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class WorkflowNotFoundError(WorkflowError, LookupError):
    """No workflow of that name is declared in the app."""

    status = 404
    code = "workflow_not_found"


class InstanceNotFoundError(WorkflowError, LookupError):
    """No instance with that id exists for the workflow."""

    status = 404
    code = "instance_not_found"


class InstanceConflictError(WorkflowError):
    """The instance exists already, or its status does not allow the operation."""

    status = 409
    code = "conflict"


class NonRetryableError(Exception):
    """Raise inside a step to fail it at once, without further retries."""

    def __init__(self, message: str = "", name: str | None = None) -> None:
        super().__init__(message)
        self.name = name or type(self).__name__


class StepError(WorkflowError):
    """A step failed for good (retries exhausted or non-retryable).

    Raised in `run()` at the step's call, the same on the first run and on replay.
    """

    def __init__(self, step: str, error_type: str, message: str) -> None:
        super().__init__(f"step {step!r} failed: {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.message = message


class WaitTimeoutError(WorkflowError):
    """`step.wait_for_event` saw no matching event before its timeout."""

    def __init__(self, step: str, event_type: str) -> None:
        super().__init__(f"step {step!r} timed out waiting for an event of type {event_type!r}")
        self.step = step
        self.event_type = event_type


class NondeterminismError(WorkflowError):
    """Replay met code that no longer matches the journal (a renamed or moved step)."""


class StepLimitExceededError(WorkflowError):
    """The instance would run more steps than its workflow allows."""


class StepTimeoutError(WorkflowError):
    """A step attempt ran past its timeout (a failed attempt, retried like any other)."""
