"""Concurrency caps (`Workflow(concurrency=N)`): who gets a slot, and when.

An instance of a capped workflow holds one of its workflow's N slots from its admission
until it ends, pauses or restarts; `running`, `waiting` and `waitingForPause` instances
always hold one. Each slot change is atomic with the instance's own meta write (see
`Journal.update_meta(slot=...)`), so the slots and the instances never disagree, whatever
crashes. The others wait in `queued`, in the workflow's admission queue (oldest first).

`admit` hands free slots to the oldest queued instances: it is called wherever a slot may
have become free (an instance ended, paused, restarted or was terminated), by the worker
for an instance that finds itself queued without a slot, and by the sweeper (a backstop:
a crash between freeing a slot and admitting the next instance). Admission writes the
instance's `started_at` (its start is its admission) and `due_at`, then sends its
wake-up; the sweeper re-sends a lost one. Workflows without a cap never come here.
"""

from __future__ import annotations

from lambda_workflows.clock import now_ms
from lambda_workflows.errors import MetaConditionFailedError, SlotsFullError
from lambda_workflows.journal.base import MetaCondition, SlotTake
from lambda_workflows.journal.records import InstanceMeta, InstanceStatus
from lambda_workflows.services import Services
from lambda_workflows.wakeups import Wakeup

_QUEUED = frozenset({InstanceStatus.QUEUED})
ROUNDS = 3
"""Pages of the queue one admission reads at most (a page's entries may all have been
admitted or paused by others meanwhile: the index lags a little)."""


def admit(
    services: Services, workflow: str, limit: int, *, keep: str | None = None
) -> list[Wakeup]:
    """Give the free slots of `workflow` to its oldest queued instances and wake them.

    Instances are taken in creation order (ties by id), each with one conditional write
    that takes the slot and stamps `started_at` together, so two admissions running at
    once never exceed `limit` and never start a younger instance before an older one.
    Returns the wake-ups of the admitted instances; the one of instance `keep` (the
    caller runs it itself) is returned but not sent.
    """
    journal = services.journal
    free = limit - len(journal.slot_holders(workflow))
    admitted: list[Wakeup] = []
    for _ in range(ROUNDS):
        if free <= 0:
            break
        wanted = free
        waiting = journal.queued(workflow, wanted)
        for meta in waiting:
            try:
                _take(services, meta, limit)
            except SlotsFullError:
                free = 0
                break
            except MetaConditionFailedError:
                continue  # admitted, paused, terminated or deleted meanwhile
            admitted.append(Wakeup(workflow, meta.instance_id, meta.generation, meta.epoch))
            free -= 1
        if len(waiting) < wanted:
            break  # the queue is empty now
    others = [w for w in admitted if w.instance_id != keep]
    if others:
        services.wakeups.send_now(others)
    return admitted


def _take(services: Services, meta: InstanceMeta, limit: int) -> None:
    now = now_ms(services.clock)
    services.journal.update_meta(
        meta.workflow,
        meta.instance_id,
        {"queue": None, "due_at": now},
        MetaCondition(status_in=_QUEUED, generation=meta.generation, holds_slot=False),
        set_if_missing={"started_at": now},
        slot=SlotTake(limit),
    )


def release_queue(services: Services, workflow: str) -> list[Wakeup]:
    """Start the instances left in the admission queue of a workflow that has no cap any
    more (a deploy removed it): each leaves the queue and is woken. One query when the
    queue is empty, which it is unless a cap was just removed."""
    journal = services.journal
    woken: list[Wakeup] = []
    for meta in journal.queued(workflow, 100):
        try:
            journal.update_meta(
                workflow,
                meta.instance_id,
                {"queue": None, "due_at": now_ms(services.clock)},
                MetaCondition(status_in=_QUEUED, generation=meta.generation),
            )
        except MetaConditionFailedError:
            continue
        woken.append(Wakeup(workflow, meta.instance_id, meta.generation, meta.epoch))
    if woken:
        services.wakeups.send_now(woken)
    return woken


def enroll(services: Services, meta: InstanceMeta) -> bool:
    """Put an instance of a capped workflow that holds no slot and is in no queue (it was
    created, or started, before the cap was deployed) in the admission queue; False if it
    changed meanwhile."""
    try:
        services.journal.update_meta(
            meta.workflow,
            meta.instance_id,
            {"status": InstanceStatus.QUEUED, "queue": meta.workflow, "due_at": None},
            MetaCondition(
                status_in=frozenset({meta.status}),
                generation=meta.generation,
                epoch=meta.epoch,
                holds_slot=False,
                lease_free_at=now_ms(services.clock),
            ),
        )
    except MetaConditionFailedError:
        return False
    return True
