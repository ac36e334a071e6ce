"""The engine on the in-memory journal, blob store and wake-ups: no moto at all."""

from __future__ import annotations

from lambda_workflows import WorkflowApp
from lambda_workflows.blobs import MemoryBlobStore
from lambda_workflows.clock import Clock, VirtualClock, from_ms, now_ms
from lambda_workflows.engine import Engine
from lambda_workflows.journal import MemoryJournal
from lambda_workflows.payloads import Payloads
from lambda_workflows.services import Services
from lambda_workflows.wakeups import MemoryWakeups


class MemoryEngine:
    def __init__(
        self, app: WorkflowApp, clock: Clock | None = None, journal: MemoryJournal | None = None
    ) -> None:
        self.clock = clock or VirtualClock()
        self.journal = journal or MemoryJournal()
        self.wakeups = MemoryWakeups()
        self.blobs = MemoryBlobStore()
        self.engine = Engine(
            app, Services(self.journal, Payloads(self.blobs), self.wakeups, self.clock)
        )

    def run(self, max_deliveries: int = 1_000) -> int:
        """Deliver wake-ups in time order, skipping the clock forward; return the count."""
        delivered = 0
        while self.wakeups.sent and delivered < max_deliveries:
            self.wakeups.sent.sort(key=lambda sent: sent[1])
            wakeup, at = self.wakeups.sent.pop(0)
            if at > now_ms(self.clock) and isinstance(self.clock, VirtualClock):
                self.clock.advance_to(from_ms(at))
            self.engine.worker.process(wakeup, lambda: 900_000)
            delivered += 1
        return delivered
