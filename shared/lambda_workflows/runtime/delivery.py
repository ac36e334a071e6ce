"""Putting events in an inbox and waking the instance: used by `send_event` (through the
instance API) and by the runtime itself, to tell waiting parents that a child ended."""

from __future__ import annotations

from typing import Any

from lambda_workflows.clock import now_ms
from lambda_workflows.errors import MetaConditionFailedError
from lambda_workflows.journal.base import NewEvent
from lambda_workflows.journal.records import (
    FINISHED,
    OPEN,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    watcher_key,
)
from lambda_workflows.payloads import STEP_INLINE_BYTES
from lambda_workflows.services import Services
from lambda_workflows.wakeups import Wakeup

CHILD_DONE_PREFIX = "lwf.done."


def deliver_event(
    services: Services,
    workflow: str,
    instance_id: str,
    event_type: str,
    payload: Any,
    event_id: str | None,
) -> EventRecord:
    """Store an event in the inbox (FIFO per type), then wake the instance if it waits.

    A payload over the inline limit goes to the blob store first, once a read of the
    instance says it takes events. Raises `MetaConditionFailedError` (current meta or
    None) when the instance is missing or ended.
    """
    packed = services.payloads.prepare(
        payload,
        owner=f"{workflow}/{instance_id}/events",
        inline_limit=STEP_INLINE_BYTES,
    )
    if packed.ref is not None:
        current = services.journal.get_meta(workflow, instance_id)
        if current is None or current.status not in OPEN:
            raise MetaConditionFailedError(current)
        services.payloads.store(packed)
    event, _ = services.journal.append_event(
        workflow,
        instance_id,
        NewEvent(event_type, packed.inline, now_ms(services.clock), event_id, packed.ref),
        OPEN,
    )
    meta = services.journal.get_meta(workflow, instance_id)
    if meta is not None and meta.status == InstanceStatus.WAITING:
        services.wakeups.send_now([Wakeup(workflow, instance_id, meta.generation, meta.epoch)])
    return event


def child_done_event(workflow: str, instance_id: str) -> str:
    """The internal event type that tells a parent its child has ended (users cannot send
    it: user event types may not contain '.')."""
    return f"{CHILD_DONE_PREFIX}{watcher_key(workflow, instance_id)}"


def child_of(event_type: str | None) -> tuple[str, str] | None:
    """The (workflow, instance id) a `wait_for_workflow` waits for, from its internal
    event type; None for any other event type."""
    if not event_type or not is_internal_event(event_type):
        return None
    workflow, _, instance_id = event_type[len(CHILD_DONE_PREFIX) :].partition("#")
    return (workflow, instance_id) if workflow and instance_id else None


def is_internal_event(event_type: str) -> bool:
    return event_type.startswith(CHILD_DONE_PREFIX)


def expiry_of(services: Services, meta: InstanceMeta) -> int | None:
    """When a finished instance's retention ends (its `due_at` once settled: the sweeper
    then deletes it), or None while it runs or when finished instances are kept."""
    if services.retention_ms is None or meta.finished_at is None or meta.status not in FINISHED:
        return None
    return meta.finished_at + services.retention_ms


def notify_watchers(services: Services, meta: InstanceMeta) -> None:
    """Tell every instance waiting for this one (`step.wait_for_workflow`) that it ended,
    then settle: remove them and set `due_at` (the sweeper's reminder to do this) to the
    instance's expiry."""
    expires_at = expiry_of(services, meta)
    if not meta.watchers and meta.due_at == expires_at:
        return
    event_type = child_done_event(meta.workflow, meta.instance_id)
    for watcher in meta.watchers:
        workflow, _, instance_id = watcher.partition("#")
        try:
            deliver_event(
                services,
                workflow,
                instance_id,
                event_type,
                {"status": str(meta.status)},
                f"{event_type}#{meta.generation}",  # a re-notification is a no-op
            )
        except MetaConditionFailedError:
            continue
    services.journal.settle_watchers(
        meta.workflow, meta.instance_id, meta.watchers, meta.generation, due_at=expires_at
    )
