"""`Workflow(concurrency=N)`: at most N instances running or waiting, the rest queued and
started in creation order as slots free up (on moto, through the worker handler)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from lambda_workflows import (
    NonRetryableError,
    ValidationError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.runtime import admission
from lambda_workflows.runtime import worker as worker_module
from lambda_workflows.testing import WorkflowTestEnv
from lambda_workflows.wakeups import Wakeup

from tests.functional.caps import Span, most_at_once, spans, started_in_creation_order
from tests.functional.helpers import Calls

calls = Calls()


def fail() -> None:
    raise NonRetryableError("no")


class Capped(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        options = event.payload or {}
        await step.do("work", lambda: calls.hit(event.instance_id))
        if "sleep" in options:
            await step.sleep("nap", options["sleep"])
        if options.get("wait"):
            await step.wait_for_event("approval", type="approval", timeout="30 days")
        if options.get("fail"):
            await step.do("boom", fail)
        return event.instance_id


APP = WorkflowApp(
    [
        Workflow("two", Capped, concurrency=2),
        Workflow("one", Capped, concurrency=1),
        Workflow("free", Capped),
    ]
)
HOLDING = {"running", "waiting", "waitingForPause"}


@pytest.fixture
def env() -> Iterator[WorkflowTestEnv]:
    calls.reset()
    with WorkflowTestEnv(APP) as test_env:
        calls.reset(test_env.clock)
        yield test_env


def _statuses(env: WorkflowTestEnv, workflow: str, *ids: str) -> dict[str, str]:
    binding = env.binding(workflow)
    return {i: str(binding.get(i).summary().status) for i in ids}


def _spans(env: WorkflowTestEnv, workflow: str) -> dict[str, Span]:
    return {s.id: s for s in spans(env.engine.services.journal, workflow)}


def _holders(env: WorkflowTestEnv, workflow: str) -> frozenset[str]:
    return env.engine.services.journal.slot_holders(workflow)


def test_sleeping_instances_hold_their_slots_and_the_rest_start_in_creation_order(
    env: WorkflowTestEnv,
) -> None:
    binding = env.binding("two")
    binding.create(id="z1", params={"sleep": "1 hour"})
    env.clock.advance(timedelta(milliseconds=1))
    binding.create(id="b2", params={"sleep": "1 hour"})  # the same millisecond: by id
    binding.create(id="a2", params={"sleep": "1 hour"})
    env.clock.advance(timedelta(milliseconds=1))
    binding.create_batch([{"id": i, "params": {"sleep": "1 hour"}} for i in ("d3", "c3")])
    env.run_until_idle()
    assert _statuses(env, "two", "z1", "a2", "b2", "c3", "d3") == {
        "z1": "waiting",
        "a2": "waiting",
        "b2": "queued",
        "c3": "queued",
        "d3": "queued",
    }
    assert _holders(env, "two") == {"z1", "a2"}
    env.advance("59 minutes")  # nothing frees a slot before the naps end
    assert _statuses(env, "two", "b2")["b2"] == "queued"
    env.wait_for_status("two", "d3", "complete")
    found = spans(env.engine.services.journal, "two")
    assert [s.id for s in found] == ["z1", "a2", "b2", "c3", "d3"]
    assert started_in_creation_order(found)
    assert most_at_once(found) == 2
    start = found[0].started_at
    assert start is not None
    hours = [round((s.started_at - start).total_seconds() / 3600) for s in found if s.started_at]
    assert hours == [0, 0, 1, 1, 2]
    assert _holders(env, "two") == frozenset()


def test_an_instance_waiting_for_an_event_holds_its_slot(env: WorkflowTestEnv) -> None:
    binding = env.binding("one")
    first = binding.create(id="a", params={"wait": True})
    binding.create(id="b")
    env.advance("3 days")
    assert _statuses(env, "one", "a", "b") == {"a": "waiting", "b": "queued"}
    first.send_event("approval", {"ok": True})
    env.run_until_idle()  # the clock does not move: b starts as a ends
    assert _statuses(env, "one", "a", "b") == {"a": "complete", "b": "complete"}
    found = _spans(env, "one")
    assert found["b"].started_at == found["a"].ended_at == env.now()


@pytest.mark.parametrize("how", ["terminate", "error", "complete"])
def test_a_freed_slot_starts_the_next_instance_at_once(env: WorkflowTestEnv, how: str) -> None:
    binding = env.binding("one")
    first = binding.create(id="a", params={"sleep": "1 day", "fail": how == "error"})
    binding.create(id="b", params={"sleep": "1 hour"})
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b") == {"a": "waiting", "b": "queued"}
    if how == "terminate":
        first.terminate()
    else:
        env.advance("1 day")  # a's nap ends: it completes or errors
    env.run_until_idle()
    ended = {"terminate": "terminated", "error": "errored", "complete": "complete"}[how]
    assert _statuses(env, "one", "a", "b") == {"a": ended, "b": "waiting"}
    found = _spans(env, "one")
    assert found["b"].started_at == found["a"].ended_at == env.now()  # not a's next wake-up
    assert _holders(env, "one") == {"b"}


def test_a_terminated_queued_instance_leaves_the_queue(env: WorkflowTestEnv) -> None:
    binding = env.binding("one")
    binding.create(id="a", params={"sleep": "1 hour"})
    binding.create(id="b")
    binding.create(id="c")
    env.run_until_idle()
    binding.get("b").terminate()
    env.wait_for_status("one", "c", "complete")
    found = _spans(env, "one")
    assert found["b"].started_at is None
    assert found["c"].started_at == found["a"].ended_at
    assert env.engine.services.journal.queued("one", 10) == []


def test_a_paused_instance_gives_its_slot_back_and_queues_again_on_resume(
    env: WorkflowTestEnv,
) -> None:
    binding = env.binding("one")
    first = binding.create(id="a", params={"sleep": "1 hour"})
    binding.create(id="b", params={"sleep": "1 hour"})
    env.run_until_idle()
    first.pause()
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b") == {"a": "paused", "b": "waiting"}
    assert _holders(env, "one") == {"b"}
    first.resume()  # b holds the slot: a waits for it, oldest first
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b") == {"a": "queued", "b": "waiting"}
    env.wait_for_status("one", "a", "complete")
    found = _spans(env, "one")
    assert found["a"].ended_at == found["b"].ended_at  # a went on as soon as b ended
    assert calls.count == {"a": 1, "b": 1}
    assert _holders(env, "one") == frozenset()


def test_a_paused_queued_instance_is_passed_over(env: WorkflowTestEnv) -> None:
    binding = env.binding("one")
    binding.create(id="a", params={"sleep": "1 hour"})
    second = binding.create(id="b")
    binding.create(id="c")
    env.run_until_idle()
    second.pause()
    env.wait_for_status("one", "c", "complete")
    assert _statuses(env, "one", "b")["b"] == "paused"
    second.resume()
    env.wait_for_status("one", "b", "complete")
    assert most_at_once(list(_spans(env, "one").values())) == 1


def test_a_restarted_instance_takes_its_turn_again(env: WorkflowTestEnv) -> None:
    binding = env.binding("one")
    first = binding.create(id="a", params={"sleep": "1 hour"})
    binding.create(id="b", params={"sleep": "1 hour"})
    env.run_until_idle()
    first.restart()  # it gives its slot back, and is still the oldest queued: it takes it
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b") == {"a": "waiting", "b": "queued"}
    assert calls.count == {"a": 2}
    env.wait_for_status("one", "b", "complete")
    first.restart()  # finished: it queues behind nobody, and runs
    env.wait_for_status("one", "a", "complete")
    assert calls.count == {"a": 3, "b": 1}
    assert _holders(env, "one") == frozenset()


def test_a_restart_queues_behind_the_instance_holding_the_slot(env: WorkflowTestEnv) -> None:
    binding = env.binding("one")
    first = binding.create(id="a")
    binding.create(id="b", params={"sleep": "1 hour"})
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b") == {"a": "complete", "b": "waiting"}
    first.restart()
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b") == {"a": "queued", "b": "waiting"}
    env.wait_for_status("one", "a", "complete")
    found = _spans(env, "one")
    assert found["a"].started_at == found["b"].ended_at


def test_create_batch_starts_the_first_n_by_id_and_queues_the_rest(
    env: WorkflowTestEnv,
) -> None:
    ids = ["e", "c", "a", "d", "b"]
    env.binding("two").create_batch([{"id": i, "params": {"sleep": "1 minute"}} for i in ids])
    env.run_until_idle()
    assert _holders(env, "two") == {"a", "b"}
    env.wait_for_status("two", "e", "complete")
    found = spans(env.engine.services.journal, "two")
    assert [s.id for s in found] == ["a", "b", "c", "d", "e"]
    assert started_in_creation_order(found)
    assert most_at_once(found) == 2


def test_duplicate_and_stray_wake_ups_never_start_a_queued_instance(
    env: WorkflowTestEnv,
) -> None:
    binding = env.binding("one")
    for i in ("a", "b", "c"):
        binding.create(id=i, params={"sleep": "1 hour"})
    sqs = env.cloud.client("sqs")
    queue = env.cloud.settings.queue_url  # type: ignore[union-attr]
    for _ in range(3):
        for i in ("a", "b", "c"):
            sqs.send_message(QueueUrl=queue, MessageBody=Wakeup("one", i, 0).to_json())
    env.run_until_idle()
    assert _statuses(env, "one", "a", "b", "c") == {"a": "waiting", "b": "queued", "c": "queued"}
    env.wait_for_status("one", "c", "complete")
    found = spans(env.engine.services.journal, "one")
    assert most_at_once(found) == 1
    assert started_in_creation_order(found)
    assert calls.count == {"a": 1, "b": 1, "c": 1}


class Crash(BaseException):
    """The worker's process dies (what Lambda's timeout or an OOM does): no handler of the
    engine runs, the lease stays taken and the message is not deleted."""


def test_a_crashed_worker_keeps_the_slot_until_its_instance_runs_again_and_ends(
    env: WorkflowTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = env.engine.worker
    run = worker._run
    crashed: list[str] = []

    def crash_once(wakeup: Wakeup, *args: Any) -> str:
        if not crashed:
            crashed.append(wakeup.instance_id)
            raise Crash
        return run(wakeup, *args)

    monkeypatch.setattr(worker, "_run", crash_once)
    binding = env.binding("one")
    binding.create(id="a")
    binding.create(id="b")
    with pytest.raises(Crash):
        env.run_until_idle()
    assert crashed == ["a"]
    assert _statuses(env, "one", "a", "b") == {"a": "running", "b": "queued"}
    env.advance("5 minutes")  # the dead lease holds the slot: b stays queued
    assert _statuses(env, "one", "b")["b"] == "queued"
    env.wait_for_status("one", "b", "complete")  # the sweeper wakes a; a's end starts b
    found = _spans(env, "one")
    assert found["b"].started_at == found["a"].ended_at
    assert most_at_once(list(found.values())) == 1
    assert calls.count == {"a": 1, "b": 1}


def test_a_crash_between_freeing_a_slot_and_admitting_the_next_is_swept_up(
    env: WorkflowTestEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    admit = admission.admit
    crashes = [0]

    def crash_before_admitting(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("keep") is None and not crashes[0]:  # the admission after a release
            crashes[0] += 1
            raise Crash
        return admit(*args, **kwargs)

    monkeypatch.setattr(worker_module, "admit", crash_before_admitting)
    binding = env.binding("one")
    binding.create(id="a", params={"sleep": "1 minute"})
    binding.create(id="b")
    env.run_until_idle()
    env.clock.advance(timedelta(minutes=1, seconds=2))
    with pytest.raises(Crash):
        env.pump.deliver_once()
    assert _statuses(env, "one", "a", "b") == {"a": "complete", "b": "queued"}
    assert _holders(env, "one") == frozenset()
    env.run_until_idle()  # the sweeper's pass (every minute on AWS) admits b
    assert _statuses(env, "one", "b")["b"] == "complete"
    found = _spans(env, "one")
    assert found["b"].started_at == found["a"].ended_at


def test_a_workflow_without_a_cap_is_not_queued(env: WorkflowTestEnv) -> None:
    binding = env.binding("free")
    for i in range(5):
        binding.create(id=f"f{i}", params={"sleep": "1 hour"})
    env.run_until_idle()
    assert set(_statuses(env, "free", *(f"f{i}" for i in range(5))).values()) == {"waiting"}
    assert _holders(env, "free") == frozenset()
    assert env.engine.services.journal.get_meta("free", "f0").queue is None  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [0, -1, 1001])
def test_a_cap_is_from_1_to_1000(bad: int) -> None:
    with pytest.raises(ValidationError, match="concurrency must be from 1 to 1000"):
        Workflow("w", Capped, concurrency=bad)
    assert Workflow("w", Capped, concurrency=1000).concurrency == 1000
