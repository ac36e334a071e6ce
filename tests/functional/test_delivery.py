"""At-least-once delivery: duplicate messages and two workers racing on one instance."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import now_ms
from lambda_workflows.journal import MetaCondition
from lambda_workflows.wakeups import Wakeup

from tests.functional.helpers import Calls

calls = Calls()
entered = threading.Event()
release = threading.Event()
seen: list[str] = []


class Sleepy(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        a = await step.do("a", lambda: calls.hit("a"))
        await step.sleep("nap", "1 hour")
        return [a, await step.do("b", lambda: calls.hit("b"))]


class Racy(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def slow_first() -> str:
            n = calls.hit("a")
            if n == 1:
                entered.set()
                release.wait(10)
            return f"a{n}"

        a = await step.do("a", slow_first)
        seen.append(a)
        b = await step.do("b", lambda: f"b{calls.hit('b')}")
        return [a, b]


APP = WorkflowApp([Workflow("sleepy", Sleepy), Workflow("racy", Racy)])


@pytest.fixture
def env(make_env: Any) -> Any:
    entered.clear()
    release.clear()
    seen.clear()
    environment = make_env(APP)
    calls.reset(environment.clock)
    return environment


def _send(env: Any, wakeup: Wakeup, times: int) -> None:
    sqs = env.cloud.client("sqs")
    for _ in range(times):
        sqs.send_message(QueueUrl=env.cloud.settings.queue_url, MessageBody=wakeup.to_json())


def test_duplicate_deliveries_never_rerun_a_journaled_step(env: Any) -> None:
    env.binding("sleepy").create(id="d")
    _send(env, Wakeup("sleepy", "d", 0), times=3)
    env.run_until_idle()
    assert dict(calls.count) == {"a": 1}
    _send(env, Wakeup("sleepy", "d", 0), times=2)  # early wake-ups while it sleeps
    env.run_until_idle()
    assert dict(calls.count) == {"a": 1}
    status = env.wait_for_status("sleepy", "d", "complete").to_dict()
    _send(env, Wakeup("sleepy", "d", 0), times=2)  # late duplicates after completion
    env.run_until_idle()
    assert status["output"] == [1, 1]
    assert dict(calls.count) == {"a": 1, "b": 1}


def test_two_workers_racing_keep_the_first_written_result(env: Any) -> None:
    """Guards: a worker that loses the write of a step returns the journaled winner's
    value to `run()` (the first time too), never the one its own attempt produced."""
    journal = env.engine.services.journal
    env.binding("racy").create(id="r")
    first = threading.Thread(target=env.pump.deliver_once)
    first.start()
    assert entered.wait(10)
    # The first worker is stuck inside step "a"; its lease and message visibility lapse,
    # so SQS redelivers and a second worker takes the instance over.
    env.clock.advance(timedelta(minutes=20))
    env.pump.run_until_idle()
    status = env.binding("racy").get("r").status().to_dict()
    assert status["status"] == "complete"
    assert status["output"] == ["a2", "b1"]
    stored = journal.load("racy", "r").steps["a#0"]

    release.set()
    first.join(10)
    assert not first.is_alive()
    env.run_until_idle()
    assert journal.load("racy", "r").steps["a#0"] == stored
    assert stored.result == "a2"
    assert seen == ["a2", "a2"]  # the loser's run() saw the winner's "a2", not its "a1"
    assert env.binding("racy").get("r").status().output == ["a2", "b1"]
    assert dict(calls.count) == {"a": 2, "b": 1}


def test_a_worker_that_died_during_a_pause_request_leaves_a_paused_instance(env: Any) -> None:
    journal = env.engine.services.journal
    instance = env.binding("sleepy").create(id="p")
    env.cloud.client("sqs").purge_queue(QueueUrl=env.cloud.settings.queue_url)
    lease_end = now_ms(env.clock) + 16 * 60_000
    journal.update_meta(  # a worker took the instance, then its Lambda died
        "sleepy",
        "p",
        {"status": "running", "lease_owner": "dead", "lease_until": lease_end, "due_at": lease_end},
        MetaCondition(),
    )
    instance.pause()
    assert instance.status().status == "waitingForPause"
    env.advance("20 minutes")  # the sweeper notices; the next worker completes the pause
    assert instance.status().status == "paused"
    instance.resume()
    assert env.wait_for_status("sleepy", "p", "complete").output == [1, 1]


def test_a_wakeup_for_an_unknown_workflow_ends_in_the_dead_letter_queue(env: Any) -> None:
    _send(env, Wakeup("no-such-workflow", "x", 0), times=1)
    for _ in range(6):
        env.run_until_idle()
        env.clock.advance(timedelta(seconds=61))
    sqs = env.cloud.client("sqs")
    dead = sqs.receive_message(QueueUrl=env.cloud.dlq_url, MaxNumberOfMessages=10)
    assert [Wakeup.from_json(m["Body"]).workflow for m in dead["Messages"]] == ["no-such-workflow"]


def test_a_bad_record_fails_alone_in_its_batch(env: Any) -> None:
    _send(env, Wakeup("no-such-workflow", "x", 0), times=1)
    env.binding("sleepy").create(id="good")
    assert env.pump.deliver_once() == 2
    assert env.binding("sleepy").get("good").status().status == "waiting"
    attributes = env.cloud.client("sqs").get_queue_attributes(
        QueueUrl=env.cloud.settings.queue_url, AttributeNames=["All"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
