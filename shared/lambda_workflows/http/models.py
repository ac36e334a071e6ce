"""The HTTP API's request and response bodies (pydantic), named in its OpenAPI schema.

Responses mirror the typed views of `lambda_workflows.status` exactly: the API
serializes `InstanceDetails.to_dict()` and friends, and these models document and
validate that shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from lambda_workflows.journal.records import InstanceStatus, StepKind, StepStatus
from lambda_workflows.names import ID_PATTERN, MAX_INSTANCE_ID, MAX_STEP_NAME, STEP_NAME_PATTERN

MAX_SHOWN_EVENTS = 500
"""Events one instance response lists at most (the newest; `events_omitted` counts the
rest). At most ~1.3 KB each (a 100-character type escaped as JSON), so ~650 KB: an inbox
grows without bound (37,000 events made a 6 MB answer, past Lambda's limit)."""

Json = Any
"""Any JSON value (params, outputs, step results, event payloads)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ------------------------------------------------------------------------------


class ErrorDetail(_Response):
    code: str = Field(description="Stable machine-readable code, e.g. `instance_not_found`.")
    message: str = Field(description="What went wrong and, where it helps, what to do.")
    details: list[dict[str, Json]] | None = Field(
        default=None, description="Field errors (`loc`, `msg`, `type`) for invalid input."
    )
    request_id: str | None = Field(default=None, description="Set on 500: quote it in reports.")


class ErrorResponse(_Response):
    """Every error: `{"error": {"code", "message", "details"?}}`."""

    error: ErrorDetail


# -- workflows ---------------------------------------------------------------------------


class WorkflowSummary(_Response):
    name: str
    class_name: str = Field(description="The workflow class, `module.QualifiedName`.")
    binding: str | None = Field(description="The `self.env` name other workflows use.")
    concurrency: int | None
    step_limit: int


class WorkflowList(_Response):
    workflows: list[WorkflowSummary]


class CronInfo(_Response):
    name: str
    expression: str


class WorkflowDetails(WorkflowSummary):
    params_schema: dict[str, Json] | None = Field(
        description="JSON schema of the params model (None: any JSON)."
    )
    crons: list[CronInfo] = Field(description="Crons whose handler is defined on the class.")
    counts: dict[InstanceStatus, int] = Field(description="Instances in each status.")


# -- instances ---------------------------------------------------------------------------


class CreateInstance(_Request):
    id: str | None = Field(
        default=None,
        max_length=MAX_INSTANCE_ID,
        pattern=ID_PATTERN,
        description="Instance id; generated when omitted.",
    )
    params: Json = Field(default=None, description="Validated against the workflow's model.")


class InstanceRef(_Response):
    id: str
    status: InstanceStatus


class BatchCreated(_Response):
    instances: list[InstanceRef]


class ErrorInfoModel(_Response):
    name: str
    message: str
    step: str | None = None


class InstanceSummaryModel(_Response):
    id: str
    workflow: str
    status: InstanceStatus
    error: ErrorInfoModel | None
    created_at: str
    started_at: str | None
    ended_at: str | None


class InstanceListModel(_Response):
    instances: list[InstanceSummaryModel]
    cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more.")


class AttemptModel(_Response):
    attempt: int
    started_at: str
    finished_at: str
    error: ErrorInfoModel | None = None


class ChildRefModel(_Response):
    workflow: str
    id: str


class StepModel(_Response):
    name: str
    index: int = Field(description="Occurrence of this name in the run (0 first).")
    type: StepKind
    status: StepStatus
    attempts: int
    started_at: str | None
    finished_at: str | None
    position: str
    wake_at: str | None = Field(default=None, description="Deadline it waits for, if any.")
    error: ErrorInfoModel | None = None
    event_type: str | None = None
    attempt_log: list[AttemptModel] | None = None
    child: ChildRefModel | None = Field(
        default=None, description="The instance a `wait_for_workflow` waits for."
    )
    result: Json = Field(default=None, description="A succeeded step's result (JSON).")
    result_omitted: bool | None = Field(
        default=None, description="True when the result is too large to show here."
    )


class EventModel(_Response):
    seq: int
    type: str
    timestamp: str


class InstanceDetailsModel(_Response):
    id: str
    workflow: str
    status: InstanceStatus
    params: Json
    params_omitted: bool | None = Field(
        default=None, description="True when the params are too large to show here."
    )
    output: Json
    output_omitted: bool | None = Field(
        default=None, description="True when the output is too large to show here."
    )
    error: ErrorInfoModel | None
    steps: list[StepModel]
    events: list[EventModel] = Field(
        # In the schema only: a client parsing an older server's longer list still works.
        json_schema_extra={"maxItems": MAX_SHOWN_EVENTS},
        description=f"The newest events received, oldest first: {MAX_SHOWN_EVENTS} at most "
        "(`events_omitted` counts the older ones left out).",
    )
    events_omitted: int = Field(
        default=0, ge=0, description="How many older events `events` leaves out (0: none)."
    )
    created_at: str
    started_at: str | None
    ended_at: str | None


class SendEvent(_Request):
    payload: Json = None
    event_id: str | None = Field(
        default=None,
        max_length=MAX_INSTANCE_ID,
        pattern=ID_PATTERN,
        description="Makes a re-sent event a no-op.",
    )


class TerminateInstance(_Request):
    rollback: StrictBool = Field(
        default=False,
        description=(
            "Run the undos of the instance's completed steps (reverse completion order) "
            "before it ends; it ends `terminated`, or `errored` if an undo keeps failing."
        ),
    )


class RestartInstance(_Request):
    from_step: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STEP_NAME,
        pattern=STEP_NAME_PATTERN,
        description="Keep results of steps before this one.",
    )
    type: Literal["do", "sleep", "wait_for_event", "wait_for_workflow"] = Field(
        default="do",
        description="The kind of the `from_step` step (given only with `from_step`).",
    )

    @model_validator(mode="after")
    def _type_needs_from_step(self) -> RestartInstance:
        if "type" in self.model_fields_set and self.from_step is None:
            raise ValueError(
                "`type` says what kind of step `from_step` is: give `from_step` with it "
                "(a restart from the beginning takes neither)"
            )
        return self
