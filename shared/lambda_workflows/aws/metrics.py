"""Metrics as CloudWatch embedded metric format (EMF) log lines, through Powertools."""

from __future__ import annotations

import threading
from collections import defaultdict

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from lambda_workflows.metrics import Dimensions, dimension_set

DEFAULT_NAMESPACE = "LambdaWorkflows"
SERVICE = "lambda-workflows"


class EmfMetrics:
    """Buffers metrics in memory (thread-safe) until `flush`, which prints one EMF blob
    per dimension set to stdout, where CloudWatch Logs turns them into metrics.

    Counters are summed per name and dimension set; timings keep every value (EMF
    carries up to 100 per blob; Powertools starts a new blob past that). Every blob also
    has the dimension `service`.
    """

    def __init__(self, namespace: str = DEFAULT_NAMESPACE, service: str = SERVICE) -> None:
        self.namespace = namespace
        self.service = service
        self._lock = threading.Lock()
        self._counts: dict[Dimensions, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._timings: dict[Dimensions, dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def count(self, name: str, value: float = 1, **dimensions: str) -> None:
        with self._lock:
            self._counts[dimension_set(dimensions)][name] += value

    def observe_ms(self, name: str, value_ms: float, **dimensions: str) -> None:
        with self._lock:
            self._timings[dimension_set(dimensions)][name].append(value_ms)

    def flush(self) -> None:
        """Print what was recorded since the last flush (nothing when nothing was)."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: defaultdict(float))
            timings, self._timings = self._timings, defaultdict(lambda: defaultdict(list))
            for dimensions in sorted(set(counts) | set(timings)):
                blob = self._blob(dimensions)
                for name, total in sorted(counts.get(dimensions, {}).items()):
                    blob.add_metric(name=name, unit=MetricUnit.Count, value=total)
                for name, values in sorted(timings.get(dimensions, {}).items()):
                    for value in values:
                        blob.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
                blob.flush_metrics()

    def _blob(self, dimensions: Dimensions) -> EphemeralMetrics:
        """Powertools metrics of one dimension set: `EphemeralMetrics`, because `Metrics`
        objects share one metric set and dimension set between them."""
        blob = EphemeralMetrics(namespace=self.namespace, service=self.service)
        for name, value in dimensions:
            blob.add_dimension(name=name, value=value)
        return blob
