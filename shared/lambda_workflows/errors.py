"""Every error lambda-workflows raises, public and internal.

Errors a caller of the instance API can get carry an HTTP-style `status` and a stable
`code`, so the HTTP layer maps them without a table of its own. The internal ones
(`ConditionFailedError`, `InstanceExistsError`, `ItemTooLargeError`) never reach a
workflow author: the engine turns them into one of the public errors or into a retry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_workflows.journal.records import InstanceMeta, StepRecord


class WorkflowError(Exception):
    """Base class of every error raised by lambda-workflows."""

    status: int = 500
    code: str = "internal_error"


MAX_ERROR_DETAILS = 20
"""Field errors one error carries at most (an error body must stay small)."""


def capped(details: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The first `MAX_ERROR_DETAILS` field errors, and a note on how many were left out."""
    left_out = len(details) - MAX_ERROR_DETAILS
    if left_out <= 0:
        return details, ""
    return details[:MAX_ERROR_DETAILS], f" (and {left_out} more)"


class ValidationError(WorkflowError, ValueError):
    """Bad input: a name, an id, a duration, a config or params that don't validate."""

    status = 400
    code = "validation_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class InvalidParamsError(ValidationError):
    """Params that fail the workflow's pydantic model (`details`: pydantic's field errors)."""

    status = 422
    code = "invalid_params"


class PayloadTooLargeError(ValidationError):
    """A request body over the HTTP API's size limit."""

    status = 413
    code = "payload_too_large"


class BadRequestError(ValidationError):
    """An HTTP request the API cannot read: a path or body that is not UTF-8 text, bad
    base64, a query parameter given twice, an event type outside the URL alphabet."""

    code = "bad_request"


class InvalidJsonError(ValidationError):
    """An HTTP request body that is not JSON (or JSON the API does not take: NaN,
    Infinity, numbers past 4,300 digits, nesting too deep to parse)."""

    code = "invalid_json"


class UnsupportedMediaTypeError(ValidationError):
    """An HTTP request body sent as anything but `application/json`."""

    code = "unsupported_media_type"


class AppImportError(ValidationError):
    """The app named as `module:attribute` cannot be loaded: a malformed path, no such
    module or attribute, a module that fails to import, or an object that is not a
    `WorkflowApp`. `path`: the `module:attribute` asked for."""

    code = "app_import_error"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class CannotListenError(WorkflowError):
    """`lwf dev` cannot listen on `host:port` (a port in use or out of reach, a host that
    is not this machine's); `hint` says which option to change."""

    code = "cannot_listen"

    def __init__(self, host: str, port: int, reason: str, hint: str) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({reason}); {hint}")
        self.host = host
        self.port = port
        self.reason = reason


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
    """Replay met code that no longer matches the journal (a renamed or moved step).

    `position` is where they part; `journaled` and `called` are the `(kind, name)` of the
    journal's step there and of the step the code now calls (None: it calls none there).
    """

    def __init__(
        self,
        message: str,
        *,
        position: str | None = None,
        journaled: tuple[str, str] | None = None,
        called: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.position = position
        self.journaled = journaled
        self.called = called


class UnusedModifierError(AssertionError):
    """A test's introspection modifier named a step or event type that nothing reached."""


class NotAwaitedError(WorkflowError):
    """A step operation was called but never awaited: it would silently not run."""


class StepLimitExceededError(WorkflowError):
    """The instance would run more steps than its workflow allows."""


class StepTimeoutError(WorkflowError):
    """A step attempt ran past its timeout (a failed attempt, retried like any other)."""


class NotJsonError(WorkflowError, TypeError):
    """A value that cannot be stored as JSON (a step result, an output)."""


class OutputTooLargeError(WorkflowError, ValueError):
    """A value over the 32 MiB limit of any one stored value."""


# -- internal: raised by the ports, handled inside the engine ---------------------------


class ConditionFailedError(Exception):
    """A conditional write lost; subclasses say what is stored now."""


class MetaConditionFailedError(ConditionFailedError):
    """A conditional write of an instance's meta lost. `current`: the stored meta, or
    None when the instance does not exist."""

    def __init__(self, current: InstanceMeta | None) -> None:
        super().__init__("conditional write of the instance failed")
        self.current = current


class StepConditionFailedError(ConditionFailedError):
    """A conditional write of a step record lost. `current`: the stored record (None if
    there is none, e.g. the instance was deleted)."""

    def __init__(self, current: StepRecord | None) -> None:
        super().__init__("conditional write of the step record failed")
        self.current = current


class SlotsFullError(ConditionFailedError):
    """A concurrency slot could not be taken: `limit` instances of the workflow hold one
    already. Nothing was written."""

    def __init__(self, workflow: str) -> None:
        super().__init__(f"every concurrency slot of {workflow!r} is taken")
        self.workflow = workflow


class InstanceExistsError(Exception):
    """`create_instances` met ids that exist already; nothing was written."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"instances exist already: {ids}")
        self.ids = ids


class ItemTooLargeError(Exception):
    """A journal item would exceed the store's item limit (a bug: callers size items)."""


class CrossOriginError(WorkflowError):
    """The local server refuses a request that changes something when a web page of
    another origin sent it (a page elsewhere could steer local instances)."""

    status = 403
    code = "cross_origin"


class PersistError(ValidationError):
    """`lwf dev --persist`: the state file cannot be loaded, or another process uses it."""


class BlobMissingError(WorkflowError, KeyError):
    """A stored value is not in the blob store (deleted while its instance is purged)."""


class ApiError(WorkflowError):
    """The HTTP API answered with an error (`status`, its `code`, `message`, `details`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or []


class ApiUnreachableError(WorkflowError):
    """No answer from the HTTP API at `url` (nothing listening, DNS, TLS, a timeout)."""

    code = "api_unreachable"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the lambda-workflows API at {url} ({reason})")
        self.url = url
        self.reason = reason


class UnexpectedAnswerError(WorkflowError):
    """What answered at `url` is not a lambda-workflows API (HTML, JSON of another shape,
    a redirect, a body too large or too deep)."""

    code = "unexpected_answer"

    def __init__(self, url: str, status: int, what: str) -> None:
        super().__init__(f"{url} answered {status} with {what}: is this a lambda-workflows API?")
        self.url = url
        self.status = status


class CredentialsError(WorkflowError):
    """No AWS credentials or region to sign a request to a deployed API with."""

    code = "credentials_missing"
