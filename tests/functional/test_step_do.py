"""step.do: retries and backoff on the virtual clock, timeouts, errors, results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from lambda_workflows import (
    NonRetryableError,
    StepContext,
    StepError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowStep,
)
from pydantic import BaseModel

from tests.functional.helpers import Calls

calls = Calls()


class FlakyParams(BaseModel):
    failures: int = 3
    backoff: str = "exponential"
    limit: int = 5


class Flaky(WorkflowEntrypoint[FlakyParams]):
    async def run(self, event: Any, step: Any) -> Any:
        params = event.payload

        def flaky() -> str:
            if calls.hit("flaky") <= params.failures:
                raise RuntimeError(f"boom {calls.count['flaky']}")
            return "ok"

        return await step.do(
            "flaky",
            flaky,
            retries={"limit": params.limit, "delay": "10 seconds", "backoff": params.backoff},
        )


class Catching(WorkflowEntrypoint[FlakyParams]):
    async def run(self, event: Any, step: Any) -> Any:
        def fail() -> None:
            calls.hit("fail")
            raise NonRetryableError("bad input", "BadInput")

        try:
            await step.do("fail", fail)
        except StepError as exc:
            return {"step": exc.step, "type": exc.error_type, "message": exc.message}
        return None


class Slow(WorkflowEntrypoint[FlakyParams]):
    async def run(self, event: Any, step: Any) -> Any:
        def slow(ctx: StepContext) -> int:
            calls.hit("slow")
            if ctx.attempt == 1:
                calls.clock.advance(timedelta(seconds=31))
            return ctx.attempt

        return await step.do(
            "slow", slow, timeout="30 seconds", retries={"limit": 2, "delay": "1 second"}
        )


class Model(BaseModel):
    name: str
    size: int


class Results(WorkflowEntrypoint[FlakyParams]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        model = await step.do("model", lambda: Model(name="a", size=1))

        @step.do("decorated", retries={"limit": 0})
        async def decorated(ctx: StepContext) -> dict[str, Any]:
            calls.hit("decorated")
            return {"attempt": ctx.attempt, "name": ctx.step_name, "when": "now"}

        dec = await decorated()
        tup = await step.do("tuple", lambda: (1, 2))
        big = await step.do("big", lambda: "x" * 500_000)
        await step.sleep("nap", "1 minute")
        return {"model": model, "dec": dec, "tuple": tup, "big": len(big)}


class NotJson(WorkflowEntrypoint[FlakyParams]):
    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("set", lambda: {1, 2})


APP = WorkflowApp(
    [
        Workflow("flaky", Flaky),
        Workflow("catching", Catching),
        Workflow("slow", Slow),
        Workflow("results", Results),
        Workflow("not-json", NotJson),
    ]
)


@pytest.fixture
def env(make_env: Any) -> Any:
    environment = make_env(APP)
    calls.reset(environment.clock)
    return environment


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        ("constant", [0, 10, 20, 30]),
        ("linear", [0, 10, 30, 60]),
        ("exponential", [0, 10, 30, 70]),
    ],
)
def test_backoff_attempt_times_on_the_virtual_clock(
    env: Any, backoff: str, expected: list[int]
) -> None:
    env.binding("flaky").create(id="i", params={"failures": 3, "backoff": backoff})
    status = env.wait_for_status("flaky", "i", "complete").to_dict()
    assert status["output"] == "ok"
    assert calls.count["flaky"] == 4
    assert calls.seconds("flaky") == pytest.approx(expected, abs=1.01)
    (step,) = status["steps"]
    assert step["attempts"] == 4
    assert [a.get("error", {}).get("message") for a in step["attempt_log"]] == [
        "boom 1",
        "boom 2",
        "boom 3",
        None,
    ]


def test_retries_exhausted_errors_the_instance(env: Any) -> None:
    env.binding("flaky").create(id="i", params={"failures": 10, "limit": 2})
    status = env.wait_for_status("flaky", "i", "errored").to_dict()
    assert calls.count["flaky"] == 3
    assert status["error"]["name"] == "StepError"
    assert status["error"]["step"] == "flaky"
    assert "boom 3" in status["error"]["message"]
    assert status["steps"][0]["status"] == "failed"


def test_non_retryable_error_stops_at_once_and_is_catchable(env: Any) -> None:
    env.binding("catching").create(id="i")
    status = env.wait_for_status("catching", "i", "complete").to_dict()
    assert calls.count["fail"] == 1
    assert status["output"] == {"step": "fail", "type": "BadInput", "message": "bad input"}


def test_timed_out_attempt_is_a_failed_attempt(env: Any) -> None:
    env.binding("slow").create(id="i")
    status = env.wait_for_status("slow", "i", "complete").to_dict()
    assert status["output"] == 2
    log = status["steps"][0]["attempt_log"]
    assert log[0]["error"]["name"] == "StepTimeoutError"
    assert "error" not in log[1]


def test_results_round_trip_as_json_and_large_ones_go_to_s3(env: Any) -> None:
    env.binding("results").create(id="i")
    status = env.wait_for_status("results", "i", "complete").to_dict()
    assert status["output"] == {
        "model": {"name": "a", "size": 1},
        "dec": {"attempt": 1, "name": "decorated", "when": "now"},
        "tuple": [1, 2],
        "big": 500_000,
    }
    assert calls.count["decorated"] == 1
    snapshot = env.engine.services.journal.load("results", "i")
    big = snapshot.steps["big#0"]
    assert big.result is None
    assert big.result_ref is not None
    s3 = env.cloud.client("s3")
    body = s3.get_object(Bucket=env.cloud.settings.bucket_name, Key=big.result_ref)["Body"].read()
    assert len(body) == 500_002


def test_non_json_result_fails_the_step_clearly(env: Any) -> None:
    env.binding("not-json").create(id="i")
    status = env.wait_for_status("not-json", "i", "errored").to_dict()
    assert "'set'" in status["error"]["message"]
    assert "set is not JSON serializable" in status["error"]["message"]
    assert status["steps"][0]["attempts"] == 1
