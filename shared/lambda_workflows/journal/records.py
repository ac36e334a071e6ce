"""What the journal stores: instance meta, step records and inbox events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class InstanceStatus(StrEnum):
    """Instance statuses, exactly Cloudflare's."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    ERRORED = "errored"
    TERMINATED = "terminated"
    COMPLETE = "complete"
    WAITING = "waiting"
    WAITING_FOR_PAUSE = "waitingForPause"
    UNKNOWN = "unknown"


FINISHED = frozenset({InstanceStatus.COMPLETE, InstanceStatus.ERRORED, InstanceStatus.TERMINATED})
RUNNABLE = frozenset({InstanceStatus.QUEUED, InstanceStatus.RUNNING, InstanceStatus.WAITING})


class StepKind(StrEnum):
    DO = "do"
    SLEEP = "sleep"
    WAIT_FOR_EVENT = "wait_for_event"
    WAIT_FOR_WORKFLOW = "wait_for_workflow"


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    TIMED_OUT = "timedOut"


RESOLVED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.TIMED_OUT})


@dataclass
class InstanceMeta:
    """The instance's own item: status, params, output, lease and counters."""

    workflow: str
    instance_id: str
    status: InstanceStatus
    params: Any
    created_at: int
    generation: int = 0
    inbox: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    output: Any = None
    output_ref: str | None = None
    error: dict[str, Any] | None = None
    lease_owner: str | None = None
    lease_until: int | None = None
    due_at: int | None = None
    """When the instance next needs a worker (its start, a deadline, its lease's end);
    None when nothing is pending. The sweeper re-sends wake-ups of overdue instances."""
    watchers: list[str] = field(default_factory=list)
    """Instances (`workflow#id`) waiting in `step.wait_for_workflow` for this one to end."""


@dataclass
class StepRecord:
    """One step occurrence. `key` is `name#occurrence`; `position` is where replay meets it.

    `done` is the order in which resolved records completed; replay resolves them in the
    same order, so races and `asyncio.wait` see what they saw the first time.
    """

    name: str
    occurrence: int
    kind: StepKind
    position: str
    status: StepStatus
    generation: int
    version: int = 1
    result: Any = None
    result_ref: str | None = None
    error: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    started_at: int | None = None
    finished_at: int | None = None
    done: int | None = None
    wake_at: int | None = None
    event_seq: int | None = None
    event_type: str | None = None

    @property
    def key(self) -> str:
        return step_key(self.name, self.occurrence)

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED


def watcher_key(workflow: str, instance_id: str) -> str:
    """How an instance names itself in another's `watchers`."""
    return f"{workflow}#{instance_id}"


def step_key(name: str, occurrence: int) -> str:
    return f"{name}#{occurrence}"


@dataclass(frozen=True)
class EventRecord:
    """An event in the instance inbox, numbered in arrival order (FIFO per type)."""

    seq: int
    type: str
    payload: Any
    timestamp: int
    event_id: str | None = None


@dataclass
class Snapshot:
    """Everything the worker needs to replay an instance, read in one query."""

    meta: InstanceMeta
    steps: dict[str, StepRecord]
    events: list[EventRecord]
