"""Issue 11, "nothing strands an instance": item sizes, steps reached while unwinding,
transient AWS errors, and sync steps that ignore their timeout."""

from __future__ import annotations

import threading
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
from lambda_workflows.aws.dynamodb.items import item_size
from lambda_workflows.clock import SystemClock
from lambda_workflows.payloads import MAX_VALUE_BYTES
from lambda_workflows.testing import WorkflowTestEnv

from tests.functional.helpers import Calls
from tests.unit.memory_engine import MemoryEngine

calls = Calls()
KB = 1000


class BigResultAfterLongErrors(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def flaky() -> str:
            if calls.hit("flaky") <= 30:
                raise RuntimeError("x" * 100_000)  # long messages, many attempts
            return "r" * int(event.payload["size"])

        value = await step.do("big", flaky, retries={"limit": 40, "delay": 0})
        return len(value)


class Waiter(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("wait", type="blob")
        await step.sleep("nap", "1 second")  # a replay reads the offloaded payload again
        return len(got["payload"])


class Echo(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("echo", lambda: "o" * event.payload["out"])


class Huge(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            await step.do("huge", lambda: "h" * (MAX_VALUE_BYTES + 1))
        except Exception as exc:
            return type(exc).__name__ + ": " + str(exc)[:80]
        return "stored"


class CleanupAfterSleep(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            await step.sleep("nap", "1 hour")
            await step.do("work", lambda: calls.hit("work"))
        finally:
            await step.do("cleanup", lambda: calls.hit("cleanup"))
        return "done"


class CatchAll(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            await step.sleep("nap", "1 hour")
        except BaseException:
            await step.do("on suspension?", lambda: calls.hit("catch"))
            raise
        return "woke"


class ThreeSteps(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        total = 0
        for i in range(3):
            total += await step.do(f"s{i}", lambda i=i: calls.hit(f"s{i}") and i)
        return total


APP = WorkflowApp(
    [
        Workflow("big", BigResultAfterLongErrors),
        Workflow("waiter", Waiter),
        Workflow("echo", Echo),
        Workflow("huge", Huge),
        Workflow("cleanup", CleanupAfterSleep),
        Workflow("catch-all", CatchAll),
        Workflow("three", ThreeSteps),
    ]
)


@pytest.fixture
def env(make_env: Any) -> WorkflowTestEnv:
    environment: WorkflowTestEnv = make_env(APP)
    calls.reset(environment.clock)
    return environment


def _items(env: WorkflowTestEnv) -> list[dict[str, Any]]:
    ddb = env.cloud.client("dynamodb")
    table = env.cloud.settings.table_name  # type: ignore[union-attr]
    return list(ddb.scan(TableName=table)["Items"])


def test_a_big_result_after_many_long_errors_fits_its_item(env: WorkflowTestEnv) -> None:
    """Guards: the inline threshold applies to the whole step record (result plus a
    bounded attempt log of bounded messages), so a 345 KB result after 30 failed
    attempts with 100 KB messages is stored, not a crash loop on a 400 KB item."""
    env.binding("big").create(id="b", params={"size": 345 * KB})
    status = env.wait_for_status("big", "b", "complete")
    assert status.output == 345 * KB
    (step,) = status.steps
    assert step.attempts == 31
    assert len(step.attempt_log) == 25  # the first 5 and the latest 20
    assert [a.number for a in step.attempt_log][:6] == [1, 2, 3, 4, 5, 12]
    assert all(len(a.error.message) <= 512 for a in step.attempt_log if a.error)
    assert max(item_size(item) for item in _items(env)) < 350 * KB


def test_an_event_payload_over_the_threshold_goes_to_the_bucket(env: WorkflowTestEnv) -> None:
    """Guards: an event payload over 400 KB is offloaded (the inbox keeps a pointer)
    instead of failing `send_event` or the wait; replays read it back."""
    instance = env.binding("waiter").create(id="w")
    env.run_until_idle()
    instance.send_event("blob", "p" * (420 * KB))
    assert env.wait_for_status("waiter", "w", "complete").output == 420 * KB
    assert max(item_size(item) for item in _items(env)) < 350 * KB


def test_params_and_output_share_the_meta_item(env: WorkflowTestEnv) -> None:
    """Guards: 200 KB params and a 300 KB output both fit: sized together on the meta
    item, what does not fit goes to the bucket."""
    params = {"out": 300 * KB, "pad": "p" * (200 * KB)}
    env.binding("echo").create(id="e", params=params)
    status = env.wait_for_status("echo", "e", "complete")
    assert status.output == "o" * (300 * KB)
    assert status.params == params
    assert max(item_size(item) for item in _items(env)) < 350 * KB


def test_values_over_32_mib_are_refused_at_the_call(env: WorkflowTestEnv) -> None:
    """Guards: params or an event payload over the 32 MiB limit are a ValidationError
    at `create`/`send_event` and write nothing; a step result over it fails the step."""
    with pytest.raises(ValidationError, match="over the limit"):
        env.binding("echo").create(id="too-big", params={"pad": "x" * MAX_VALUE_BYTES})
    assert not [i for i in _items(env) if "too-big" in i["pk"]["S"]]
    instance = env.binding("waiter").create(id="w")
    env.run_until_idle()
    with pytest.raises(ValidationError, match="over the limit"):
        instance.send_event("blob", "x" * MAX_VALUE_BYTES)
    assert instance.status().events == ()
    env.binding("huge").create(id="h")
    output = env.wait_for_status("huge", "h", "complete").output
    assert output.startswith("StepError: step 'huge' failed: OutputTooLargeError")
    assert env.binding("huge").get("h").status().steps[0].attempts == 1


def test_a_step_in_a_finally_block_runs_once_after_the_sleep(env: WorkflowTestEnv) -> None:
    """Guards: a step reached while the invocation unwinds from a suspension (a
    `finally:` around a sleep) is neither run nor journaled then; it runs once, after
    the sleep, and the instance replays correctly."""
    env.binding("cleanup").create(id="c")
    env.run_until_idle()
    assert calls.count == {}
    assert [s.name for s in env.binding("cleanup").get("c").status().steps] == ["nap"]
    status = env.wait_for_status("cleanup", "c", "complete")
    assert calls.count == {"work": 1, "cleanup": 1}
    assert [s.name for s in status.steps] == ["nap", "work", "cleanup"]
    assert calls.seconds("cleanup") == [0.0]
    assert calls.times["cleanup"][0] - calls.times["work"][0] == timedelta(0)


def test_except_base_exception_cannot_run_a_step_on_suspension(env: WorkflowTestEnv) -> None:
    """Guards: `except BaseException:` around a sleep sees the suspension, but a step it
    calls then does not run (it re-raises the suspension)."""
    env.binding("catch-all").create(id="c")
    assert env.wait_for_status("catch-all", "c", "complete").output == "woke"
    assert calls.count == {}


def test_a_transient_aws_error_resumes_in_seconds(env: WorkflowTestEnv) -> None:
    """Guards: a failed DynamoDB call inside an invocation releases the lease and the
    wake-up comes back with a short backoff, not after the 16-minute lease."""
    ddb = env.engine.services.journal._ddb  # type: ignore[attr-defined]
    failures = {"left": 1}

    def throttle_once(**_: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("throttled")

    start = env.now()
    env.binding("three").create(id="t")
    ddb.meta.events.register("before-call.dynamodb.PutItem", throttle_once)
    assert env.wait_for_status("three", "t", "complete").output == 3
    assert failures["left"] == 0
    assert env.now() - start < timedelta(seconds=5)
    assert calls.count == {"s0": 2, "s1": 1, "s2": 1}  # s0's journal write failed once


def test_a_hung_sync_step_does_not_starve_other_instances() -> None:
    """Guards: sync steps that ignore their timeout do not hold the threads later steps
    need (a shared pool of 16 would be exhausted by 21 hung attempts here)."""
    hang = threading.Event()

    class Hangs(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("hang", hang.wait, timeout=20, retries={"limit": 20, "delay": 0})

    class Quick(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do("quick", lambda: "ok", timeout="5 seconds")

    app = WorkflowApp([Workflow("hangs", Hangs), Workflow("quick", Quick)])
    engine = MemoryEngine(app, clock=SystemClock())
    try:
        engine.engine.binding("hangs").create(id="h")
        engine.engine.binding("quick").create(id="q")
        engine.run()
        hung = engine.journal.get_meta("hangs", "h")
        quick = engine.journal.get_meta("quick", "q")
        assert hung is not None
        assert quick is not None
        assert hung.status == "errored"
        assert hung.error is not None
        assert "StepTimeoutError" in hung.error.message
        assert quick.status == "complete"
        assert quick.output == "ok"
    finally:
        hang.set()


def test_non_retryable_errors_stay_non_retryable() -> None:
    """A NonRetryableError still fails its step on the first attempt (sanity for the
    attempt loop rewritten in this issue)."""

    class Fails(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            def boom() -> None:
                raise NonRetryableError("no", name="Nope")

            await step.do("boom", boom)

    engine = MemoryEngine(WorkflowApp([Workflow("fails", Fails)]))
    engine.engine.binding("fails").create(id="f")
    engine.run()
    meta = engine.journal.get_meta("fails", "f")
    assert meta is not None
    assert meta.error is not None
    assert meta.error.name == "StepError"
    assert "Nope" in meta.error.message
