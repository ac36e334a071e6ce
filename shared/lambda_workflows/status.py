"""What `Instance.status()` returns: a frozen, typed view of an instance and its step
timeline. The HTTP API serializes exactly `InstanceDetails.to_dict()`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambda_workflows.clock import from_ms
from lambda_workflows.journal.records import (
    FINISHED,
    PENDING,
    Attempt,
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
from lambda_workflows.runtime.delivery import child_of, is_internal_event


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _at(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


class _Budget:
    """Bytes of step results a serialization may still show."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, value: Any) -> bool:
        size = size_of(value)
        if size > self.left:
            self.left = 0
            return False
        self.left -= size
        return True


@dataclass(frozen=True)
class AttemptDetails:
    """One attempt of a `step.do`."""

    number: int
    started_at: datetime
    finished_at: datetime
    error: ErrorInfo | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptDetails:
        return cls(
            attempt.number, from_ms(attempt.started_at), from_ms(attempt.finished_at), attempt.error
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "attempt": self.number,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }
        if self.error is not None:
            data["error"] = self.error.to_dict()
        return data


WAITS_FOR_CHILD = StepKind.WAIT_FOR_WORKFLOW


@dataclass(frozen=True)
class StepDetails:
    """One step occurrence in the timeline. `wake_at` is set while it waits for a
    deadline (a sleep, an event or child wait's timeout, a retry's delay)."""

    name: str
    index: int
    type: StepKind
    status: StepStatus
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    position: str
    wake_at: datetime | None = None
    error: ErrorInfo | None = None
    event_type: str | None = None
    attempt_log: tuple[AttemptDetails, ...] = ()
    result: Any = None
    """A succeeded step's result when it is stored inline (see `result_stored_apart`)."""
    result_stored_apart: bool = False
    """The result is in the blob store (too large for the journal item)."""
    child: tuple[str, str] | None = None
    """The (workflow, instance id) a `wait_for_workflow` waits for."""

    @classmethod
    def of(
        cls, record: StepRecord, instance_ended: bool, event: EventRecord | None = None
    ) -> StepDetails:
        """A pending step of an instance that has ended shows as cancelled; a received
        `event` is a wait's result, as `run()` got it."""
        status = record.status
        if instance_ended and status in PENDING:
            status = StepStatus.CANCELLED
        result, stored_apart = record.result, record.result_ref is not None
        if status == StepStatus.SUCCEEDED and result is None and event is not None:
            stored_apart = event.payload_ref is not None
            if not stored_apart:
                result = event.as_received(event.payload)
        return cls(
            name=record.name,
            index=record.occurrence,
            type=record.kind,
            status=status,
            attempts=record.attempt_count,
            started_at=_at(record.started_at),
            finished_at=_at(record.finished_at),
            position=record.position,
            wake_at=_at(record.wake_at) if status in PENDING else None,
            error=record.error,
            event_type=record.event_type,
            attempt_log=tuple(AttemptDetails.of(a) for a in record.attempts),
            result=result if status == StepStatus.SUCCEEDED else None,
            result_stored_apart=stored_apart,
            child=child_of(record.event_type)
            if record.kind == StepKind.WAIT_FOR_WORKFLOW
            else None,
        )

    def to_dict(self, budget: _Budget | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "index": self.index,
            "type": str(self.type),
            "status": str(self.status),
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "position": self.position,
        }
        if self.wake_at is not None:
            data["wake_at"] = _iso(self.wake_at)
        if self.error is not None:
            data["error"] = self.error.to_dict()
        if self.event_type is not None:
            data["event_type"] = self.event_type
        if self.attempt_log:
            data["attempt_log"] = [a.to_dict() for a in self.attempt_log]
        if self.child is not None:
            data["child"] = {"workflow": self.child[0], "id": self.child[1]}
        if self.status == StepStatus.SUCCEEDED:
            if self.result_stored_apart or (budget is not None and not budget.take(self.result)):
                data["result_omitted"] = True
            else:
                data["result"] = self.result
        return data


@dataclass(frozen=True)
class EventDetails:
    """An event in the instance's inbox (internal notifications are not shown)."""

    seq: int
    type: str
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "timestamp": _iso(self.timestamp)}


@dataclass(frozen=True)
class InstanceDetails:
    """An instance: status, params, output, error, step timeline and timestamps."""

    id: str
    workflow: str
    status: InstanceStatus
    params: Any
    output: Any
    error: ErrorInfo | None
    steps: tuple[StepDetails, ...]
    events: tuple[EventDetails, ...]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, snapshot: Snapshot, params: Any, output: Any) -> InstanceDetails:
        """From a loaded instance, with its params and output already unpacked."""
        meta = snapshot.meta
        ended = meta.status in FINISHED
        received: dict[int | None, EventRecord] = {e.seq: e for e in snapshot.events}
        records = sorted(  # the rollback chain after everything run() did
            snapshot.steps.values(),
            key=lambda r: (
                r.kind == StepKind.ROLLBACK,
                r.started_at or 0,
                r.done if r.done is not None else 1 << 62,
            ),
        )
        return cls(
            id=meta.instance_id,
            workflow=meta.workflow,
            status=meta.status,
            params=params,
            output=output,
            error=meta.error,
            steps=tuple(StepDetails.of(r, ended, received.get(r.event_seq)) for r in records),
            events=tuple(
                EventDetails(e.seq, e.type, from_ms(e.timestamp))
                for e in snapshot.events
                if not is_internal_event(e.type)
            ),
            created_at=from_ms(meta.created_at),
            started_at=_at(meta.started_at),
            ended_at=_at(meta.finished_at),
        )

    def to_dict(self, max_bytes: int | None = None) -> dict[str, Any]:
        """As JSON data. `max_bytes` bounds the JSON values shown (a response size limit):
        params and output each up to a quarter of it, step results together up to half.
        What does not fit is left out and flagged: `params_omitted`, `output_omitted`,
        and `result_omitted` on a step."""
        data: dict[str, Any] = {
            "id": self.id,
            "workflow": self.workflow,
            "status": str(self.status),
        }
        for name, value in (("params", self.params), ("output", self.output)):
            if max_bytes is None or _Budget(max_bytes // 4).take(value):
                data[name] = value
            else:
                data[name] = None
                data[f"{name}_omitted"] = True
        budget = _Budget(max_bytes // 2) if max_bytes is not None else None
        data.update(
            {
                "error": self.error.to_dict() if self.error is not None else None,
                "steps": [s.to_dict(budget) for s in self.steps],
                "events": [e.to_dict() for e in self.events],
                "created_at": _iso(self.created_at),
                "started_at": _iso(self.started_at),
                "ended_at": _iso(self.ended_at),
            }
        )
        return data


@dataclass(frozen=True)
class InstanceSummary:
    """One row of an instance listing: no params, output or steps."""

    id: str
    workflow: str
    status: InstanceStatus
    error: ErrorInfo | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, meta: InstanceMeta) -> InstanceSummary:
        return cls(
            id=meta.instance_id,
            workflow=meta.workflow,
            status=meta.status,
            error=meta.error,
            created_at=from_ms(meta.created_at),
            started_at=_at(meta.started_at),
            ended_at=_at(meta.finished_at),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "status": str(self.status),
            "error": self.error.to_dict() if self.error is not None else None,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }


@dataclass(frozen=True)
class InstanceList:
    """A page of instances, newest first; `cursor` fetches the next page (None: no more)."""

    instances: tuple[InstanceSummary, ...]
    cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"instances": [i.to_dict() for i in self.instances], "cursor": self.cursor}
