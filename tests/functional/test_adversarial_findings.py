"""Regressions found by an adversarial review of issue 11's changes (each docstring says
what it guards)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from lambda_workflows import NonRetryableError, Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import SystemClock, from_ms, now_ms
from lambda_workflows.journal.records import MAX_ERROR_NAME, ErrorInfo
from lambda_workflows.runtime.worker import Worker, WorkerSettings
from lambda_workflows.wakeups import Wakeup

from tests.unit.memory_engine import MemoryEngine

calls: list[str] = []
EMOJI = "\U0001f600" * 600


class EmojiErrorsThenBig(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def flaky() -> str:
            calls.append("flaky")
            if len(calls) <= 30:
                raise RuntimeError(EMOJI)
            return "r" * 270_000

        return len(await step.do("big", flaky, retries={"limit": 40, "delay": 0}))


class HugeNames(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def boom() -> None:
            raise NonRetryableError("no", name="N" * 450_000)

        if event.payload == "in a step":
            await step.do("boom", boom)
        raise NonRetryableError("no", name="N" * 450_000)


def _hit(name: str) -> str:
    calls.append(name)
    return name


class Cleanup(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            return await step.do("a", lambda: _hit("a"))
        finally:
            await step.do("cleanup", lambda: _hit("cleanup"))


class Nap(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 second")
        return "done"


class Two(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: 1)
        await step.do("b", lambda: 2)
        return 1


APP = WorkflowApp(
    [
        Workflow("emoji", EmojiErrorsThenBig),
        Workflow("names", HugeNames),
        Workflow("cleanup", Cleanup),
        Workflow("nap", Nap),
        Workflow("two", Two),
    ]
)


def _engine() -> MemoryEngine:
    calls.clear()
    return MemoryEngine(APP)


def test_multi_byte_error_messages_are_bounded_in_bytes() -> None:
    """Guards: messages are bounded by their stored (escaped) size, not characters, so 30
    attempts failing with 600 emoji each and a 270 KB result still fit the record."""
    engine = _engine()
    engine.engine.binding("emoji").create(id="e")
    engine.run()
    meta = engine.journal.get_meta("emoji", "e")
    assert meta is not None
    assert meta.status == "complete"
    assert calls.count("flaky") == 31


def test_huge_error_names_are_cut() -> None:
    """Guards: an error's type name is cut (a NonRetryableError may name itself), in a
    step record and on the instance, instead of an item over the limit."""
    for where in ("in a step", "in run()"):
        engine = _engine()
        engine.engine.binding("names").create(id="n", params=where)
        engine.run()
        meta = engine.journal.get_meta("names", "n")
        assert meta is not None
        assert meta.status == "errored", where
        assert meta.error is not None
        assert len(meta.error.name) <= MAX_ERROR_NAME
    assert len(ErrorInfo.of(NonRetryableError("x", name="N" * 999)).name) == MAX_ERROR_NAME


def test_a_finally_step_waits_while_a_transient_failure_unwinds() -> None:
    """Guards: a platform failure inside `run()` stops new steps at once: a `finally:`
    step does not run (and journal) before the failed one is retried."""
    engine = _engine()
    real = engine.journal.put_step
    failures = {"left": 1}

    def flaky(workflow: str, instance_id: str, record: Any, expected_version: Any) -> None:
        if failures["left"] and record.name == "a":
            failures["left"] -= 1
            raise ConnectionError("throttled")
        real(workflow, instance_id, record, expected_version)

    engine.journal.put_step = flaky  # type: ignore[method-assign]
    engine.engine.binding("cleanup").create(id="c")
    engine.run()
    meta = engine.journal.get_meta("cleanup", "c")
    assert meta is not None
    assert meta.status == "complete", meta.error
    assert calls == ["a", "a", "cleanup"]


def test_a_failed_suspension_send_is_retried_in_the_new_epoch() -> None:
    """Guards: when the suspension's own wake-up cannot be sent, the prompt retry carries
    the epoch the suspension wrote (not the old one, which would be dropped as stale)."""
    engine = _engine()
    real = engine.wakeups.send
    failures = {"left": 1}

    def flaky(wakeup: Wakeup, *, at_ms: int, now_ms: int) -> None:
        if failures["left"] and at_ms > now_ms:
            failures["left"] -= 1
            raise ConnectionError("SQS throttled")
        real(wakeup, at_ms=at_ms, now_ms=now_ms)

    engine.wakeups.send = flaky  # type: ignore[method-assign]
    engine.engine.binding("nap").create(id="n")
    engine.run()
    meta = engine.journal.get_meta("nap", "n")
    assert meta is not None
    assert meta.status == "complete"


def test_an_overdue_instance_runs_on_an_older_epochs_message() -> None:
    """Guards: if the suspension's wake-up is lost (a crash right after its write), a
    redelivered older message finds the instance overdue and runs it, rather than being
    dropped and leaving it to the sweeper."""
    engine = _engine()
    start = engine.engine.binding("nap").create(id="n")
    first, _ = engine.wakeups.sent.pop(0)
    engine.engine.worker.process(first, lambda: 900_000)
    engine.wakeups.sent.clear()  # the suspension's wake-up never arrives
    engine.clock.advance_to(from_ms(now_ms(engine.clock) + 2_000))  # type: ignore[attr-defined]
    assert engine.engine.worker.process(first, lambda: 900_000) == "complete"
    assert start.status().output == "done"


def test_a_step_longer_than_any_invocation_fails_instead_of_looping() -> None:
    """Guards: an attempt cut at the invocation's time budget although it had the whole
    invocation counts as a failed attempt (it could never finish), so its retry limit
    ends it; a later attempt in the same invocation would have yielded instead."""
    release = threading.Event()

    class Slow(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.do(
                "slow", release.wait, timeout="10 seconds", retries={"limit": 1, "delay": 0}
            )

    engine = MemoryEngine(WorkflowApp([Workflow("slow", Slow)]), clock=SystemClock())
    settings = WorkerSettings(reserve_ms=100)
    worker = Worker(engine.engine.app, engine.engine.services, engine.engine.env, settings)
    try:
        engine.engine.binding("slow").create(id="s")
        results: list[str] = []
        while engine.wakeups.sent and len(results) < 5:
            wakeup, _ = engine.wakeups.sent.pop(0)
            results.append(worker.process(wakeup, lambda: 150))  # a 100 ms attempt budget
    finally:
        release.set()
    assert results == ["suspended", "errored"]
    status = engine.engine.binding("slow").get("s").status()
    assert status.steps[0].attempts == 2
    assert status.error is not None
    assert "ran out of Lambda time" in status.error.message


def test_a_heartbeat_never_extends_the_lease_past_the_invocation() -> None:
    """Guards: lease renewals are bounded by the Lambda time left (plus a minute), so a
    worker that dies frees its instance soon, not 16 minutes later."""
    engine = _engine()
    worker = Worker(
        engine.engine.app, engine.engine.services, engine.engine.env, WorkerSettings(heartbeat_ms=0)
    )
    engine.engine.binding("two").create(id="t")
    wakeup, _ = engine.wakeups.sent.pop(0)
    leases: list[int] = []
    real = engine.journal.update_meta

    def spy(*args: Any, **kwargs: Any) -> Any:
        changes = args[2]
        if changes.get("lease_until"):
            leases.append(changes["lease_until"] - now_ms(engine.clock))
        return real(*args, **kwargs)

    engine.journal.update_meta = spy  # type: ignore[method-assign]
    worker.process(wakeup, lambda: 120_000)
    assert len(leases) >= 2  # the lease and at least one renewal
    assert max(leases) == 180_000


class AB(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        a = await step.do("a", lambda: _hit("a"))
        b = await step.do("b", lambda: _hit("b"))
        return a + b


def test_a_restart_cut_short_can_be_retried_and_keeps_its_steps() -> None:
    """Guards: a crash inside `restart(from_step)` (after the journal write, before the
    meta's) leaves the restart point in place, so the client's retry succeeds and the
    kept step "a" never runs again."""
    calls.clear()
    engine = MemoryEngine(WorkflowApp([Workflow("ab", AB)]))
    instance = engine.engine.binding("ab").create(id="x")
    engine.run()
    real = engine.journal.update_meta

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the client died")

    engine.journal.update_meta = crash  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        instance.restart(from_step="b")
    engine.journal.update_meta = real  # type: ignore[method-assign]
    instance.restart(from_step="b")
    engine.run()
    assert instance.status().output == "ab"
    assert calls == ["a", "b", "b"]
