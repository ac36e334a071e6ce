"""In-memory journal with the DynamoDB journal's semantics (for unit tests and tools)."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_workflows.journal.base import (
    META_FIELDS,
    ConditionFailedError,
    InstanceExistsError,
    InstancePage,
    MetaCondition,
)
from lambda_workflows.journal.records import (
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


class MemoryJournal:
    """A thread-safe dict of partitions; every write is checked like a conditional write."""

    def __init__(self) -> None:
        self._partitions: dict[tuple[str, str], _Partition] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def create_instances(self, metas: list[InstanceMeta]) -> None:
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
    ) -> InstanceMeta | None:
        unknown = (set(changes) | set(set_if_missing or {})) - META_FIELDS
        if unknown:
            raise ValueError(f"unknown meta fields {sorted(unknown)}")
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                raise ConditionFailedError(None)
            if not condition.holds(part.meta):
                raise ConditionFailedError(copy.deepcopy(part.meta))
            missing = {
                k: v for k, v in (set_if_missing or {}).items() if getattr(part.meta, k) is None
            }
            part.meta = dataclasses.replace(part.meta, **changes, **missing)
            self.writes += 1
            return copy.deepcopy(part.meta) if return_new else None

    def put_step(
        self, workflow: str, instance_id: str, record: StepRecord, expected_version: int | None
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                raise ConditionFailedError(None)
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
                raise ConditionFailedError(copy.deepcopy(stored))
            part.steps[record.key] = copy.deepcopy(record)
            self.writes += 1

    def get_step(self, workflow: str, instance_id: str, key: str) -> StepRecord | None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            record = part.steps.get(key) if part else None
            return copy.deepcopy(record)

    def append_event(
        self,
        workflow: str,
        instance_id: str,
        event_type: str,
        payload: Any,
        timestamp: int,
        event_id: str | None,
        open_statuses: frozenset[InstanceStatus],
    ) -> tuple[EventRecord, bool]:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None or part.meta.status not in open_statuses:
                raise ConditionFailedError(copy.deepcopy(part.meta) if part else None)
            if event_id is not None and event_id in part.event_ids:
                return part.events[part.event_ids[event_id]], False
            seq = part.meta.inbox + 1
            event = EventRecord(seq, event_type, copy.deepcopy(payload), timestamp, event_id)
            part.events[seq] = event
            if event_id is not None:
                part.event_ids[event_id] = seq
            part.meta.inbox = seq
            self.writes += 1
            return event, True

    def add_watcher(
        self,
        workflow: str,
        instance_id: str,
        watcher: str,
        open_statuses: frozenset[InstanceStatus],
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None or part.meta.status not in open_statuses:
                raise ConditionFailedError(copy.deepcopy(part.meta) if part else None)
            part.meta.watchers = sorted({*part.meta.watchers, watcher})
            self.writes += 1

    def settle_watchers(
        self, workflow: str, instance_id: str, watchers: Iterable[str], generation: int
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is not None and part.meta.generation == generation:
                gone = set(watchers)
                part.meta.watchers = [w for w in part.meta.watchers if w not in gone]
                part.meta.due_at = None
                self.writes += 1

    def replace_steps(
        self,
        workflow: str,
        instance_id: str,
        keep: Iterable[StepRecord],
        delete_steps: Iterable[str],
        delete_events: Iterable[int],
    ) -> None:
        with self._lock:
            part = self._partitions.get((workflow, instance_id))
            if part is None:
                return
            for record in keep:
                part.steps[record.key] = copy.deepcopy(record)
            for key in delete_steps:
                part.steps.pop(key, None)
            for seq in delete_events:
                event = part.events.pop(seq, None)
                if event is not None and event.event_id is not None:
                    part.event_ids.pop(event.event_id, None)

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
        with self._lock:
            metas = [
                copy.deepcopy(p.meta)
                for (wf, _), p in self._partitions.items()
                if wf == workflow and (status is None or p.meta.status == status)
            ]
        metas.sort(key=lambda m: (m.created_at, m.instance_id), reverse=True)
        start = int(cursor) if cursor else 0
        page = metas[start : start + limit]
        more = start + limit < len(metas)
        return InstancePage(page, str(start + limit) if more else None)
