"""Invariant 7: no crash between a DynamoDB write and the SQS send after it strands an
instance (idempotent create retry, the sweeper, the wait's own deadline)."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import now_ms
from lambda_workflows.journal import InstanceStatus


class Simple(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("one", lambda: 1)
        await step.sleep("nap", "1 hour")
        return "done"


class Waits(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("wait", type="go", timeout="1 hour")
        return got["payload"]


APP = WorkflowApp([Workflow("simple", Simple), Workflow("waits", Waits)])


class SendCrashError(Exception):
    pass


@pytest.fixture
def env(make_env: Any) -> Any:
    return make_env(APP)


def _crash_next_send(env: Any, method: str) -> None:
    wakeups = env.engine.services.wakeups
    original = getattr(wakeups, method)

    def crash(*args: Any, **kwargs: Any) -> None:
        setattr(wakeups, method, original)
        raise SendCrashError(method)

    setattr(wakeups, method, crash)


def _purge(env: Any) -> None:
    """Lose every pending wake-up (messages and schedules)."""
    sqs = env.cloud.client("sqs")
    sqs.purge_queue(QueueUrl=env.cloud.settings.queue_url)
    scheduler = env.cloud.client("scheduler")
    group = env.cloud.settings.schedule_group
    for schedule in scheduler.list_schedules(GroupName=group)["Schedules"]:
        scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)


def test_create_retried_after_a_crash_before_the_start_message(env: Any) -> None:
    binding = env.binding("simple")
    _crash_next_send(env, "send_now")
    with pytest.raises(SendCrashError):
        binding.create(id="c", params={"a": 1})
    assert binding.get("c").status().status == "queued"
    binding.create(id="c", params={"a": 1})  # the client's retry re-sends the start
    env.run_until_idle()
    assert binding.get("c").status().to_dict()["steps"][0]["name"] == "one"
    assert env.wait_for_status("simple", "c", "complete").output == "done"


def test_sweeper_starts_a_create_that_was_never_retried(env: Any) -> None:
    binding = env.binding("simple")
    _crash_next_send(env, "send_now")
    with pytest.raises(SendCrashError):
        binding.create(id="c")
    env.run_until_idle()
    assert binding.get("c").status().status == "queued"
    assert env.wait_for_status("simple", "c", "complete").output == "done"


def test_sweeper_resends_a_lost_sleep_wakeup(env: Any) -> None:
    binding = env.binding("simple")
    binding.create(id="s")
    env.run_until_idle()
    assert binding.get("s").status().status == "waiting"
    _purge(env)
    env.advance("1 hour")
    assert binding.get("s").status().status == "waiting"
    assert env.engine.sweeper.sweep() == []  # not overdue by the grace period yet
    status = env.wait_for_status("simple", "s", "complete").to_dict()
    assert status["output"] == "done"


def test_crash_after_storing_an_event_is_covered_by_the_waits_deadline(env: Any) -> None:
    binding = env.binding("waits")
    instance = binding.create(id="w")
    env.run_until_idle()
    _crash_next_send(env, "send_now")
    with pytest.raises(SendCrashError):
        instance.send_event("go", "payload")
    env.advance("59 minutes")
    assert instance.status().status == "waiting"
    status = env.wait_for_status("waits", "w", "complete").to_dict()
    assert status["output"] == "payload"


def test_paused_and_finished_instances_are_never_swept(env: Any) -> None:
    binding = env.binding("simple")
    done = binding.create(id="done")
    env.wait_for_status("simple", "done", "complete")
    paused = binding.create(id="paused")
    env.run_until_idle()
    paused.pause()
    _purge(env)
    env.advance("3 hours")
    assert env.engine.sweeper.sweep() == []
    journal = env.engine.services.journal
    assert journal.list_due(now_ms(env.clock) + 10**9) == []
    assert paused.status().status == InstanceStatus.PAUSED
    assert done.status().status == InstanceStatus.COMPLETE
