"""Fan-out, races, replay after every step, and non-determinism."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.local.pump import FakeLambdaContext

from tests.functional.helpers import Calls

calls = Calls()


class FanOut(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        async def branch(i: int) -> int:
            doubled = await step.do(f"double {i}", lambda: calls.hit(f"d{i}") and i * 2)
            if i % 10 == 0:
                await step.sleep(f"pause {i}", f"{i + 1} minutes")
            return int(await step.do(f"square {i}", lambda: calls.hit(f"s{i}") and doubled**2))

        results = await asyncio.gather(*(branch(i) for i in range(50)))
        return await step.do("sum", lambda: sum(results))


class StepRace(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        slow = asyncio.ensure_future(step.sleep("slow path", "1 hour"))
        fast = asyncio.ensure_future(step.do("fast path", lambda: calls.hit("fast") and "fast"))
        done, _ = await asyncio.wait({slow, fast}, return_when=asyncio.FIRST_COMPLETED)
        winner = "fast" if fast in done else "slow"
        await step.sleep("let replay happen", "2 hours")
        return await step.do("report", lambda: winner)


class EventRace(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        deadline = asyncio.ensure_future(step.sleep("deadline", "30 minutes"))
        answer = asyncio.ensure_future(step.wait_for_event("answer", type="answer"))
        done, pending = await asyncio.wait({deadline, answer}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        winner = answer.result()["payload"] if answer in done else "deadline"
        await step.sleep("after", "1 hour")
        return await step.do("report", lambda: winner)


class Sequence(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        total = 0
        for i in range(6):
            total += await step.do(f"step {i}", lambda i=i: calls.hit(f"step {i}") and i)
        return total


class Renamed(WorkflowEntrypoint[Any]):
    version = 1

    async def run(self, event: Any, step: Any) -> Any:
        first = "first" if Renamed.version == 1 else "first (renamed)"
        await step.do(first, lambda: 1)
        await step.sleep("nap", "1 day")
        return await step.do("second", lambda: 2)


APP = WorkflowApp(
    [
        Workflow("fan-out", FanOut),
        Workflow("step-race", StepRace),
        Workflow("event-race", EventRace),
        Workflow("sequence", Sequence),
        Workflow("renamed", Renamed),
    ]
)


@pytest.fixture
def env(make_env: Any) -> Any:
    Renamed.version = 1
    environment = make_env(APP)
    calls.reset(environment.clock)
    return environment


def test_fan_out_of_50_steps_runs_each_once_across_replays(env: Any) -> None:
    env.binding("fan-out").create(id="f")
    status = env.wait_for_status("fan-out", "f", "complete").to_dict()
    assert status["output"] == sum((i * 2) ** 2 for i in range(50))
    assert len(calls.count) == 100
    assert set(calls.count.values()) == {1}
    assert len(status["steps"]) == 50 + 5 + 50 + 1
    assert env.pump.invocations >= 6  # it suspended at least once per distinct pause


def test_first_completed_race_replays_to_the_same_winner(env: Any) -> None:
    env.binding("step-race").create(id="r")
    status = env.wait_for_status("step-race", "r", "complete").to_dict()
    assert status["output"] == "fast"
    assert calls.count["fast"] == 1


@pytest.mark.parametrize(("answer_after", "winner"), [(10, "yes"), (45, "deadline")])
def test_event_against_a_deadline(env: Any, answer_after: int, winner: str) -> None:
    instance = env.binding("event-race").create(id="r")
    env.run_until_idle()
    env.advance(f"{answer_after} minutes")
    instance.send_event("answer", "yes")
    status = env.wait_for_status("event-race", "r", "complete").to_dict()
    assert status["output"] == winner


def test_replay_after_every_step_calls_each_function_exactly_once(env: Any) -> None:
    """15 s of Lambda time: the first attempt of an invocation starts, no later one fits
    in what is left (10 s reserve, 10-minute step timeout), so each step gets its own
    invocation and every replay before it."""

    class OneAttemptPerInvocation(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 15_000

    env.pump.context_factory = OneAttemptPerInvocation
    env.binding("sequence").create(id="s")
    status = env.wait_for_status("sequence", "s", "complete").to_dict()
    assert status["output"] == sum(range(6))
    assert dict(calls.count) == {f"step {i}": 1 for i in range(6)}
    assert env.pump.invocations >= 6


def test_renaming_a_step_under_a_running_instance_fails_loudly(env: Any) -> None:
    instance = env.binding("renamed").create(id="n")
    env.run_until_idle()
    assert instance.status().status == "waiting"
    Renamed.version = 2
    status = env.wait_for_status("renamed", "n", "errored").to_dict()
    assert status["error"]["name"] == "NondeterminismError"
    assert "'first'" in status["error"]["message"]
    assert "'first (renamed)'" in status["error"]["message"]


class ForeignWait(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("first", lambda: 1)
        await asyncio.sleep(3600)


def test_waiting_on_something_that_is_not_a_step_errors_clearly(make_env: Any) -> None:
    env = make_env(WorkflowApp([Workflow("foreign", ForeignWait)]))
    env.binding("foreign").create(id="f")
    status = env.wait_for_status("foreign", "f", "errored").to_dict()
    assert "asyncio.sleep" in status["error"]["message"]
