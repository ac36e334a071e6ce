"""The worker's metrics and log keys, through the test harness with `RecordingMetrics`."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from lambda_workflows import (
    NonRetryableError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowStep,
)
from lambda_workflows.metrics import (
    RecordingMetrics,
    StepFailures,
    StepRetries,
    StepsCompleted,
    Suspensions,
    WakeupLagMs,
)
from lambda_workflows.runtime.worker import logger as worker_logger
from lambda_workflows.testing import WorkflowTestEnv

from tests.functional.helpers import Calls

calls = Calls()


class TwoStepsAndANap(WorkflowEntrypoint[Any]):
    """Step `flaky` fails once and succeeds on its retry 10 seconds later."""

    async def run(self, event: Any, step: WorkflowStep) -> Any:
        def flaky() -> str:
            if calls.hit("flaky") == 1:
                raise RuntimeError("boom")
            return "b"

        first = await step.do("first", lambda: "a")
        second = await step.do("flaky", flaky, retries={"limit": 2, "delay": "10 seconds"})
        await step.sleep("nap", "1 hour")
        return first + second


class FailsForGood(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        def bad() -> None:
            raise NonRetryableError("bad input")

        await step.do("ok", lambda: 1)
        await step.do("bad", bad)


APP = WorkflowApp(
    [Workflow("two-steps", TwoStepsAndANap), Workflow("fails-for-good", FailsForGood)]
)


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def env(make_env: Any, metrics: RecordingMetrics) -> WorkflowTestEnv:
    environment: WorkflowTestEnv = make_env(APP, metrics=metrics)
    calls.reset(environment.clock)
    return environment


def test_step_counts_of_a_retry_and_a_sleep(
    env: WorkflowTestEnv, metrics: RecordingMetrics
) -> None:
    """Three invocations (start, after the retry delay, after the nap) replay `first`
    twice and `flaky` once, yet each success counts once. Suspensions: exactly two,
    the retry delay and the nap; the last invocation completes. The first wake-up is
    picked up 5 s after the instance was due; the harness runs the others on time."""
    env.binding("two-steps").create(id="i", params={})
    env.clock.advance(timedelta(seconds=5))
    assert env.wait_for_status("two-steps", "i", "complete").output == "ab"
    assert calls.count["flaky"] == 2
    assert metrics.total(StepsCompleted, workflow="two-steps") == 2
    assert metrics.total(StepRetries, workflow="two-steps") == 1
    assert metrics.total(Suspensions, workflow="two-steps") == 2
    assert metrics.total(StepFailures) == 0
    assert metrics.observed(WakeupLagMs, workflow="two-steps") == [5_000, 0, 0]
    assert {d for (_, dims) in metrics.counts() for d in dims} == {("workflow", "two-steps")}


def test_a_step_failing_for_good_counts_one_failure(
    env: WorkflowTestEnv, metrics: RecordingMetrics
) -> None:
    env.binding("fails-for-good").create(id="j", params={})
    env.wait_for_status("fails-for-good", "j", "errored")
    assert metrics.total(StepFailures, workflow="fails-for-good") == 1
    assert metrics.total(StepsCompleted, workflow="fails-for-good") == 1
    assert metrics.total(StepRetries) == 0
    assert metrics.total(Suspensions) == 0


class Logged(WorkflowEntrypoint[Any]):
    """A step that fails once, logs from its own thread and from a thread it starts."""

    async def run(self, event: Any, step: WorkflowStep) -> Any:
        def noisy() -> str:
            worker_logger.warning("in the step")
            thread = threading.Thread(target=worker_logger.warning, args=("another thread",))
            thread.start()
            thread.join()
            if calls.hit("noisy") == 1:
                raise RuntimeError("boom")
            return "ok"

        return await step.do("noisy", noisy, retries={"limit": 1, "delay": "0 seconds"})


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_log_lines_of_a_wakeup_carry_its_keys_and_nothing_leaks(
    make_env: Any, log_stream: io.StringIO
) -> None:
    """The retry warning (operations/do.py's child logger) and the step's own lines carry
    `workflow` and `instance_id`; a line of a thread the step starts carries neither,
    nor does a line logged after the wake-up. The retry without delay counts too."""
    metrics = RecordingMetrics()
    env: WorkflowTestEnv = make_env(WorkflowApp([Workflow("logged", Logged)]), metrics=metrics)
    calls.reset(env.clock)
    env.binding("logged").create(id="l-1", params={})
    assert env.wait_for_status("logged", "l-1", "complete").output == "ok"
    worker_logger.warning("after the wake-up")
    assert (metrics.total(StepRetries), metrics.total(StepsCompleted)) == (1, 1)
    assert metrics.total(Suspensions) == 0

    lines = {line["message"]: line for line in _lines(log_stream)}
    keys = {"workflow": "logged", "instance_id": "l-1"}
    for message in ("step attempt failed", "in the step"):
        assert {k: lines[message].get(k) for k in keys} == keys, message
    assert lines["step attempt failed"]["step"] == "noisy"
    for message in ("another thread", "after the wake-up"):
        assert not set(keys) & set(lines[message]), message
