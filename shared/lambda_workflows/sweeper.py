"""The backstop: re-send the wake-up of any instance that is overdue.

Every wake-up is sent right after the DynamoDB write that calls for it; a crash between
the two would strand the instance. Each instance therefore carries `due_at` (when it next
needs a worker) in a sparse index, and the sweeper (a scheduled Lambda every minute on
AWS, part of the pump locally) re-sends wake-ups of those overdue by more than a grace
period. While all is well it finds nothing.

A finished instance's `due_at` is its expiry (its end plus the app's retention): when it
comes, the sweeper deletes the instance with its journal, events and stored values.

For each capped workflow (`Workflow(concurrency=N)`) it also hands free slots to queued
instances (a crash between freeing a slot and admitting the next instance): one read of
the workflow's slot item, and one query of its queue only when a slot is free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lambda_workflows.clock import now_ms
from lambda_workflows.errors import MetaConditionFailedError
from lambda_workflows.journal.base import MetaCondition
from lambda_workflows.journal.records import FINISHED, InstanceMeta
from lambda_workflows.purge import purge_instance
from lambda_workflows.runtime.admission import admit, release_queue
from lambda_workflows.runtime.delivery import expiry_of
from lambda_workflows.services import Services
from lambda_workflows.wakeups import Wakeup


@dataclass(frozen=True)
class SweeperSettings:
    grace_ms: int = 60_000
    """How late an instance may be before its wake-up is presumed lost."""
    retry_ms: int = 5 * 60_000
    """After re-sending, when to look at the instance again."""
    batch: int = 100
    rounds: int = 20
    """Pages of `batch` one sweep goes through at most while every page comes back full."""
    reserve_ms: int = 10_000
    """A sweep starts no new expiry with less than this much of its invocation left (the
    rest waits for the next minute's sweep; wake-ups are re-sent first)."""


class Sweeper:
    def __init__(
        self,
        services: Services,
        settings: SweeperSettings | None = None,
        caps: Mapping[str, int] | None = None,
        uncapped: Iterable[str] = (),
    ) -> None:
        """`caps`: the concurrency cap of each capped workflow of the app, by name;
        `uncapped`: the other workflows (a deploy may have removed their cap)."""
        self.services = services
        self.settings = settings or SweeperSettings()
        self.caps = dict(caps or {})
        self.uncapped = list(uncapped)

    def sweep(self, time_left_ms: Callable[[], int] | None = None) -> list[Wakeup]:
        """Re-send the wake-ups of overdue instances, then delete expired ones while
        `time_left_ms()` (the invocation's remaining time) allows; return the wake-ups."""
        now = now_ms(self.services.clock)
        resent: list[Wakeup] = []
        for workflow, cap in self.caps.items():
            resent += admit(self.services, workflow, cap)
        for workflow in self.uncapped:
            resent += release_queue(self.services, workflow)
        for _ in range(self.settings.rounds):
            due = self.services.journal.list_due(now - self.settings.grace_ms, self.settings.batch)
            expired = [meta for meta in due if self._settled(meta)]
            resent += self._resend([meta for meta in due if not self._settled(meta)], now)
            for meta in expired:
                if time_left_ms is not None and time_left_ms() < self.settings.reserve_ms:
                    return resent
                self._expire(meta, now)
            if len(due) < self.settings.batch:
                break
        return resent

    def _resend(self, due: list[InstanceMeta], now: int) -> list[Wakeup]:
        journal = self.services.journal
        resent: list[Wakeup] = []
        for meta in due:
            try:
                journal.update_meta(
                    meta.workflow,
                    meta.instance_id,
                    {"due_at": now + self.settings.retry_ms},
                    MetaCondition(
                        status_in=frozenset({meta.status}),
                        generation=meta.generation,
                        epoch=meta.epoch,
                    ),
                )
            except MetaConditionFailedError:
                continue
            resent.append(Wakeup(meta.workflow, meta.instance_id, meta.generation, meta.epoch))
        if resent:
            self.services.wakeups.send_now(resent)
        return resent

    def _settled(self, meta: InstanceMeta) -> bool:
        """Finished, with no waiting parent left to tell: only its expiry is due."""
        return meta.status in FINISHED and not meta.watchers

    def _expire(self, listed: InstanceMeta, now: int) -> None:
        """Delete an instance past its retention; set a wrong expiry (the retention
        changed since it ended) right. The index may lag: the meta item decides."""
        journal = self.services.journal
        meta = journal.get_meta(listed.workflow, listed.instance_id)
        if meta is None or not self._settled(meta):
            return
        expires_at = expiry_of(self.services, meta)
        if expires_at is not None and expires_at <= now:
            try:
                purge_instance(self.services, meta.workflow, meta.instance_id, meta)
            except MetaConditionFailedError:
                return  # restarted since it was read: it runs again
        elif expires_at != meta.due_at:
            journal.settle_watchers(
                meta.workflow, meta.instance_id, [], meta.generation, due_at=expires_at
            )

    def next_due_ms(self) -> int | None:
        """When the sweeper would next find something to wake, given what is stored now
        (expiries do not count: time-skipping never jumps to delete finished instances)."""
        for meta in self.services.journal.list_due(1 << 62, self.settings.batch):
            if meta.due_at is not None and not self._settled(meta):
                return meta.due_at + self.settings.grace_ms + 1
        return None
