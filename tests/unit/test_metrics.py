"""The metrics port: `RecordingMetrics`, the EMF adapter's output, the worker handler's
flush and request id."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint, WorkflowStep
from lambda_workflows.aws.factory import deployed_engine
from lambda_workflows.aws.metrics import EmfMetrics
from lambda_workflows.blobs import MemoryBlobStore
from lambda_workflows.clock import VirtualClock
from lambda_workflows.engine import Engine
from lambda_workflows.handlers.worker import WorkerHandler
from lambda_workflows.journal import MemoryJournal
from lambda_workflows.metrics import (
    ClientErrors,
    NoMetrics,
    RecordingMetrics,
    StepsCompleted,
    WakeupLagMs,
)
from lambda_workflows.payloads import Payloads
from lambda_workflows.runtime.worker import logger as worker_logger
from lambda_workflows.services import Services
from lambda_workflows.settings import Settings
from lambda_workflows.wakeups import MemoryWakeups

from tests.unit.memory_engine import MemoryEngine


def _in_threads(count: int, work: Callable[[], None]) -> None:
    """Run `work` on `count` threads released together."""
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        work()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- RecordingMetrics ----------------------------------------------------------------------


def test_recording_metrics_totals_per_name_and_dimensions() -> None:
    metrics = RecordingMetrics()
    metrics.count(StepsCompleted, workflow="a")
    metrics.count(StepsCompleted, 2, workflow="a")
    metrics.count(StepsCompleted, workflow="b")
    metrics.count(ClientErrors)
    metrics.observe_ms(WakeupLagMs, 12.5, workflow="a")
    metrics.observe_ms(WakeupLagMs, 0, workflow="b")
    assert metrics.total(StepsCompleted, workflow="a") == 3
    assert metrics.total(StepsCompleted, workflow="b") == 1
    assert metrics.total(StepsCompleted) == 4
    assert metrics.total(StepsCompleted, workflow="c") == 0
    assert metrics.total(ClientErrors) == 1
    assert metrics.total(WakeupLagMs) == 0  # an observation is not a counter
    assert metrics.observed(WakeupLagMs, workflow="a") == [12.5]
    assert sorted(metrics.observed(WakeupLagMs)) == [0, 12.5]
    assert metrics.counts() == {
        (StepsCompleted, (("workflow", "a"),)): 3,
        (StepsCompleted, (("workflow", "b"),)): 1,
        (ClientErrors, ()): 1,
    }


def test_recording_metrics_lose_nothing_to_concurrent_threads() -> None:
    metrics = RecordingMetrics()

    def work() -> None:
        for _ in range(2_000):
            metrics.count(StepsCompleted, workflow="a")
            metrics.observe_ms(WakeupLagMs, 1, workflow="a")

    _in_threads(4, work)
    assert metrics.total(StepsCompleted) == 8_000
    assert len(metrics.observed(WakeupLagMs)) == 8_000


def test_no_metrics_is_the_default_and_keeps_nothing() -> None:
    engine = MemoryEngine(WorkflowApp([]))
    assert isinstance(engine.engine.services.metrics, NoMetrics)
    NoMetrics().count(StepsCompleted, workflow="a")
    NoMetrics().observe_ms(WakeupLagMs, 1)


# -- EmfMetrics ----------------------------------------------------------------------------


def _blobs(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_emf_blobs_one_per_dimension_set(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics(namespace="Test/Workflows")
    metrics.count(StepsCompleted, workflow="orders")
    metrics.count(StepsCompleted, 2, workflow="orders")
    metrics.observe_ms(WakeupLagMs, 120, workflow="orders")
    metrics.observe_ms(WakeupLagMs, 80, workflow="orders")
    metrics.count(StepsCompleted, workflow="billing")
    metrics.count(ClientErrors)
    capsys.readouterr()
    metrics.flush()
    blobs = {blob.get("workflow"): blob for blob in _blobs(capsys)}
    assert len(blobs) == 3
    assert set(blobs) == {"orders", "billing", None}

    orders = blobs["orders"]
    (directive,) = orders["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Test/Workflows"
    assert [sorted(names) for names in directive["Dimensions"]] == [["service", "workflow"]]
    assert sorted((m["Name"], m["Unit"]) for m in directive["Metrics"]) == [
        (StepsCompleted, "Count"),
        (WakeupLagMs, "Milliseconds"),
    ]
    assert orders["service"] == "lambda-workflows"
    assert orders[StepsCompleted] == [3.0]  # counters are summed before they are written
    assert orders[WakeupLagMs] == [120.0, 80.0]  # timings keep every value
    assert blobs["billing"][StepsCompleted] == [1.0]
    assert WakeupLagMs not in blobs["billing"]

    plain = blobs[None]
    assert plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert plain[ClientErrors] == [1.0]
    assert StepsCompleted not in plain


def test_emf_flush_writes_only_what_is_new(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics()
    metrics.flush()
    assert capsys.readouterr().out == ""
    metrics.count(StepsCompleted, workflow="a")
    metrics.flush()
    (blob,) = _blobs(capsys)
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LambdaWorkflows"
    assert blob[StepsCompleted] == [1.0]
    metrics.flush()
    assert capsys.readouterr().out == ""


def test_emf_counts_from_two_threads_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics()

    def work() -> None:
        for _ in range(5_000):
            metrics.count(StepsCompleted, workflow="a")
        metrics.observe_ms(WakeupLagMs, 7, workflow="a")

    _in_threads(2, work)
    metrics.flush()
    (blob,) = _blobs(capsys)
    assert blob["workflow"] == "a"
    assert blob[StepsCompleted] == [10_000.0]
    assert blob[WakeupLagMs] == [7.0, 7.0]


def test_emf_flushes_while_other_threads_count(capsys: pytest.CaptureFixture[str]) -> None:
    """A flush racing with counters loses nothing and writes nothing twice."""
    metrics = EmfMetrics()
    stop = threading.Event()

    def count() -> None:
        for _ in range(20_000):
            metrics.count(StepsCompleted, workflow="a")
        stop.set()

    def flush() -> None:
        while not stop.is_set():
            metrics.flush()

    threads = [threading.Thread(target=count), threading.Thread(target=flush)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics.flush()
    blobs = _blobs(capsys)
    assert sum(v for b in blobs for v in b[StepsCompleted]) == 20_000


def test_the_deployed_engine_writes_emf_to_the_settings_namespace() -> None:
    settings = Settings(
        table_name="t",
        queue_url="https://sqs.us-east-1.amazonaws.com/1/q",
        bucket_name="b",
        region="us-east-1",
        metrics_namespace="Shop/Workflows",
    )
    metrics = deployed_engine(WorkflowApp([]), settings).services.metrics
    assert isinstance(metrics, EmfMetrics)
    assert metrics.namespace == "Shop/Workflows"
    assert Settings.from_env({**settings.to_env(), "LWF_METRICS_NAMESPACE": "X"}) == (
        settings.model_copy(update={"metrics_namespace": "X"})
    )


# -- the worker handler --------------------------------------------------------------------


class OneStep(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        def work() -> int:
            worker_logger.warning("working")
            return 1

        return await step.do("work", work)


@dataclasses.dataclass
class _Context:
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class _BareContext:
    """A context with no request id (a local runner's)."""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _batch(wakeups: MemoryWakeups) -> dict[str, Any]:
    records = [
        {
            "messageId": str(n),
            "receiptHandle": str(n),
            "body": wakeup.to_json(),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
            "awsRegion": "us-east-1",
        }
        for n, (wakeup, _) in enumerate(wakeups.sent)
    ]
    wakeups.sent.clear()
    return {"Records": records}


@pytest.mark.parametrize(("context", "request_id"), [(_Context(), "req-1"), (_BareContext(), None)])
def test_the_worker_handler_flushes_after_the_batch_and_logs_the_request_id(
    capsys: pytest.CaptureFixture[str], log_stream: io.StringIO, context: Any, request_id: Any
) -> None:
    wakeups = MemoryWakeups()
    services = Services(
        MemoryJournal(), Payloads(MemoryBlobStore()), wakeups, VirtualClock(), metrics=EmfMetrics()
    )
    engine = Engine(WorkflowApp([Workflow("one", OneStep)]), services)
    engine.binding("one").create(id="a")
    engine.binding("one").create(id="b")
    capsys.readouterr()

    response = WorkerHandler(lambda: engine)(_batch(wakeups), context)

    assert response == {"batchItemFailures": []}
    (blob,) = _blobs(capsys)
    assert blob["workflow"] == "one"
    assert blob[StepsCompleted] == [2.0]
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    working = [line for line in lines if line["message"] == "working"]
    assert sorted(line["instance_id"] for line in working) == ["a", "b"]
    assert all(line.get("request_id") == request_id for line in working)
    worker_logger.warning("after the batch")
    after = json.loads(log_stream.getvalue().splitlines()[-1])
    assert {"request_id", "workflow", "instance_id"}.isdisjoint(after)
