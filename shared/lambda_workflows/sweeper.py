"""The backstop: re-send the wake-up of any instance that is overdue.

Every wake-up is sent right after the DynamoDB write that calls for it; a crash between
the two would strand the instance. Each instance therefore carries `due_at` (when it next
needs a worker) in a sparse index, and the sweeper (a scheduled Lambda every minute on
AWS, part of the pump locally) re-sends wake-ups of those overdue by more than a grace
period. While all is well it finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambda_workflows.clock import now_ms
from lambda_workflows.errors import MetaConditionFailedError
from lambda_workflows.journal.base import MetaCondition
from lambda_workflows.services import Services
from lambda_workflows.wakeups import Wakeup


@dataclass(frozen=True)
class SweeperSettings:
    grace_ms: int = 60_000
    """How late an instance may be before its wake-up is presumed lost."""
    retry_ms: int = 5 * 60_000
    """After re-sending, when to look at the instance again."""
    batch: int = 100


class Sweeper:
    def __init__(self, services: Services, settings: SweeperSettings | None = None) -> None:
        self.services = services
        self.settings = settings or SweeperSettings()

    def sweep(self) -> list[Wakeup]:
        """Re-send the wake-ups of overdue instances; return them."""
        journal = self.services.journal
        now = now_ms(self.services.clock)
        resent: list[Wakeup] = []
        for meta in journal.list_due(now - self.settings.grace_ms, self.settings.batch):
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

    def next_due_ms(self) -> int | None:
        """When the sweeper would next find something, given what is stored now."""
        due = self.services.journal.list_due(1 << 62, 1)
        if not due or due[0].due_at is None:
            return None
        return due[0].due_at + self.settings.grace_ms + 1
