"""The journal port: the only persistence the runtime and the instance API know.

Implementations: `MemoryJournal` beside this module, `DynamoDBJournal` under `aws/`.
One contract test suite (tests/contract) runs against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lambda_workflows.journal.records import (
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Snapshot,
    StepRecord,
)

MAX_ITEM_BYTES = 400_000
"""Largest item a journal stores (DynamoDB's limit is 400 KB); a bigger one raises
`ItemTooLargeError`. Callers keep items under 350 KB (see payloads)."""

MAX_WATCHERS = 500
"""Most instances that may wait (`step.wait_for_workflow`) for one instance at a time, so
its meta item stays small."""

META_FIELDS = frozenset(
    {
        "status",
        "params",
        "params_ref",
        "generation",
        "epoch",
        "inbox",
        "started_at",
        "finished_at",
        "output",
        "output_ref",
        "error",
        "lease_owner",
        "lease_until",
        "due_at",
        "terminating",
        "queue",
    }
)
"""The meta fields `update_meta` may change."""


@dataclass(frozen=True)
class MetaCondition:
    """A condition on the meta item for `update_meta`; every field set must hold."""

    status_in: frozenset[InstanceStatus] | None = None
    generation: int | None = None
    epoch: int | None = None
    lease_owner: str | None = None
    lease_free_at: int | None = None
    inbox: int | None = None
    terminating: bool | None = None
    """True: a `terminate(rollback=True)` is pending; False: none is."""
    holds_slot: bool | None = None

    def holds(self, meta: InstanceMeta) -> bool:
        """Evaluate in memory (the DynamoDB journal compiles it to a ConditionExpression)."""
        if self.status_in is not None and meta.status not in self.status_in:
            return False
        if self.generation is not None and meta.generation != self.generation:
            return False
        if self.epoch is not None and meta.epoch != self.epoch:
            return False
        if self.lease_owner is not None and meta.lease_owner != self.lease_owner:
            return False
        if self.lease_free_at is not None and not (
            meta.lease_owner is None
            or meta.lease_until is None
            or meta.lease_until < self.lease_free_at
        ):
            return False
        if self.terminating is not None and bool(meta.terminating) != self.terminating:
            return False
        if self.holds_slot is not None and meta.holds_slot != self.holds_slot:
            return False
        return self.inbox is None or meta.inbox == self.inbox


@dataclass(frozen=True)
class SlotTake:
    """With `update_meta`: take a concurrency slot of the instance's workflow in the same
    atomic write (the meta gets `holds_slot`). `SlotsFullError` when `limit` instances
    hold one already (and the meta condition holds)."""

    limit: int


@dataclass(frozen=True)
class SlotRelease:
    """With `update_meta`: give the instance's slot back in the same atomic write (the
    meta loses `holds_slot`); a no-op on the slots when it holds none."""


SlotChange = SlotTake | SlotRelease


@dataclass(frozen=True)
class InstancePage:
    instances: list[InstanceMeta]
    cursor: str | None


@dataclass(frozen=True)
class NewEvent:
    """An event to append to an inbox (`seq` is given by the journal)."""

    type: str
    payload: Any
    timestamp: int
    event_id: str | None = None
    payload_ref: str | None = None


class Journal(Protocol):
    """Durable state of every instance: meta, step records and the event inbox."""

    def create_instances(self, metas: list[InstanceMeta]) -> None:
        """Write new instances, all or nothing; `InstanceExistsError` if any id exists."""

    def get_meta(self, workflow: str, instance_id: str) -> InstanceMeta | None:
        """The meta item, or None."""

    def load(self, workflow: str, instance_id: str) -> Snapshot | None:
        """Meta, current-generation steps and events, in one paginated query."""

    def update_meta(
        self,
        workflow: str,
        instance_id: str,
        changes: Mapping[str, Any],
        condition: MetaCondition,
        set_if_missing: Mapping[str, Any] | None = None,
        return_new: bool = False,
        return_old: bool = False,
        slot: SlotChange | None = None,
    ) -> InstanceMeta | None:
        """Apply `changes` (None removes a field) if `condition` holds.

        `set_if_missing` sets fields only where they have no value yet (same write).
        Returns the new meta when `return_new`, the meta as it was before this write
        when `return_old` (not both), else None.

        `slot` takes or gives back a concurrency slot of the workflow atomically with the
        meta write (a transaction on DynamoDB: only capped workflows pay for it). With a
        slot change, `return_old` is refused and `return_new` is the meta read right
        after the write.

        Raises `MetaConditionFailedError(current meta or None)` otherwise, and
        `SlotsFullError` when the condition holds but no slot is free.
        """

    def put_step(
        self, workflow: str, instance_id: str, record: StepRecord, expected_version: int | None
    ) -> None:
        """One conditional write of a step record.

        `expected_version=None`: the key must be free (or hold an older generation's record).
        Otherwise the stored record must be of this generation at that version.
        Raises `StepConditionFailedError(stored record or None)`.
        """

    def append_event(
        self,
        workflow: str,
        instance_id: str,
        event: NewEvent,
        open_statuses: frozenset[InstanceStatus],
    ) -> tuple[EventRecord, bool]:
        """Store an event and bump the inbox counter atomically.

        Returns the event and whether it is new (False: `event_id` was seen before).
        Raises `MetaConditionFailedError(current meta or None)` when the instance is
        missing or its status is not in `open_statuses`.
        """

    def find_event(self, workflow: str, instance_id: str, event_id: str) -> EventRecord | None:
        """The event stored under `event_id` (`NewEvent.event_id`), or None (never sent,
        forgotten by a restart, or no such instance)."""

    def add_watcher(
        self,
        workflow: str,
        instance_id: str,
        watcher: str,
        open_statuses: frozenset[InstanceStatus],
    ) -> None:
        """Add `watcher` to the instance's watchers (a set: adding twice is a no-op).

        Raises `MetaConditionFailedError(current meta or None)` when the instance is
        missing or its status is not in `open_statuses` (it has ended: read its outcome),
        or when it has `MAX_WATCHERS` others already.
        """

    def settle_watchers(
        self,
        workflow: str,
        instance_id: str,
        watchers: Iterable[str],
        generation: int,
        due_at: int | None = None,
    ) -> None:
        """After an ended instance notified `watchers`: remove them and set `due_at` (its
        expiry, or None).

        Only if the instance is still at `generation` (a restart keeps newer registrations);
        otherwise, or if the instance is gone, nothing happens.
        """

    def replace_steps(
        self,
        workflow: str,
        instance_id: str,
        keep: Iterable[StepRecord],
        delete_steps: Iterable[str],
        delete_events: Iterable[EventRecord],
    ) -> None:
        """Rewrite kept records, delete other records and events (restart).

        A deleted event's `event_id` is forgotten with it: sending it again is a new
        event. Not atomic; idempotent.
        """

    def slot_holders(self, workflow: str) -> frozenset[str]:
        """Ids of the instances of `workflow` holding one of its concurrency slots."""

    def queued(self, workflow: str, limit: int) -> list[InstanceMeta]:
        """Up to `limit` instances in `workflow`'s admission queue (those whose `queue` is
        `workflow`), in creation order, ties broken by id. Read from an index: it may lag
        a write by a moment (the conditional admission write decides)."""

    def list_due(self, before_ms: int, limit: int = 100) -> list[InstanceMeta]:
        """Instances whose `due_at` is before `before_ms`, oldest first (for the sweeper)."""

    def list_instances(
        self,
        workflow: str,
        status: InstanceStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> InstancePage:
        """Instances of a workflow, newest first, optionally of one status.

        `cursor` is the opaque `InstancePage.cursor` of the previous page (of the same
        workflow); a page may hold fewer than `limit` instances and still have a cursor.
        Raises `ValidationError` for a cursor this journal did not hand out.
        """

    def count_instances(self, workflow: str) -> dict[InstanceStatus, int]:
        """How many instances of a workflow are in each status (statuses with none are
        left out). Reads the workflow's index: its cost grows with the instances kept."""

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        """Delete a finished instance with its steps and events.

        `MetaConditionFailedError(current)` when the instance is not finished (nothing is
        deleted), `MetaConditionFailedError(None)` when it does not exist (leftover items
        of its partition are removed first). The meta item goes last, conditionally: a
        crash in between leaves the instance finished, listed and due (the sweeper's
        expiry tries again), and a repeated delete finishes the job.
        """
