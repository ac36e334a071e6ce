"""The test harness itself: introspection modifiers, waits and time skipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_workflows import (
    NonRetryableError,
    StepError,
    ValidationError,
    WaitTimeoutError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.testing import StatusNotReachedError, WorkflowTestEnv

from tests.functional.helpers import Calls

calls = Calls()
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


class Charge(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        quote = await step.do("quote", lambda: calls.hit("quote") and {"amount": 42})
        paid = await step.do("charge", lambda: calls.hit("charge") and "paid")
        return {"quote": quote, "paid": paid}


class Repeats(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return [await step.do("tick", lambda n=n: calls.hit("tick") and n) for n in range(3)]


class SleepsAndWaits(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("a week", "7 days")
        await step.sleep("an hour", "1 hour")
        try:
            got = await step.wait_for_event("answer", type="answer", timeout="1 day")
        except WaitTimeoutError:
            return "no answer"
        return got["payload"]


APP = WorkflowApp(
    [
        Workflow("charge", Charge),
        Workflow("repeats", Repeats),
        Workflow("sleeps", SleepsAndWaits),
    ]
)


@pytest.fixture
def env(make_env: Any) -> WorkflowTestEnv:
    environment: WorkflowTestEnv = make_env(APP, start=START)
    calls.reset(environment.clock)
    return environment


def test_mock_step_result_keeps_the_real_function_from_running(env: WorkflowTestEnv) -> None:
    with env.introspect("charge", "c1") as i:
        i.mock_step_result("charge", "mocked")
        env.binding("charge").create(id="c1")
        assert i.wait_for_step_result("charge") == "mocked"
        assert i.wait_for_status("complete").output == {
            "quote": {"amount": 42},
            "paid": "mocked",
        }
    assert calls.count == {"quote": 1}
    assert i.steps()[1]["status"] == "succeeded"


def test_mock_step_error_twice_then_the_third_attempt_succeeds(env: WorkflowTestEnv) -> None:
    i = env.introspect("charge", "c2")
    i.mock_step_error("charge", ConnectionError("card network down"), times=2)
    env.binding("charge").create(id="c2")
    assert i.wait_for_step_result("charge") == "paid"
    assert calls.count == {"quote": 1, "charge": 1}
    charge = i.steps()[1]
    assert charge["attempts"] == 3
    log = charge["attempt_log"]
    assert [a["error"]["name"] for a in log[:2]] == ["ConnectionError", "ConnectionError"]
    assert "error" not in log[2]
    started = [datetime.fromisoformat(a["started_at"]) - START for a in log]
    assert started == [timedelta(0), timedelta(seconds=10), timedelta(seconds=30)]
    assert calls.times["charge"] == [START + timedelta(seconds=30)]


def test_errors_until_retries_run_out_and_non_retryable_errors(env: WorkflowTestEnv) -> None:
    with env.introspect("charge", "always") as i:
        i.mock_step_error("quote", "quote service down")
        env.binding("charge").create(id="always")
        with pytest.raises(StepError, match="quote service down"):
            i.wait_for_step_result("quote")
        assert i.wait_for_status("errored").to_dict()["steps"][0]["attempts"] == 6
        assert i.error() == {
            "name": "StepError",
            "message": "step 'quote' failed: Exception: quote service down",
            "step": "quote",
        }
    with env.introspect("charge", "once") as i:
        i.mock_step_error("quote", NonRetryableError("bad card"))
        env.binding("charge").create(id="once")
        assert i.wait_for_status("errored").to_dict()["steps"][0]["attempts"] == 1
    assert calls.count == {}


def test_force_step_timeout(env: WorkflowTestEnv) -> None:
    with env.introspect("charge", "slow") as i:
        i.force_step_timeout("charge", times=1)
        env.binding("charge").create(id="slow")
        assert i.wait_for_status("complete").output["paid"] == "paid"
        first = i.steps()[1]["attempt_log"][0]
        assert first["error"]["name"] == "StepTimeoutError"
    with env.introspect("charge", "never") as i:
        i.force_step_timeout("charge")
        env.binding("charge").create(id="never")
        assert (
            i.wait_for_status("errored")
            .to_dict()["error"]["message"]
            .startswith("step 'charge' failed: StepTimeoutError")
        )


def test_mock_step_result_by_index(env: WorkflowTestEnv) -> None:
    with env.introspect("repeats", "r") as i:
        i.mock_step_result("tick", 100, index=1)
        env.binding("repeats").create(id="r")
        assert i.wait_for_step_result("tick", index=2) == 2
        assert i.output() == [0, 100, 2]
    assert calls.count == {"tick": 2}


def test_disable_sleeps_keeps_the_clock_still(env: WorkflowTestEnv) -> None:
    with env.introspect("sleeps", "s") as i:
        i.disable_sleeps()
        i.mock_event("answer", "yes")
        env.binding("sleeps").create(id="s")
        assert i.wait_for_status("complete").output == "yes"
    assert env.now() == START


def test_disable_named_sleeps_only_and_after_the_instance_started(env: WorkflowTestEnv) -> None:
    env.binding("sleeps").create(id="s")
    env.run_until_idle()
    with env.introspect("sleeps", "s") as i:
        assert i.steps()[0]["status"] == "sleeping"
        i.disable_sleeps(["a week"])
        env.run_until_idle()
        assert [s["status"] for s in i.steps()] == ["succeeded", "sleeping"]
        assert env.now() == START
        i.mock_event("answer", {"ok": True})
        assert i.wait_for_status("complete").output == {"ok": True}
    assert env.now() == START + timedelta(hours=1)


def test_force_event_timeout_wins_over_a_waiting_event(env: WorkflowTestEnv) -> None:
    with env.introspect("sleeps", "t") as i:
        i.disable_sleeps()
        i.mock_event("answer", "too late")
        i.force_event_timeout("answer")
        env.binding("sleeps").create(id="t")
        assert i.wait_for_status("complete").output == "no answer"
        assert i.steps()[2]["status"] == "timedOut"
        with pytest.raises(WaitTimeoutError):
            i.wait_for_step_result("answer")
    assert env.now() == START


def test_the_week_long_sleep_skips_in_virtual_time(env: WorkflowTestEnv) -> None:
    env.binding("sleeps").create(id="w")
    with env.introspect("sleeps", "w") as i:
        assert i.wait_for_status("complete").output == "no answer"
    assert env.now() - START >= timedelta(days=8, hours=1)


def test_workflow_wide_introspection_applies_to_every_instance(env: WorkflowTestEnv) -> None:
    with env.introspect("charge") as every:
        every.mock_step_result("quote", {"amount": 1})
        for n in range(3):
            env.binding("charge").create(id=f"w{n}")
        for n in range(3):
            output = env.wait_for_status("charge", f"w{n}", "complete").output
            assert output["quote"] == {"amount": 1}
        with pytest.raises(ValidationError, match="every instance"):
            every.output()
    env.binding("charge").create(id="after")
    assert env.wait_for_status("charge", "after", "complete").output["quote"] == {"amount": 42}
    assert calls.count == {"charge": 4, "quote": 1}


def test_mock_event_reaches_every_instance_of_a_workflow(env: WorkflowTestEnv) -> None:
    with env.introspect("sleeps") as every:
        every.disable_sleeps()
        every.mock_event("answer", "broadcast")
        env.binding("sleeps").create_batch([{"id": "a"}, {"id": "b"}])
        for instance_id in ("a", "b"):
            assert env.wait_for_status("sleeps", instance_id, "complete").output == "broadcast"


def test_an_unreachable_wait_says_where_the_instance_is(env: WorkflowTestEnv) -> None:
    with env.introspect("charge", "x") as i:
        i.mock_step_error("quote", NonRetryableError("nope"))
        env.binding("charge").create(id="x")
        with pytest.raises(StatusNotReachedError) as raised:
            i.wait_for_status("complete")
        message = str(raised.value)
        assert "'errored'" in message
        assert "'quote' (failed)" in message
        with pytest.raises(StepError):
            i.wait_for_step_result("quote")
        with pytest.raises(StatusNotReachedError, match="a result for step 'charge'"):
            i.wait_for_step_result("charge")


def test_bad_modifiers_and_queries_raise_clearly(env: WorkflowTestEnv) -> None:
    i = env.introspect("charge", "bad")
    with pytest.raises(ValidationError):
        i.mock_step_error("charge", "boom", times=0)
    with pytest.raises(ValidationError):
        i.mock_step_result("charge", object())
    with pytest.raises(ValidationError):
        i.mock_event("has.dot", {})
    with pytest.raises(ValidationError):
        i.mock_step_result("x" * 257, 1)
    with pytest.raises(ValidationError, match="not a status"):
        env.wait_for_status("charge", "bad", "finished")
    with pytest.raises(ValidationError):
        env.introspect("charge", "bad id")
    with pytest.raises(LookupError):
        env.introspect("no-such-workflow")


def test_the_workflows_fixture_runs_the_configured_app(workflows: WorkflowTestEnv) -> None:
    assert "approval" in workflows.app.names
    with workflows.introspect("approval", "fixture") as i:
        i.mock_event("approval-response", {"approved": True})
        workflows.binding("approval").create(id="fixture", params={"user_id": "u"})
        assert i.wait_for_status("complete").output == {"approved": True}


class Spawner(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("later", "1 hour")
        await step.do("spawn", lambda: self.env.CHARGE.create(id="spawned").id)


def test_waits_on_an_instance_that_something_else_creates_later(make_env: Any) -> None:
    env: WorkflowTestEnv = make_env(
        WorkflowApp([Workflow("charge", Charge, binding="CHARGE"), Workflow("spawner", Spawner)])
    )
    calls.reset(env.clock)
    with env.introspect("charge", "spawned") as i:
        env.binding("spawner").create(id="s")
        assert i.wait_for_step_result("quote") == {"amount": 42}
        assert i.wait_for_status("complete").output["paid"] == "paid"
    with pytest.raises(StatusNotReachedError, match="does not exist"):
        env.wait_for_status("charge", "never-created", "complete")


def test_only_one_env_at_a_time(env: WorkflowTestEnv) -> None:
    with pytest.raises(RuntimeError, match="another WorkflowTestEnv is open"), WorkflowTestEnv(APP):
        pass
    assert env.binding("charge").create(id="still-works").id == "still-works"
