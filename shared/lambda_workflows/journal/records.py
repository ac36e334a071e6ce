"""What the journal stores: instance meta, step records and inbox events."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lambda_workflows.clock import from_ms
from lambda_workflows.errors import NonRetryableError

MAX_ERROR_MESSAGE = 4096
"""Most bytes of an error message kept, as stored (escaped JSON): a step's final error,
an instance's error."""
MAX_LOGGED_MESSAGE = 512
"""Most bytes of an error message kept per entry of a step's attempt log."""
MAX_ERROR_NAME = 200
"""Most characters of an error's type name (and step name) kept."""
ATTEMPT_LOG_HEAD = 5
ATTEMPT_LOG_TAIL = 20
"""A step's attempt log keeps its first and its latest attempts, so its record stays small
however many retries it has."""


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
OPEN = frozenset(set(InstanceStatus) - FINISHED - {InstanceStatus.UNKNOWN})
"""Statuses in which an instance takes events and can still end."""


class StepKind(StrEnum):
    DO = "do"
    SLEEP = "sleep"
    WAIT_FOR_EVENT = "wait_for_event"
    WAIT_FOR_WORKFLOW = "wait_for_workflow"
    PATCH = "patch"
    """A marker: the instance reached `step.patched(name)` under code that has the patch."""
    ROLLBACK = "rollback"
    """The undo of the `step.do` of the same name and occurrence (saga rollback)."""


OUTSIDE_REPLAY_ORDER = frozenset({StepKind.PATCH, StepKind.ROLLBACK})
"""Records that replay meets outside the completion-order gates: patch markers answer at
once, and a rollback chain runs alone after `run()` has ended."""


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    TIMED_OUT = "timedOut"
    CANCELLED = "cancelled"
    """It lost a race (or was cancelled by `run()`) before it resolved."""


RESOLVED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.TIMED_OUT})
PENDING = frozenset({StepStatus.RETRYING, StepStatus.SLEEPING, StepStatus.WAITING})
"""Unresolved and waiting for a deadline (or an event)."""


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest prefix of `text` whose stored form (JSON, escaped) fits `limit` bytes."""
    if len(text) * 12 + 2 <= limit or len(json.dumps(text)) <= limit:
        return text
    low, high = 0, min(len(text), limit)
    while low < high:  # binary search on the prefix length
        middle = (low + high + 1) // 2
        if len(json.dumps(text[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]


@dataclass(frozen=True)
class ErrorInfo:
    """An error as stored and shown: its type name, message and (for steps) the step."""

    name: str
    message: str
    step: str | None = None

    @classmethod
    def of(cls, exc: BaseException, limit: int = MAX_ERROR_MESSAGE) -> ErrorInfo:
        """The stored form of `exc` (`NonRetryableError(name=...)` keeps its name; the
        `name` of an `AttributeError` or `ImportError` is not the error's)."""
        name = exc.name if isinstance(exc, NonRetryableError) else None
        step = getattr(exc, "step", None)
        return cls(
            name=(name if isinstance(name, str) else type(exc).__name__)[:MAX_ERROR_NAME],
            message=cut_to_bytes(str(exc), limit),
            step=step[:MAX_ERROR_NAME] if isinstance(step, str) else None,
        )

    def truncated(self, limit: int) -> ErrorInfo:
        """This error with its message cut to `limit` stored bytes."""
        message = cut_to_bytes(self.message, limit)
        return self if message == self.message else ErrorInfo(self.name, message, self.step)

    def to_dict(self) -> dict[str, str]:
        data = {"name": self.name, "message": self.message}
        if self.step is not None:
            data["step"] = self.step
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        step = data.get("step")
        return cls(str(data.get("name", "Error")), str(data.get("message", "")), step)


@dataclass(frozen=True)
class Attempt:
    """One attempt of a `step.do`: when it ran and, if it failed, why."""

    number: int
    started_at: int
    finished_at: int
    error: ErrorInfo | None = None


def bounded_log(attempts: list[Attempt], new: Attempt) -> list[Attempt]:
    """`attempts` plus `new`, keeping the first and the latest entries only."""
    entry = new if new.error is None else _short(new)
    log = [*attempts, entry]
    if len(log) > ATTEMPT_LOG_HEAD + ATTEMPT_LOG_TAIL:
        log = log[:ATTEMPT_LOG_HEAD] + log[-ATTEMPT_LOG_TAIL:]
    return log


def _short(attempt: Attempt) -> Attempt:
    assert attempt.error is not None
    return Attempt(
        attempt.number,
        attempt.started_at,
        attempt.finished_at,
        attempt.error.truncated(MAX_LOGGED_MESSAGE),
    )


@dataclass
class InstanceMeta:
    """The instance's own item: status, params, output, lease and counters."""

    workflow: str
    instance_id: str
    status: InstanceStatus
    params: Any
    created_at: int
    params_ref: str | None = None
    """Where params too large for the item live (the blob store), else None."""
    generation: int = 0
    epoch: int = 0
    """Bumped whenever the instance suspends or pauses. A wake-up carries the epoch it was
    sent in; one from an earlier epoch is a duplicate and is dropped."""
    inbox: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    output: Any = None
    output_ref: str | None = None
    error: ErrorInfo | None = None
    lease_owner: str | None = None
    lease_until: int | None = None
    due_at: int | None = None
    """When the instance next needs a worker (its start, a deadline, its lease's end);
    None when nothing is pending. The sweeper re-sends wake-ups of overdue instances."""
    terminating: bool | None = None
    """True once `terminate(rollback=True)` is asked: the worker stops `run()`, runs the
    undo chain and ends the instance `terminated` (None otherwise)."""
    watchers: list[str] = field(default_factory=list)
    """Instances (`workflow#id`) waiting in `step.wait_for_workflow` for this one to end."""
    queue: str | None = None
    """The workflow's name while the instance waits in `queued` for a concurrency slot
    (`Workflow(concurrency=N)`): it is then in the workflow's admission queue, oldest
    first. None otherwise, and always for workflows without a cap."""
    holds_slot: bool = False
    """It holds one of its workflow's concurrency slots. Only slot changes set or clear
    it, in the same atomic write as the slot item (`Journal.update_meta(slot=...)`)."""


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
    error: ErrorInfo | None = None
    attempts: list[Attempt] = field(default_factory=list)
    """The attempt log, bounded (see `bounded_log`); numbers count every attempt."""
    started_at: int | None = None
    finished_at: int | None = None
    done: int | None = None
    wake_at: int | None = None
    event_seq: int | None = None
    event_type: str | None = None

    @property
    def key(self) -> str:
        return step_key(self.name, self.occurrence, self.kind)

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED

    @property
    def attempt_count(self) -> int:
        return self.attempts[-1].number if self.attempts else 0


def watcher_key(workflow: str, instance_id: str) -> str:
    """How an instance names itself in another's `watchers`."""
    return f"{workflow}#{instance_id}"


def step_key(name: str, occurrence: int, kind: StepKind = StepKind.DO) -> str:
    """A record's key in its instance: `name#occurrence`. Patch markers and rollbacks add
    their kind after a control character (which no step name holds), so they never meet
    a step's key, nor each other's."""
    if kind in OUTSIDE_REPLAY_ORDER:
        return f"{name}#{occurrence}\x1f{kind}"
    return f"{name}#{occurrence}"


@dataclass(frozen=True)
class EventRecord:
    """An event in the instance inbox, numbered in arrival order (FIFO per type).

    A payload too large for the item lives in the blob store (`payload_ref`)."""

    seq: int
    type: str
    payload: Any
    timestamp: int
    event_id: str | None = None
    payload_ref: str | None = None

    def as_received(self, payload: Any) -> dict[str, Any]:
        """What `step.wait_for_event` returns for this event, given its unpacked payload."""
        return {
            "payload": payload,
            "timestamp": from_ms(self.timestamp).isoformat(),
            "type": self.type,
        }


@dataclass
class Snapshot:
    """Everything the worker needs to replay an instance, read in one query."""

    meta: InstanceMeta
    steps: dict[str, StepRecord]
    events: list[EventRecord]
