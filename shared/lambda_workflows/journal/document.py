"""The journal document: one instance's whole journal as a typed, versioned JSON value.

`GET /workflows/{name}/instances/{id}/journal` answers it, `lwf instances export` writes
it to a file, and `lwf replay-check` replays it against the current code
(runtime/replay_check.py). Values the journal keeps apart (params, results and payloads
in the blob store) are inline here, within a byte budget (a Lambda answer stops at 6 MB);
one that does not fit is left out and flagged `*_omitted`, and a replay that needs it
cannot check the instance. Timestamps are ISO 8601 (UTC, millisecond precision, as
stored). The attempt log is not part of it (`GET .../instances/{id}` shows it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lambda_workflows.clock import from_ms
from lambda_workflows.errors import BlobMissingError, ValidationError
from lambda_workflows.journal.records import (
    ErrorInfo,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Snapshot,
    StepKind,
    StepRecord,
    StepStatus,
)
from lambda_workflows.payloads import size_of

FORMAT: Literal["lambda-workflows/journal"] = "lambda-workflows/journal"
VERSION: Literal[1] = 1
MAX_PENDING_EVENTS = 500
"""Events no step has consumed yet that a document lists at most (the oldest, the next
to be consumed; `events_omitted` counts the rest). Consumed events are always listed."""
OMITTED_PREFIX = "lwf-omitted/"
"""Blob keys that stand for values a document left out: reading one fails (`omitted`)."""

Json = Any
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JournalError(_Model):
    name: str
    message: str
    step: str | None = None


class JournalMeta(_Model):
    status: InstanceStatus
    generation: int = Field(description="Bumped by each restart; the steps are of this one.")
    params: Json = None
    params_omitted: bool = False
    output: Json = None
    output_omitted: bool = False
    error: JournalError | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None


class JournalStep(_Model):
    name: str
    index: int = Field(ge=0, description="Occurrence of this name in the run (0 first).")
    type: StepKind
    position: str = Field(description="Where replay meets it: `branch:index`.")
    status: StepStatus
    done: int | None = Field(
        default=None, description="Completion order of a resolved step (replay's order)."
    )
    result: Json = Field(default=None, description="A succeeded step's result.")
    result_omitted: bool = False
    error: JournalError | None = None
    attempts: int = Field(default=0, ge=0)
    started_at: str | None = None
    finished_at: str | None = None
    wake_at: str | None = Field(default=None, description="The deadline a pending step waits for.")
    event_seq: int | None = Field(default=None, description="The inbox event a wait received.")
    event_type: str | None = None


class JournalEvent(_Model):
    seq: int
    type: str
    payload: Json = None
    payload_omitted: bool = False
    timestamp: str
    event_id: str | None = None


class JournalDocument(_Model):
    """An instance's journal: meta, every step record of its generation, its events."""

    format: Literal["lambda-workflows/journal"] = FORMAT
    version: Literal[1] = VERSION
    workflow: str
    id: str
    exported_at: str
    meta: JournalMeta
    steps: list[JournalStep]
    events: list[JournalEvent]
    events_omitted: int = Field(
        default=0, ge=0, description="Pending events left out (beyond the oldest 500)."
    )


# -- export ------------------------------------------------------------------------------


def _iso(ms: int | None) -> str | None:
    return from_ms(ms).isoformat(timespec="milliseconds") if ms is not None else None


def _error(info: ErrorInfo | None) -> JournalError | None:
    return JournalError(**info.to_dict()) if info is not None else None


class _Values:
    """Unpacks stored values while the document's byte budget lasts."""

    def __init__(self, unpack: Callable[[Any, str | None], Any], max_bytes: int | None) -> None:
        self._unpack = unpack
        self.left = max_bytes

    def take(self, inline: Any, ref: str | None) -> tuple[Any, bool]:
        """(value, omitted)."""
        try:
            value = self._unpack(inline, ref)
        except BlobMissingError:  # being purged: its stored values go first
            return None, True
        if self.left is not None:
            size = size_of(value)
            if size > self.left:
                return None, True
            self.left -= size
        return value, False


def export_journal(
    snapshot: Snapshot,
    unpack: Callable[[Any, str | None], Any],
    exported_at: int,
    max_bytes: int | None = None,
) -> JournalDocument:
    """The document of a loaded instance. `unpack(inline, ref)` reads a stored value;
    `max_bytes` bounds the values shown: params first, then step results in completion
    order, then event payloads, then the output."""
    meta = snapshot.meta
    values = _Values(unpack, max_bytes)
    params, params_omitted = values.take(meta.params, meta.params_ref)
    records = sorted(
        snapshot.steps.values(),
        key=lambda r: (r.done if r.done is not None else 1 << 62, r.started_at or 0, r.position),
    )
    steps: list[JournalStep] = []
    for record in records:
        result, omitted = None, False
        if record.status == StepStatus.SUCCEEDED:
            result, omitted = values.take(record.result, record.result_ref)
        steps.append(
            JournalStep(
                name=record.name,
                index=record.occurrence,
                type=record.kind,
                position=record.position,
                status=record.status,
                done=record.done,
                result=result,
                result_omitted=omitted,
                error=_error(record.error),
                attempts=record.attempt_count,
                started_at=_iso(record.started_at),
                finished_at=_iso(record.finished_at),
                wake_at=_iso(record.wake_at),
                event_seq=record.event_seq,
                event_type=record.event_type,
            )
        )
    consumed = {r.event_seq for r in records if r.event_seq is not None}
    pending = [e for e in snapshot.events if e.seq not in consumed]
    shown = {e.seq for e in pending[:MAX_PENDING_EVENTS]} | consumed
    events: list[JournalEvent] = []
    for event in sorted(snapshot.events, key=lambda e: (e.seq not in consumed, e.seq)):
        if event.seq not in shown:
            continue
        payload, omitted = values.take(event.payload, event.payload_ref)
        events.append(
            JournalEvent(
                seq=event.seq,
                type=event.type,
                payload=payload,
                payload_omitted=omitted,
                timestamp=_iso(event.timestamp) or "",
                event_id=event.event_id,
            )
        )
    events.sort(key=lambda e: e.seq)
    output, output_omitted = None, False
    if meta.output is not None or meta.output_ref is not None:
        output, output_omitted = values.take(meta.output, meta.output_ref)
    return JournalDocument(
        workflow=meta.workflow,
        id=meta.instance_id,
        exported_at=_iso(exported_at) or "",
        meta=JournalMeta(
            status=meta.status,
            generation=meta.generation,
            params=params,
            params_omitted=params_omitted,
            output=output,
            output_omitted=output_omitted,
            error=_error(meta.error),
            created_at=_iso(meta.created_at) or "",
            started_at=_iso(meta.started_at),
            finished_at=_iso(meta.finished_at),
        ),
        steps=steps,
        events=events,
        events_omitted=len(pending) - min(len(pending), MAX_PENDING_EVENTS),
    )


# -- import ------------------------------------------------------------------------------


def _ms(text: str, what: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{what}: not an ISO 8601 time: {text!r}") from None
    if when.tzinfo is None:
        raise ValidationError(f"{what}: the time has no UTC offset: {text!r}")
    return (when - _EPOCH) // _MS


def _maybe_ms(text: str | None, what: str) -> int | None:
    return _ms(text, what) if text is not None else None


def _info(error: JournalError | None) -> ErrorInfo | None:
    return ErrorInfo(error.name, error.message, error.step) if error is not None else None


def omitted_ref(what: str) -> str:
    """The blob key that stands for a value the document left out (`what` names it)."""
    return f"{OMITTED_PREFIX}{what}"


def snapshot_of(document: JournalDocument) -> Snapshot:
    """The journal as the runtime loads it. Values are inline; a left-out one gets an
    `omitted_ref` key that no blob store holds. `ValidationError` for two records of one
    step or two at one position."""
    meta = document.meta
    where = f"{document.workflow}/{document.id}"
    instance = InstanceMeta(
        workflow=document.workflow,
        instance_id=document.id,
        status=meta.status,
        params=meta.params,
        params_ref=omitted_ref("params") if meta.params_omitted else None,
        created_at=_ms(meta.created_at, f"{where} created_at"),
        generation=meta.generation,
        started_at=_maybe_ms(meta.started_at, f"{where} started_at"),
        finished_at=_maybe_ms(meta.finished_at, f"{where} finished_at"),
        output=meta.output,
        output_ref=omitted_ref("output") if meta.output_omitted else None,
        error=_info(meta.error),
    )
    steps: dict[str, StepRecord] = {}
    positions: set[str] = set()
    for step in document.steps:
        label = f"{step.type} {step.name!r} (index {step.index})"
        record = StepRecord(
            name=step.name,
            occurrence=step.index,
            kind=step.type,
            position=step.position,
            status=step.status,
            generation=meta.generation,
            result=step.result,
            result_ref=omitted_ref(f"the result of {label}") if step.result_omitted else None,
            error=_info(step.error),
            started_at=_maybe_ms(step.started_at, f"{where} {label} started_at"),
            finished_at=_maybe_ms(step.finished_at, f"{where} {label} finished_at"),
            done=step.done,
            wake_at=_maybe_ms(step.wake_at, f"{where} {label} wake_at"),
            event_seq=step.event_seq,
            event_type=step.event_type,
        )
        if record.resolved and record.done is None:
            raise ValidationError(
                f"{where}: {label} is {step.status} but has no `done` (its place in the "
                "completion order); was the file edited?"
            )
        if record.key in steps or record.position in positions:
            raise ValidationError(f"{where}: {label} at {step.position} is in the journal twice")
        steps[record.key] = record
        positions.add(record.position)
    events = [
        EventRecord(
            seq=event.seq,
            type=event.type,
            payload=event.payload,
            timestamp=_ms(event.timestamp, f"{where} event {event.seq} timestamp"),
            event_id=event.event_id,
            payload_ref=omitted_ref(f"the payload of event {event.seq} ({event.type!r})")
            if event.payload_omitted
            else None,
        )
        for event in document.events
    ]
    return Snapshot(instance, steps, events)
