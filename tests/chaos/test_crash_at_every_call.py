"""Invariant 4: a crash at any AWS call leaves an instance that completes after redelivery.

A clean run counts the engine's AWS calls; then, for every call N and both sides of it
(before the request is sent, and after it took effect but before the caller saw the
answer), a fresh run crashes there once. The instance must still complete with the same
output, no journaled step may run again, and no event may be lost or consumed twice.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import pytest
from lambda_workflows import InstanceConflictError, Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.testing import WorkflowTestEnv

pytestmark = pytest.mark.chaos
runs: Counter[str] = Counter()


class InjectedCrashError(Exception):
    pass


class Chaos(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        a = await step.do("a", lambda: runs.update(["a"]) or "A")
        await step.sleep("long nap", "20 minutes")
        first = await step.wait_for_event("first", type="go", timeout="1 hour")
        big = await step.do("big", lambda: runs.update(["big"]) or "x" * 400_000)
        second = await step.wait_for_event("second", type="go", timeout="1 hour")
        return [a, first["payload"], len(big), second["payload"]]


APP = WorkflowApp([Workflow("chaos", Chaos)])
EXPECTED = ["A", 1, 400_000, 2]


class Injector:
    def __init__(self, crash_at: int | None) -> None:
        self.crash_at = crash_at
        self.calls = 0
        self.operations: list[str] = []
        self.active = False

    def __call__(self, event_name: str, **_: Any) -> None:
        if not self.active:
            return
        self.calls += 1
        self.operations.append(event_name.split(".", 1)[1])
        if self.calls == self.crash_at:
            raise InjectedCrashError(f"crash at call {self.calls} ({event_name})")


def _engine_clients(env: WorkflowTestEnv) -> list[Any]:
    services = env.engine.services
    return [
        services.journal._ddb,  # type: ignore[attr-defined]
        services.payloads._blobs._s3,  # type: ignore[attr-defined]
        services.wakeups._sqs,  # type: ignore[attr-defined]
        services.wakeups._scheduler,  # type: ignore[attr-defined]
    ]


def _retrying(injector: Injector, call: Any) -> Any:
    """What a client does when its request failed: send it again."""
    injector.active = True
    try:
        for _ in range(3):
            try:
                return call()
            except InjectedCrashError:
                continue
        raise AssertionError("a client retry failed three times")
    finally:
        injector.active = False


def _scenario(
    crash_at: int | None, phase: str, app: WorkflowApp = APP, drive: Any = None
) -> tuple[Injector, dict[str, Any]]:
    runs.clear()
    with WorkflowTestEnv(app) as env:
        injector = Injector(crash_at)
        for client in _engine_clients(env):
            client.meta.events.register(f"{phase}-call", injector)
        handler = env.pump.handler

        def crashing_worker(event: Any, context: Any) -> Any:
            injector.active = True
            try:
                return handler(event, context)
            finally:
                injector.active = False

        env.pump.handler = crashing_worker
        status = (drive or _drive_chaos)(env, injector)
        return injector, status


def _drive_chaos(env: WorkflowTestEnv, injector: Injector) -> dict[str, Any]:
    binding = env.binding("chaos")
    instance = _retrying(injector, lambda: binding.create(id="c"))
    _retrying(injector, lambda: instance.send_event("go", 1, event_id="go-1"))
    env.run_until_idle()
    _retrying(injector, lambda: instance.send_event("go", 2, event_id="go-2"))
    return env.wait_for_status("chaos", "c", "complete").to_dict()


def test_clean_run_and_its_call_count() -> None:
    injector, status = _scenario(None, "before")
    assert status["output"] == EXPECTED
    assert dict(runs) == {"a": 1, "big": 1}
    assert injector.calls > 10
    assert "dynamodb.PutItem" in injector.operations
    assert "scheduler.CreateSchedule" in injector.operations
    assert "s3.PutObject" in injector.operations


CLEAN_CALLS = 40


@pytest.mark.parametrize("phase", ["before", "after"])
def test_crash_at_every_call_still_completes(phase: str) -> None:
    clean, _ = _scenario(None, phase)
    assert clean.calls <= CLEAN_CALLS, "raise CLEAN_CALLS: the workflow makes more calls now"
    for crash_at in range(1, clean.calls + 1):
        injector, status = _scenario(crash_at, phase)
        where = f"crash {phase} call {crash_at} ({injector.operations[crash_at - 1]})"
        assert status["output"] == EXPECTED, where
        assert [e["seq"] for e in status["events"]] == [1, 2], where
        steps = {s["name"]: s for s in status["steps"]}
        assert steps["first"]["status"] == "succeeded", where
        assert steps["second"]["status"] == "succeeded", where
        # A crash after the step ran but before its result was journaled reruns it
        # (at-least-once side effects); once journaled, never again.
        assert runs["a"] in (1, 2), where
        assert runs["big"] in (1, 2), where


class Kid(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("go", type="go", timeout="1 hour")
        return await step.do("work", lambda: runs.update(["kid"]) or got["payload"] * 10)


class Parent(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        kid = await step.do("start", lambda: runs.update(["start"]) or _start_kid(self.env))
        return await step.wait_for_workflow("wait", ("kid", kid), timeout="1 day")


def _start_kid(env: Any) -> str:
    with contextlib.suppress(InstanceConflictError):  # an earlier attempt created it
        env.KID.create(id="k")
    return "k"


FAMILY = WorkflowApp([Workflow("kid", Kid, binding="KID"), Workflow("parent", Parent)])


def _drive_family(env: WorkflowTestEnv, injector: Injector) -> dict[str, Any]:
    binding = env.binding("parent")
    _retrying(injector, lambda: binding.create(id="p"))
    env.run_until_idle()
    env.wait_for_status("kid", "k", "waiting")
    kid = env.binding("kid").get("k")
    _retrying(injector, lambda: kid.send_event("go", 4, event_id="go-4"))
    return env.wait_for_status("parent", "p", "complete").to_dict()


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_parent_waiting_for_a_child_survives_a_crash_at_every_call(phase: str) -> None:
    clean, status = _scenario(None, phase, FAMILY, _drive_family)
    assert status["output"] == 40
    assert clean.calls <= CLEAN_CALLS, "raise CLEAN_CALLS: the workflow makes more calls now"
    for crash_at in range(1, clean.calls + 1):
        injector, status = _scenario(crash_at, phase, FAMILY, _drive_family)
        where = f"crash {phase} call {crash_at} ({injector.operations[crash_at - 1]})"
        assert status["output"] == 40, where
        assert runs["kid"] in (1, 2), where
        assert runs["start"] in (1, 2), where


class Saga(WorkflowEntrypoint[Any]):
    """Two steps with undos, a nap, then a failure: the chain runs after the error."""

    async def run(self, event: Any, step: Any) -> Any:
        for name in ("debit", "credit"):
            await step.do(
                name,
                lambda name=name: runs.update([name]) or name,
                rollback=lambda done: runs.update([f"undo {done}"]),
                rollback_config={"retries": {"limit": 1, "delay": "20 minutes"}},
            )
        await step.sleep("settle", "20 minutes")
        if event.payload == "fail":
            await step.do("notify", self.fail, retries={"limit": 0})
        return "done"

    @staticmethod
    def fail() -> None:
        raise RuntimeError("downstream is gone")


SAGA = WorkflowApp([Workflow("saga", Saga)])


def _saga_status(env: WorkflowTestEnv, status: str) -> dict[str, Any]:
    return env.wait_for_status("saga", "s", status).to_dict()


def _drive_failing_saga(env: WorkflowTestEnv, injector: Injector) -> dict[str, Any]:
    _retrying(injector, lambda: env.binding("saga").create(id="s", params="fail"))
    return _saga_status(env, "errored")


def _drive_terminated_saga(env: WorkflowTestEnv, injector: Injector) -> dict[str, Any]:
    instance = _retrying(injector, lambda: env.binding("saga").create(id="s", params="ok"))
    _saga_status(env, "waiting")  # asleep in "settle", both steps done
    _retrying(injector, lambda: instance.terminate(rollback=True))
    return _saga_status(env, "terminated")


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize(
    ("drive", "ending"),
    [(_drive_failing_saga, "errored"), (_drive_terminated_saga, "terminated")],
)
def test_a_rollback_chain_survives_a_crash_at_every_call(
    phase: str, drive: Any, ending: str
) -> None:
    clean, status = _scenario(None, phase, SAGA, drive)
    assert dict(runs) == {"debit": 1, "credit": 1, "undo credit": 1, "undo debit": 1}
    assert clean.calls <= CLEAN_CALLS, "raise CLEAN_CALLS: the workflow makes more calls now"
    for crash_at in range(1, clean.calls + 1):
        injector, status = _scenario(crash_at, phase, SAGA, drive)
        where = f"crash {phase} call {crash_at} ({injector.operations[crash_at - 1]})"
        assert status["status"] == ending, where
        undone = [(s["name"], s["status"]) for s in status["steps"] if s["type"] == "rollback"]
        assert undone == [("credit", "succeeded"), ("debit", "succeeded")], where
        # at-least-once: an undo reruns only when a crash cut it off before its journal write
        assert runs["undo credit"] in (1, 2), where
        assert runs["undo debit"] in (1, 2), where
        assert runs["debit"] in (1, 2), where
