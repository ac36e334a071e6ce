"""The metrics port: counters and timings the engine and the HTTP API emit.

Implementations: `NoMetrics` (the default), `RecordingMetrics` (tests) and, on AWS,
`EmfMetrics` (CloudWatch embedded metric format, in `aws/metrics.py`). Dimensions stay
few and of low cardinality: `workflow` (a workflow's name) at most, never an instance id.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Protocol

StepsCompleted = "StepsCompleted"
"""A `step.do` succeeded (counted once, when journaled; never on replay). `workflow`."""
StepRetries = "StepRetries"
"""A `step.do` attempt failed and will be retried. `workflow`."""
StepFailures = "StepFailures"
"""A `step.do` failed for good (attempts exhausted or a non-retryable error). `workflow`."""
Suspensions = "Suspensions"
"""An instance suspended: it sleeps, waits for an event or a retry delay, or yields the
rest of its work to a new invocation. `workflow`."""
WakeupLagMs = "WakeupLagMs"
"""How late (ms) a worker took an instance's lease after it was due. `workflow`."""
InstancesCreated = "InstancesCreated"
"""Instances created through the HTTP API. `workflow`."""
EventsSent = "EventsSent"
"""Events sent to instances through the HTTP API. `workflow`."""
ClientErrors = "ClientErrors"
"""HTTP API responses with a 4xx status."""
ServerErrors = "ServerErrors"
"""HTTP API responses with a 5xx status."""

Dimensions = tuple[tuple[str, str], ...]
"""A dimension set as sorted `(name, value)` pairs."""


def dimension_set(dimensions: dict[str, str]) -> Dimensions:
    """The hashable, order-independent form of `dimensions`."""
    return tuple(sorted(dimensions.items()))


class Metrics(Protocol):
    """Where metrics go. Implementations are thread-safe: steps run on threads."""

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        """Add `value` to the counter `name` (a `Count`)."""

    def observe_ms(self, name: str, value_ms: float, **dimensions: str) -> None:
        """Record one observation of a duration in milliseconds."""


class NoMetrics:
    """Drops every metric (the default)."""

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        pass

    def observe_ms(self, name: str, value_ms: float, **dimensions: str) -> None:
        pass


class RecordingMetrics:
    """Keeps every metric in memory (tests); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Dimensions], float] = defaultdict(float)
        self._observations: dict[tuple[str, Dimensions], list[float]] = defaultdict(list)

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        with self._lock:
            self._counts[name, dimension_set(dimensions)] += value

    def observe_ms(self, name: str, value_ms: float, **dimensions: str) -> None:
        with self._lock:
            self._observations[name, dimension_set(dimensions)].append(value_ms)

    def total(self, name: str, **dimensions: str) -> float:
        """The sum of counter `name` over every dimension set that includes `dimensions`
        (all of them when none are given); 0 when it was never counted."""
        wanted = set(dimensions.items())
        with self._lock:
            return sum(v for (n, d), v in self._counts.items() if n == name and wanted <= set(d))

    def observed(self, name: str, **dimensions: str) -> list[float]:
        """Every observation of `name` whose dimension set includes `dimensions`, in the
        order recorded within each dimension set."""
        wanted = set(dimensions.items())
        with self._lock:
            return [
                value
                for (n, d), values in self._observations.items()
                if n == name and wanted <= set(d)
                for value in values
            ]

    def counts(self) -> dict[tuple[str, Dimensions], float]:
        """A copy of every counter, keyed by name and dimension set."""
        with self._lock:
            return dict(self._counts)
