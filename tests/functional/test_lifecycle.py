"""The instance API: create, batch, pause, resume, terminate, restart; bad input."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_workflows import (
    InstanceConflictError,
    InstanceNotFoundError,
    ValidationError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from pydantic import BaseModel

from tests.functional.helpers import Calls

calls = Calls()


class Params(BaseModel):
    user_id: str
    count: int = 1


class Steps(WorkflowEntrypoint[Params]):
    async def run(self, event: Any, step: Any) -> Any:
        a = await step.do("a", lambda: calls.hit("a"))
        await step.sleep("nap", "1 hour")
        b = await step.do("b", lambda: calls.hit("b"))
        return {"user": event.payload.user_id, "a": a, "b": b}


class Pauser(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("pause me", lambda: self.env.PAUSER.get(event.instance_id).pause())
        await step.do("after", lambda: calls.hit("after"))


class LongName(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("x" * 257, lambda: 1)


class Limited(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        for i in range(5):
            await step.do(f"s{i}", lambda: 1)


APP = WorkflowApp(
    [
        Workflow("steps", Steps),
        Workflow("long-name", LongName),
        Workflow("pauser", Pauser, binding="PAUSER"),
        Workflow("limited", Limited, step_limit=3),
    ]
)


@pytest.fixture
def env(make_env: Any) -> Any:
    environment = make_env(APP)
    calls.reset(environment.clock)
    return environment


def _queue_depth(env: Any) -> int:
    attributes = env.cloud.client("sqs").get_queue_attributes(
        QueueUrl=env.cloud.settings.queue_url, AttributeNames=["All"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesDelayed"]
    )


def test_pause_while_waiting_then_resume(env: Any) -> None:
    instance = env.binding("steps").create(id="p", params={"user_id": "u"})
    env.run_until_idle()
    instance.pause()
    assert instance.status().status == "paused"
    env.advance("2 hours")
    assert instance.status().status == "paused"
    assert calls.count["b"] == 0
    instance.resume()
    status = env.wait_for_status("steps", "p", "complete").to_dict()
    assert status["output"] == {"user": "u", "a": 1, "b": 1}


def test_pause_while_running_takes_effect_at_the_next_step_boundary(make_env: Any) -> None:
    """The test env looks at every step boundary (heartbeat 0) unless LWF_HEARTBEAT_MS is
    set, so a pause requested during a step takes effect right after it, as Cloudflare."""
    env = make_env(APP)
    instance = env.binding("pauser").create(id="p")
    env.run_until_idle()
    status = instance.status().to_dict()
    assert status["status"] == "paused"
    assert [s["name"] for s in status["steps"]] == ["pause me"]
    assert calls.count["after"] == 0
    instance.resume()
    assert env.wait_for_status("pauser", "p", "complete").to_dict()["steps"][-1]["name"] == "after"
    assert calls.count["after"] == 1


def test_terminate_makes_pending_wakeups_no_ops(env: Any) -> None:
    instance = env.binding("steps").create(id="t", params={"user_id": "u"})
    env.run_until_idle()
    instance.terminate()
    env.advance("2 hours")
    assert instance.status().status == "terminated"
    assert calls.count["b"] == 0
    with pytest.raises(InstanceConflictError):
        instance.terminate()
    with pytest.raises(InstanceConflictError):
        instance.resume()


def test_restart_from_scratch_and_from_a_step(env: Any) -> None:
    instance = env.binding("steps").create(id="r", params={"user_id": "u"})
    env.wait_for_status("steps", "r", "complete")
    assert dict(calls.count) == {"a": 1, "b": 1}

    instance.restart()
    status = env.wait_for_status("steps", "r", "complete").to_dict()
    assert dict(calls.count) == {"a": 2, "b": 2}
    assert status["output"] == {"user": "u", "a": 2, "b": 2}

    instance.restart(from_step="b")
    status = env.wait_for_status("steps", "r", "complete").to_dict()
    assert dict(calls.count) == {"a": 2, "b": 3}
    assert status["output"] == {"user": "u", "a": 2, "b": 3}
    with pytest.raises(ValidationError):
        instance.restart(from_step="no such step")


def test_restart_while_sleeping_ignores_the_old_wakeup(env: Any) -> None:
    instance = env.binding("steps").create(id="r", params={"user_id": "u"})
    env.run_until_idle()
    instance.restart()
    status = env.wait_for_status("steps", "r", "complete").to_dict()
    assert dict(calls.count) == {"a": 2, "b": 1}
    assert status["output"]["a"] == 2


def test_duplicate_id_conflicts_unless_it_is_a_retry_of_a_queued_create(env: Any) -> None:
    binding = env.binding("steps")
    binding.create(id="d", params={"user_id": "u"})
    binding.create(id="d", params={"user_id": "u"})  # the client retried: same params, queued
    with pytest.raises(InstanceConflictError):
        binding.create(id="d", params={"user_id": "other"})
    env.wait_for_status("steps", "d", "complete")
    with pytest.raises(InstanceConflictError):
        binding.create(id="d", params={"user_id": "u"})
    assert calls.count["a"] == 1


@pytest.mark.parametrize(
    "params",
    [None, {"user_id": 5}, {"user_id": "u", "count": "many"}, {"count": 1}],
)
def test_invalid_params_raise_and_write_nothing(env: Any, params: Any) -> None:
    with pytest.raises(ValidationError) as info:
        env.binding("steps").create(id="bad", params=params)
    assert info.value.details
    with pytest.raises(InstanceNotFoundError):
        env.binding("steps").get("bad")
    assert _queue_depth(env) == 0


@pytest.mark.parametrize("bad_id", ["x" * 101, "-leading-dash", "has space", "dot.ted", ""])
def test_bad_instance_ids_are_rejected(env: Any, bad_id: str) -> None:
    with pytest.raises(ValidationError):
        env.binding("steps").create(id=bad_id, params={"user_id": "u"})
    assert _queue_depth(env) == 0


def test_workflow_names_over_the_limit_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Workflow("w" * 65, Steps)
    Workflow("w" * 64, Steps)


def test_step_name_over_the_limit_errors_the_instance(env: Any) -> None:
    env.binding("long-name").create(id="l")
    status = env.wait_for_status("long-name", "l", "errored").to_dict()
    assert status["error"]["name"] == "ValidationError"
    assert "256" in status["error"]["message"]


def test_step_limit(env: Any) -> None:
    env.binding("limited").create(id="l")
    status = env.wait_for_status("limited", "l", "errored").to_dict()
    assert status["error"]["name"] == "StepLimitExceededError"
    assert len(status["steps"]) == 3


def test_create_batch_is_all_or_nothing(env: Any) -> None:
    binding = env.binding("steps")
    binding.create(id="taken", params={"user_id": "u"})
    env.run_until_idle()
    with pytest.raises(ValidationError):
        binding.create_batch([{"id": "b1", "params": {"user_id": "u"}}, {"id": "b2"}])
    with pytest.raises(InstanceConflictError):
        binding.create_batch(
            [{"id": "b1", "params": {"user_id": "u"}}, {"id": "taken", "params": {"user_id": "u"}}]
        )
    with pytest.raises(ValidationError):
        binding.create_batch([{"params": {"user_id": "u"}}] * 101)
    with pytest.raises(InstanceNotFoundError):
        binding.get("b1")
    created = binding.create_batch([{"params": {"user_id": f"u{i}"}} for i in range(12)])
    assert len({i.id for i in created}) == 12
    for instance in created:
        env.wait_for_status("steps", instance.id, "complete")
    listed = env.engine.services.journal.list_instances("steps", limit=5)
    assert len(listed.instances) == 5
    assert listed.cursor is not None
