"""Issue 11, "Cloudflare's semantics where we still differ": restart points by type,
control characters, harness modifiers after a restart, the heartbeat setting, race
losers shown as cancelled, sub-second sleeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from lambda_workflows import ValidationError, Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.settings import Settings
from lambda_workflows.testing import WorkflowTestEnv

from tests.functional.helpers import Calls

calls = Calls()


class SameNames(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("phase", "1 hour")
        first = await step.do("phase", lambda: calls.hit("phase"))
        second = await step.do("later", lambda: calls.hit("later"))
        return [first, second]


class BadStepName(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            await step.do("line\nbreak", lambda: 1)
        except ValidationError as exc:
            return str(exc)
        return "ran"


class Mocked(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        value = await step.do("charge", lambda: calls.hit("charge"))
        await step.sleep("cool down", "1 day")
        answer = await step.wait_for_event("approve", type="approval", timeout="1 hour")
        return [value, answer["payload"]]


class Racer(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        index, _ = await step.race(
            step.sleep("deadline", "1 hour"),
            step.wait_for_event("answer", type="answer", timeout="2 hours"),
        )
        await step.sleep("after", "1 day")  # a replay after the race
        return index


class Napper(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("short", 500)
        return "rested"


APP = WorkflowApp(
    [
        Workflow("same-names", SameNames),
        Workflow("bad-step-name", BadStepName),
        Workflow("mocked", Mocked),
        Workflow("racer", Racer),
        Workflow("napper", Napper),
    ]
)


@pytest.fixture
def env(make_env: Any) -> WorkflowTestEnv:
    environment: WorkflowTestEnv = make_env(APP)
    calls.reset(environment.clock)
    return environment


def test_restart_from_step_means_the_do_of_that_name(env: WorkflowTestEnv) -> None:
    """Guards: `restart(from_step=NAME)` targets the `step.do` named NAME (Cloudflare's
    default type), not an earlier sleep of the same name; `type="sleep"` picks the sleep."""
    instance = env.binding("same-names").create(id="s")
    assert env.wait_for_status("same-names", "s", "complete").output == [1, 1]
    instance.restart(from_step="phase")
    assert env.wait_for_status("same-names", "s", "complete").output == [2, 2]
    assert [s.type for s in instance.status().steps] == ["sleep", "do", "do"]
    start = env.now()
    instance.restart(from_step="phase", type="sleep")
    assert env.wait_for_status("same-names", "s", "complete").output == [3, 3]
    assert env.now() - start >= timedelta(hours=1)  # the sleep ran again
    with pytest.raises(ValidationError, match="type must be one of"):
        instance.restart(from_step="phase", type="nap")
    with pytest.raises(ValidationError, match="no completed wait_for_event step"):
        instance.restart(from_step="phase", type="wait_for_event")


def test_control_characters_are_rejected_at_the_call(env: WorkflowTestEnv) -> None:
    """Guards: step names, event types and instance ids with control characters are a
    ValidationError where they are passed."""
    env.binding("bad-step-name").create(id="b")
    output = env.wait_for_status("bad-step-name", "b", "complete").output
    assert "control characters" in output
    for bad in ("tab\there", "nul\x00", "end\n"):
        with pytest.raises(ValidationError):
            env.binding("napper").create(id=bad)
    instance = env.binding("mocked").create(id="m")
    with pytest.raises(ValidationError, match="control characters"):
        instance.send_event("appro\x7fval", 1)


def test_introspection_modifiers_apply_after_restart(env: WorkflowTestEnv) -> None:
    """Guards: mocked results, mocked events and disabled sleeps keep applying to an
    instance after `restart()` (the mocked event is delivered to the new run too)."""
    with env.introspect("mocked", "m") as i:
        i.mock_step_result("charge", "mocked")
        i.disable_sleeps()
        i.mock_event("approval", "yes")
        instance = env.binding("mocked").create(id="m")
        assert i.wait_for_status("complete").output == ["mocked", "yes"]
        instance.restart()
        assert i.wait_for_status("complete").output == ["mocked", "yes"]
        assert [s["status"] for s in i.steps()] == ["succeeded"] * 3
    assert calls.count == {}
    assert env.now() - env.clock.now() == timedelta(0)


def test_the_heartbeat_is_a_setting(monkeypatch: pytest.MonkeyPatch, make_env: Any) -> None:
    """Guards: `LWF_HEARTBEAT_MS` sets the heartbeat (default 1000 when deployed); the
    test env uses 0 unless the environment sets it."""
    base = {"LWF_TABLE_NAME": "t", "LWF_QUEUE_URL": "q", "LWF_BUCKET_NAME": "b"}
    assert Settings.from_env(base).heartbeat_ms == 1000
    assert Settings.from_env({**base, "LWF_HEARTBEAT_MS": "250"}).heartbeat_ms == 250
    assert make_env(APP).engine.worker.settings.heartbeat_ms == 0


def test_the_env_reads_lwf_heartbeat_ms(monkeypatch: pytest.MonkeyPatch, make_env: Any) -> None:
    """Guards: a test run can opt into the deployed heartbeat through the environment."""
    monkeypatch.setenv("LWF_HEARTBEAT_MS", "1000")
    assert make_env(APP).engine.worker.settings.heartbeat_ms == 1000
    monkeypatch.setenv("LWF_HEARTBEAT_MS", "soon")
    with pytest.raises(ValidationError, match="LWF_HEARTBEAT_MS"):
        make_env(APP)


def test_a_race_loser_shows_as_cancelled(env: WorkflowTestEnv) -> None:
    """Guards: once a race is decided its loser is `cancelled` in the timeline (no wake
    time), on replay too; a finished instance shows no pending wake-up."""
    instance = env.binding("racer").create(id="r")
    env.run_until_idle()
    instance.send_event("answer", "now")
    env.run_until_idle()
    steps = {s.name: s for s in instance.status().steps}
    assert steps["deadline"].status == "cancelled"
    assert steps["deadline"].wake_at is None
    assert steps["answer"].status == "succeeded"
    status = env.wait_for_status("racer", "r", "complete")
    assert status.output == 1
    assert {s.name: s.status for s in status.steps} == {
        "deadline": "cancelled",
        "answer": "succeeded",
        "after": "succeeded",
    }
    assert all(s.wake_at is None for s in status.steps)


def test_an_unfinished_step_of_a_finished_instance_is_not_pending(
    env: WorkflowTestEnv,
) -> None:
    """Guards: `status()` of a terminated instance shows its sleeping step as cancelled,
    not as waiting with a wake time."""
    instance = env.binding("mocked").create(id="t")
    env.run_until_idle()
    instance.terminate()
    status = instance.status()
    assert [(s.name, s.status, s.wake_at) for s in status.steps] == [
        ("charge", "succeeded", None),
        ("cool down", "cancelled", None),
    ]


def test_sub_second_sleeps_wake_at_the_next_whole_second(env: WorkflowTestEnv) -> None:
    """Guards the documented granularity: wake-ups go through SQS, whose delays are whole
    seconds, so a 500 ms sleep ends at its due time rounded up to the next second, and
    never before its due time."""
    start = env.now()
    env.binding("napper").create(id="n")
    status = env.wait_for_status("napper", "n", "complete")
    (nap,) = status.steps
    assert nap.finished_at is not None
    assert nap.finished_at - start == timedelta(seconds=1)
