"""In-memory journal with the DynamoDB journal's semantics (unit tests and tools)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_workflows.errors import (
    InstanceExistsError,
    ItemTooLargeError,
    MetaConditionFailedError,
    SlotsFullError,
    StepConditionFailedError,
    ValidationError,
)
from lambda_workflows.journal.base import (
    MAX_ITEM_BYTES,
    MAX_WATCHERS,
    META_FIELDS,
    InstancePage,
    MetaCondition,
    NewEvent,
    SlotChange,
    SlotTake,
)
from lambda_workflows.journal.cursors import decode_cursor, encode_cursor
from lambda_workflows.journal.records import (
    FINISHED,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Snapshot,
    StepRecord,
)


@dataclass
class _Partition:
    meta: InstanceMeta
    steps: dict[str, StepRecord] = field(default_factory=dict)
    events: dict[int, EventRecord] = field(default_factory=dict)
    event_ids: dict[str, int] = field(default_factory=dict)


def _check_size(item: Any) -> None:
    size = len(json.dumps(dataclasses.asdict(item), default=str).encode())
    if size > MAX_ITEM_BYTES:
        raise ItemTooLargeError(f"an item of {size} bytes is over {MAX_ITEM_BYTES}")


class MemoryJournal:
    """A thread-safe dict of partitions; every write is checked like a conditional write."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, str], _Partition] = {}
        self._slots: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def create_instances(self, metas: list[InstanceMeta]) -> None:
        for meta in metas:
            _check_size(meta)
        with self._lock:
            taken = [
                m.instance_id for m in metas if (m.workflow, m.instance_id) in self._partitions
            ]
            if taken:
                raise InstanceExistsError(taken)
            for meta in metas:
                self._partitions[(meta.workflow, meta.instance_id)] = _Partition(
                    copy.deepcopy(meta)
                )
                self.writes += 1

    def get_meta(self, workflow: str, instance_id: str) -> InstanceMeta | None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            return copy.deepcopy(part.meta) if part else None

    def load(self, workflow: str, instance_id: str) -> Snapshot | None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                return None
            gen = part.meta.generation
            return Snapshot(
                meta=copy.deepcopy(part.meta),
                steps={k: copy.deepcopy(r) for k, r in part.steps.items() if r.generation == gen},
                events=[part.events[s] for s in sorted(part.events)],
            )

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
        if return_new and return_old:
            raise ValueError("return_new or return_old, not both")
        if slot is not None and return_old:
            raise ValueError("return_old cannot go with a slot change")
        unknown = (set(changes) | set(set_if_missing or {})) - META_FIELDS
        if unknown:
            raise ValueError(f"unknown meta fields {sorted(unknown)}")
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                raise MetaConditionFailedError(None)
            if not condition.holds(part.meta):
                raise MetaConditionFailedError(copy.deepcopy(part.meta))
            missing = {
                k: v for k, v in (set_if_missing or {}).items() if getattr(part.meta, k) is None
            }
            updated = dataclasses.replace(part.meta, **changes, **missing)
            _check_size(updated)
            if slot is not None:
                holders = self._slots.setdefault(workflow, set())
                if isinstance(slot, SlotTake):
                    if instance_id not in holders and len(holders) >= slot.limit:
                        raise SlotsFullError(workflow)
                    holders.add(instance_id)
                else:
                    holders.discard(instance_id)
                updated.holds_slot = isinstance(slot, SlotTake)
            old, part.meta = part.meta, updated
            self.writes += 1
            if return_old:
                return copy.deepcopy(old)
            return copy.deepcopy(part.meta) if return_new else None

    def put_step(
        self, workflow: str, instance_id: str, record: StepRecord, expected_version: int | None
    ) -> None:
        _check_size(record)
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                raise StepConditionFailedError(None)
            stored = part.steps.get(record.key)
            if expected_version is None:
                ok = stored is None or stored.generation < record.generation
            else:
                ok = (
                    stored is not None
                    and stored.version == expected_version
                    and stored.generation == record.generation
                )
            if not ok:
                raise StepConditionFailedError(copy.deepcopy(stored))
            part.steps[record.key] = copy.deepcopy(record)
            self.writes += 1

    def append_event(
        self,
        workflow: str,
        instance_id: str,
        event: NewEvent,
        open_statuses: frozenset[InstanceStatus],
    ) -> tuple[EventRecord, bool]:
        _check_size(event)
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None or part.meta.status not in open_statuses:
                raise MetaConditionFailedError(copy.deepcopy(part.meta) if part else None)
            if event.event_id is not None and event.event_id in part.event_ids:
                return part.events[part.event_ids[event.event_id]], False
            seq = part.meta.inbox + 1
            stored = EventRecord(
                seq,
                event.type,
                copy.deepcopy(event.payload),
                event.timestamp,
                event.event_id,
                event.payload_ref,
            )
            part.events[seq] = stored
            if event.event_id is not None:
                part.event_ids[event.event_id] = seq
            part.meta.inbox = seq
            self.writes += 1
            return stored, True

    def find_event(self, workflow: str, instance_id: str, event_id: str) -> EventRecord | None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            seq = part.event_ids.get(event_id) if part is not None else None
            if part is None or seq is None or seq not in part.events:
                return None
            return copy.deepcopy(part.events[seq])

    def add_watcher(
        self,
        workflow: str,
        instance_id: str,
        watcher: str,
        open_statuses: frozenset[InstanceStatus],
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if (
                part is None
                or part.meta.status not in open_statuses
                or (watcher not in part.meta.watchers and len(part.meta.watchers) >= MAX_WATCHERS)
            ):
                raise MetaConditionFailedError(copy.deepcopy(part.meta) if part else None)
            part.meta.watchers = sorted({*part.meta.watchers, watcher})
            self.writes += 1

    def settle_watchers(
        self,
        workflow: str,
        instance_id: str,
        watchers: Iterable[str],
        generation: int,
        due_at: int | None = None,
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is not None and part.meta.generation == generation:
                gone = set(watchers)
                part.meta.watchers = [w for w in part.meta.watchers if w not in gone]
                part.meta.due_at = due_at
                self.writes += 1

    def replace_steps(
        self,
        workflow: str,
        instance_id: str,
        keep: Iterable[StepRecord],
        delete_steps: Iterable[str],
        delete_events: Iterable[EventRecord],
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                return
            for record in keep:
                part.steps[record.key] = copy.deepcopy(record)
            for key in delete_steps:
                part.steps.pop(key, None)
            for event in delete_events:
                part.events.pop(event.seq, None)
                if event.event_id is not None:
                    part.event_ids.pop(event.event_id, None)

    def slot_holders(self, workflow: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._slots.get(workflow, ()))

    def queued(self, workflow: str, limit: int) -> list[InstanceMeta]:
        with self._lock:
            waiting = [p.meta for p in self._partitions.values() if p.meta.queue == workflow]
            return [copy.deepcopy(m) for m in sorted(waiting, key=_sort_key)[:limit]]

    def list_due(self, before_ms: int, limit: int = 100) -> list[InstanceMeta]:
        with self._lock:
            due = [
                copy.deepcopy(p.meta)
                for p in self._partitions.values()
                if p.meta.due_at is not None and p.meta.due_at < before_ms
            ]
        return sorted(due, key=lambda m: m.due_at or 0)[:limit]

    def list_instances(
        self,
        workflow: str,
        status: InstanceStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> InstancePage:
        after = _decode_cursor(cursor, workflow, status) if cursor else None
        with self._lock:
            metas = [
                copy.deepcopy(p.meta)
                for (wf, _), p in self._partitions.items()
                if wf == workflow
                and (status is None or p.meta.status == status)
                and (after is None or _sort_key(p.meta) < after)
            ]
        metas.sort(key=_sort_key, reverse=True)
        page = metas[:limit]
        more = len(metas) > limit
        next_cursor = encode_cursor(workflow, status, _sort_key(page[-1])) if more else None
        return InstancePage(page, next_cursor)

    def count_instances(self, workflow: str) -> dict[InstanceStatus, int]:
        with self._lock:
            statuses = [p.meta.status for (wf, _), p in self._partitions.items() if wf == workflow]
        return dict(Counter(statuses))

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                raise MetaConditionFailedError(None)
            if part.meta.status not in FINISHED:
                raise MetaConditionFailedError(copy.deepcopy(part.meta))
            del self._partitions[(workflow, instance_id)]
            self.writes += 1


def _sort_key(meta: InstanceMeta) -> str:
    return f"{meta.created_at:015d}#{meta.instance_id}"


def _decode_cursor(cursor: str, workflow: str, status: InstanceStatus | None) -> str:
    after = decode_cursor(cursor, workflow, status)
    if not isinstance(after, str) or not _SORT_KEY.match(after):
        raise ValidationError("invalid cursor")
    return after


_SORT_KEY = re.compile(r"^\d{15}#.+$")
