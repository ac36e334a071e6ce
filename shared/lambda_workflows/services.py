"""The engine's dependencies in one object: journal, payloads, wake-ups, clock, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from lambda_workflows.clock import Clock
from lambda_workflows.journal.base import Journal
from lambda_workflows.metrics import Metrics, NoMetrics
from lambda_workflows.payloads import Payloads
from lambda_workflows.runtime.interception import Interceptor
from lambda_workflows.wakeups import WakeupSender


@dataclass(frozen=True)
class Services:
    journal: Journal
    payloads: Payloads
    wakeups: WakeupSender
    clock: Clock
    interceptor: Interceptor | None = None
    """Set only by the test harness (see runtime/interception.py)."""
    metrics: Metrics = field(default_factory=NoMetrics)
    """Where the worker's counters and timings go (EMF on AWS; see metrics.py)."""
    retention_ms: int | None = None
    """How long a finished instance is kept before the sweeper deletes it (None: kept);
    the engine sets it from the app's `retention`."""
