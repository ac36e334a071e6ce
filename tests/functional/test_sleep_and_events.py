"""Sleeps and events across suspensions, on the virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_workflows import (
    InstanceConflictError,
    InstanceNotFoundError,
    ValidationError,
    WaitTimeoutError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.clock import now_ms

from tests.functional.helpers import Calls

calls = Calls()
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Sleeper(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("before", lambda: calls.hit("before"))
        await step.sleep("a week", "7 days")
        await step.do("middle", lambda: calls.hit("middle"))
        await step.sleep_until("new year", datetime(2027, 1, 1, tzinfo=UTC))
        return await step.do("after", lambda: calls.hit("after"))


class Waiter(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        first = await step.wait_for_event("first", type="go", timeout="1 hour")
        second = await step.wait_for_event("second", type="go", timeout="1 hour")
        try:
            await step.wait_for_event("never", type="other", timeout="2 hours")
        except WaitTimeoutError as exc:
            late = exc.step
        return {"first": first, "second": second["payload"], "late": late}


class SelfSignal(WorkflowEntrypoint[Any]):
    """Sends itself an event while it runs: no wake-up is sent for a running instance."""

    async def run(self, event: Any, step: Any) -> Any:
        def signal() -> None:
            self.env.SELF_SIGNAL.get(event.instance_id).send_event("ping", {"n": 1})

        await step.do("signal", signal)
        got = await step.wait_for_event("ping", type="ping", timeout="1 hour")
        return got["payload"]


class Napper(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("short", "15 minutes")
        await step.sleep("long", "16 minutes")
        return "rested"


APP = WorkflowApp(
    [
        Workflow("sleeper", Sleeper),
        Workflow("waiter", Waiter),
        Workflow("self-signal", SelfSignal, binding="SELF_SIGNAL"),
        Workflow("napper", Napper),
    ]
)


@pytest.fixture
def env(make_env: Any) -> Any:
    environment = make_env(APP, start=START)
    calls.reset(environment.clock)
    return environment


def test_sleep_and_sleep_until_suspend_and_resume_at_the_right_times(env: Any) -> None:
    instance = env.binding("sleeper").create(id="s")
    env.run_until_idle()
    assert instance.status().status == "waiting"
    assert calls.count == {"before": 1}

    env.advance("6 days")
    assert calls.count == {"before": 1}
    assert instance.status().status == "waiting"

    env.advance("1 day")
    assert calls.count == {"before": 1, "middle": 1}
    assert calls.times["middle"][0] - START >= timedelta(days=7)

    status = env.wait_for_status("sleeper", "s", "complete").to_dict()
    assert calls.times["after"][0] >= datetime(2027, 1, 1, tzinfo=UTC)
    assert calls.times["after"][0] < datetime(2027, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert dict(calls.count) == {"before": 1, "middle": 1, "after": 1}
    assert [s["type"] for s in status["steps"]] == ["do", "sleep", "do", "sleep", "do"]


def test_events_sent_before_the_wait_are_buffered_fifo_and_consumed_once(env: Any) -> None:
    instance = env.binding("waiter").create(id="w")
    instance.send_event("go", {"n": 1})
    instance.send_event("go", {"n": 2})
    status = env.wait_for_status("waiter", "w", "complete").to_dict()
    assert status["output"]["first"]["payload"] == {"n": 1}
    assert status["output"]["first"]["type"] == "go"
    assert status["output"]["second"] == {"n": 2}
    assert status["output"]["late"] == "never"


def test_event_sent_after_the_wait_wakes_the_instance(env: Any) -> None:
    instance = env.binding("waiter").create(id="w")
    env.run_until_idle()
    assert instance.status().status == "waiting"
    env.advance("10 minutes")
    instance.send_event("go", {"n": 1})
    env.run_until_idle()
    steps = {s["name"]: s for s in instance.status().to_dict()["steps"]}
    assert steps["first"]["status"] == "succeeded"
    assert steps["second"]["status"] == "waiting"
    instance.send_event("go", {"n": 2})
    status = env.wait_for_status("waiter", "w", "complete").to_dict()
    assert status["output"]["first"]["timestamp"] == (START + timedelta(minutes=10)).isoformat()
    assert status["output"]["second"] == {"n": 2}


def test_wait_timeout_without_catching_errors_the_instance(env: Any) -> None:
    env.binding("waiter").create(id="w")
    status = env.wait_for_status("waiter", "w", "errored").to_dict()
    assert status["error"]["name"] == "WaitTimeoutError"
    assert env.now() - START >= timedelta(hours=1)
    assert status["steps"][0]["status"] == "timedOut"


def test_event_id_makes_a_resent_event_a_no_op(env: Any) -> None:
    instance = env.binding("waiter").create(id="w")
    instance.send_event("go", {"n": 1}, event_id="e1")
    instance.send_event("go", {"n": 1}, event_id="e1")
    instance.send_event("go", {"n": 2}, event_id="e2")
    status = env.wait_for_status("waiter", "w", "complete").to_dict()
    assert status["output"]["second"] == {"n": 2}
    assert len(status["events"]) == 2


def test_events_for_missing_or_finished_instances_and_bad_types(env: Any) -> None:
    binding = env.binding("waiter")
    with pytest.raises(InstanceNotFoundError):
        binding.get("missing")
    instance = binding.create(id="w")
    with pytest.raises(ValidationError):
        instance.send_event("has.dot", {})
    with pytest.raises(ValidationError):
        instance.send_event("x" * 101, {})
    instance.terminate()
    with pytest.raises(InstanceConflictError):
        instance.send_event("go", {})
    assert instance.status().to_dict()["events"] == []


def test_an_event_sent_while_the_instance_runs_is_not_lost(env: Any) -> None:
    env.binding("self-signal").create(id="p")
    env.run_until_idle()
    status = env.binding("self-signal").get("p").status().to_dict()
    assert status["status"] == "complete", status
    assert status["output"] == {"n": 1}
    assert env.now() == START
    assert env.pump.invocations == 1


def _pending(env: Any) -> tuple[list[int], list[str]]:
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"]["us-east-1"].queues["lwf-wakeups"]
    now = now_ms(env.clock)
    delays = [round((m.delayed_until - now) / 1000) for m in queue._messages]
    scheduler = env.cloud.client("scheduler")
    group = env.cloud.settings.schedule_group
    expressions = [
        scheduler.get_schedule(Name=s["Name"], GroupName=group)["ScheduleExpression"]
        for s in scheduler.list_schedules(GroupName=group)["Schedules"]
    ]
    return delays, expressions


def test_short_delays_ride_sqs_and_long_ones_eventbridge_scheduler(env: Any) -> None:
    instance = env.binding("napper").create(id="n")
    env.run_until_idle()
    assert _pending(env) == ([15 * 60], [])
    env.advance("901 seconds")
    assert instance.status().to_dict()["steps"][1]["status"] == "sleeping"
    delays, expressions = _pending(env)
    assert delays == []
    assert expressions == ["at(2026-03-01T12:31:01)"]
    status = env.wait_for_status("napper", "n", "complete").to_dict()
    assert status["output"] == "rested"
    assert _pending(env) == ([], [])
