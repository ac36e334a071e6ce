"""Adversarial review of issue 15: saga rollbacks and `step.patched`.

Part 1 (FINDINGS): each test failed on a defect the review confirmed (its docstring says
what was expected and what happened); all are fixed now. Part 2 (HELD): attacks the
implementation withstood. Both stay as regression tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from lambda_workflows import (
    InstanceConflictError,
    NonRetryableError,
    RollbackContext,
    StepError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)

ledger: list[str] = []
_lock = threading.Lock()
DOCS = Path(__file__).resolve().parents[2] / "docs"


def note(entry: str) -> str:
    with _lock:
        ledger.append(entry)
    return entry


@pytest.fixture(autouse=True)
def _clear() -> None:
    ledger.clear()


def _app(*workflows: tuple[str, type, dict[str, Any]] | tuple[str, type]) -> WorkflowApp:
    built = []
    for w in workflows:
        kwargs = w[2] if len(w) > 2 else {}
        built.append(Workflow(w[0], w[1], **kwargs))
    return WorkflowApp(built)


def _kinds(status: Any) -> list[tuple[str, str, str]]:
    return [(s.type, s.name, s.status) for s in status.steps]


# =========================================================================================
# PART 1 - FINDINGS (these tests fail until the defect is fixed)
# =========================================================================================


class SharedHelper(WorkflowEntrypoint[Any]):
    """A helper run by two branches; branch 0 has nothing after its fetch in v1."""

    version: ClassVar[int] = 1
    answers: ClassVar[list[tuple[int, bool]]] = []

    async def run(self, event: Any, step: Any) -> Any:
        async def handle(i: int) -> None:
            await step.sleep(f"pre {i}", f"{i + 1} minutes")
            await step.do(f"fetch {i}", lambda: note(f"fetch {i}") and i)
            if self.version == 2:
                took = step.patched("validate")
                SharedHelper.answers.append((i, took))
                if took:
                    await step.do(f"validate {i}", lambda: note(f"validate {i}") and i)
            if i == 1:
                await step.do("work 1", lambda: note("work 1") and 1)

        await asyncio.gather(handle(0), handle(1))
        await step.sleep("nap", "1 day")
        return "done"


def test_patched_shared_helper_in_branches_of_an_old_instance(make_env: Any) -> None:
    """FINDING. An instance that journaled a gather under v1 (branch 1 has "work 1" right
    after its fetch; branch 0 ended after its fetch) wakes under v2, whose shared helper
    asks `patched("validate")` after the fetch. Branch 1 replays a journal written before
    the patch, so its answer must be False (spec); the instance must complete.
    Actual: branch 0 (no record after its fetch) answers first, journals the marker and
    True; the one-answer-per-id cache hands True to branch 1, which then calls
    "validate 1" where the journal has "work 1": NondeterminismError."""
    SharedHelper.version = 1
    SharedHelper.answers = []
    env = make_env(_app(("sh", SharedHelper)))
    env.binding("sh").create(id="old")
    env.run_until(
        lambda: (
            True
            if any(s.name == "nap" for s in env.binding("sh").get("old").status().steps)
            else None
        ),
        "sh",
        "old",
        "nap",
    )
    SharedHelper.version = 2
    status = env.wait_for_status("sh", "old", "complete", max_jumps=20)
    assert status.output == "done"


class Swapped(WorkflowEntrypoint[Any]):
    version: ClassVar[str] = "ab"
    answers: ClassVar[list[tuple[str, bool]]] = []

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("start", lambda: 1)
        order = list(self.version)
        got = {}
        for change in order:
            got[change] = step.patched(change)
            Swapped.answers.append((change, got[change]))
        await step.sleep("nap", "1 hour")
        if got["a"]:
            await step.do("new a", lambda: note("new a") and 1)
        if got["b"]:
            await step.do("new b", lambda: note("new b") and 1)
        return got


def test_two_patches_at_one_point_swapped_in_code(make_env: Any) -> None:
    """FINDING. An instance took two patches at one point (markers "a" then "b"
    journaled, both answered True). A refactor swaps the two `patched` calls.
    Expected: both answers stay True ("journaled as a marker so the answer never changes
    for an instance"), or at worst a loud NondeterminismError. Actual: `patched("b")` now
    passes over marker "a" (a marker "the code no longer asks for") and finds its own;
    `patched("a")` then lands on the next position (the sleep) and answers False. The
    instance silently completes on the old path for "a": output {"b": True, "a": False},
    "new a" never runs, though its marker is in the journal."""
    Swapped.version = "ab"
    Swapped.answers = []
    env = make_env(_app(("sw", Swapped)))
    env.binding("sw").create(id="x")
    env.run_until_idle()
    assert Swapped.answers == [("a", True), ("b", True)]
    Swapped.version = "ba"
    Swapped.answers = []
    status = env.wait_for_status("sw", "x", "complete")
    assert status.output == {"a": True, "b": True}, _kinds(status)
    assert ledger == ["new a", "new b"]


class LimitHit(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        for i in range(4):  # the 4th step is over the limit of 3
            await step.do(
                f"s{i}", lambda i=i: note(f"s{i}") and i, rollback=lambda r: note(f"undo {r}")
            )
        return "never"


def test_run_failing_on_the_step_limit_is_rolled_back(make_env: Any) -> None:
    """FINDING. `step_limit=3`, three steps with undos, then a fourth step: run() fails
    with StepLimitExceededError. Expected: the three undos run (newest first), since an
    undo is not a new step of run(); or at least a clear error naming the undo.
    Actual: undos count against the step limit, so not one runs; the instance ends
    errored with "(rollback stopped: the undo of step None failed:
    StepLimitExceededError: step 's2' would exceed the limit...)" (a `None` step name, and
    the completed step 's2' blamed) and no rollback step in the timeline. The same happens
    to any run that errors after exactly `step_limit` completed steps."""
    env = make_env(WorkflowApp([Workflow("lim", LimitHit, step_limit=3)]))
    env.binding("lim").create(id="x")
    status = env.wait_for_status("lim", "x", "errored")
    assert "step None" not in status.error.message
    assert ledger == ["s0", "s1", "s2", "undo 2", "undo 1", "undo 0"], status.error


class InFlight(WorkflowEntrypoint[Any]):
    """Branch A fails at once while branch B's step is running in its thread."""

    started: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()
    finished: ClassVar[threading.Event] = threading.Event()

    async def run(self, event: Any, step: Any) -> Any:
        async def a() -> None:
            await step.do("fail", self.fail, retries={"limit": 0})

        async def b() -> None:
            await step.do("charge", self.charge, rollback=lambda _: note("refund"))

        await asyncio.gather(b(), a())

    @staticmethod
    def fail() -> None:
        InFlight.started.wait(5)
        raise NonRetryableError("a fails")

    @staticmethod
    def charge() -> str:
        InFlight.started.set()
        InFlight.release.wait(2)  # still charging when the other branch fails
        note("charged")
        InFlight.finished.set()
        return "c-1"


def test_step_in_flight_when_sibling_fails_is_undone(make_env: Any) -> None:
    """FINDING. `asyncio.gather(charge(), fail())`: "charge" (with a rollback) is running in
    its thread when the sibling fails for good. Expected: the charge, which does complete,
    is undone (the engine lets it finish and journals it before the chain, or the instance
    does not end before it). Actual: the instance ends `errored` with nothing undone while
    the charge is still running; it completes afterwards, unjournaled, and is never
    refunded."""
    InFlight.started = threading.Event()
    InFlight.release = threading.Event()
    InFlight.finished = threading.Event()
    env = make_env(_app(("f", InFlight)))
    env.binding("f").create(id="x")
    status = env.wait_for_status("f", "x", "errored")
    ended_with = _kinds(status)
    InFlight.release.set()
    assert InFlight.finished.wait(5)
    env.advance("1 hour")
    assert ledger == ["charged", "refund"], (ledger, ended_with)


class LongName(WorkflowEntrypoint[Any]):
    name: ClassVar[str] = ""

    async def run(self, event: Any, step: Any) -> Any:
        await step.do(self.name, lambda: note("did") and 1, rollback=lambda _: note("undid"))
        await step.do("then", lambda: note("then") and 1)
        if event.payload == "patch":
            step.patched(self.name)
            await step.do("after", lambda: 1)
            return "ok"
        raise ValueError("x")


def test_an_undo_of_a_step_with_a_long_multibyte_name_is_journaled(make_env: Any) -> None:
    """FINDING. A step named with 254 four-byte characters (within the 1-256 character
    limit; the step itself journals fine) gets an undo. Expected: the undo runs (or the
    name is refused up front with a ValidationError). Actual: the rollback record's key
    (`s#name#0` + "\\x1frollback") is over DynamoDB's 1,024-byte sort-key limit: every
    invocation fails on PutItem (ValidationException), the instance stays `running` in a
    redelivery loop forever and the undo never runs."""
    LongName.name = "\U0001f600" * 254
    env = make_env(_app(("ln", LongName)))
    env.binding("ln").create(id="x")
    status = env.wait_for_status("ln", "x", "errored", max_jumps=20)
    assert status.error.name == "ValidationError"  # refused up front (over 1,000 bytes)
    assert "over 1000 bytes in UTF-8" in status.error.message
    assert ledger == []


def test_a_long_multibyte_patch_id_is_journaled_or_refused(make_env: Any) -> None:
    """FINDING. `step.patched(id)` with 254 four-byte characters: `check_step_name` accepts
    it (the same string works as a step name). Expected: the marker is journaled and the
    instance completes, or a typed ValidationError. Actual: the marker key (`s#id#0` +
    "\\x1fpatch") exceeds DynamoDB's 1,024-byte sort-key limit; the worker crashes on
    every redelivery and the instance stays `running` forever."""
    LongName.name = "\U0001f600" * 254
    env = make_env(_app(("ln", LongName)))
    env.binding("ln").create(id="x", params="patch")
    status = env.wait_for_status("ln", "x", "errored", max_jumps=20)
    assert status.error.name == "ValidationError"  # refused up front (over 1,000 bytes)


class KeywordContext(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do(
            "a", lambda: "R", rollback=lambda r, *, ctx=None: note(f"kwctx {ctx is not None}")
        )
        raise ValueError("x")


def test_an_undo_with_a_keyword_only_ctx(make_env: Any) -> None:
    """FINDING (low). `rollback=lambda result, *, ctx=None: ...` is detected as wanting
    the context (a parameter named `ctx`) but is called `undo(result, ctx)` positionally.
    Expected: ctx passed by keyword (or not at all). Actual: TypeError "takes 1 positional
    argument but 2 were given" on every attempt; the chain stops and the instance's error
    says the undo failed."""
    env = make_env(_app(("kw", KeywordContext)))
    env.binding("kw").create(id="x")
    status = env.wait_for_status("kw", "x", "errored")
    assert status.error.message == "x", status.error
    assert ledger == ["kwctx True"]


class SlowChain(WorkflowEntrypoint[Any]):
    """Two undos; the newer fails once with a 1-hour delay, so the chain suspends."""

    fail_times: ClassVar[int] = 1

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("one", lambda: note("one") and 1, rollback=lambda _: note("undo one"))
        await step.do(
            "two",
            lambda: note("two") and 2,
            rollback=self.undo_two,
            rollback_config={"retries": {"limit": 3, "delay": "1 hour", "backoff": "constant"}},
        )
        raise ValueError("boom")

    @staticmethod
    def undo_two(_: Any, ctx: RollbackContext) -> None:
        note(f"undo two {ctx.attempt}")
        if ctx.attempt <= SlowChain.fail_times:
            raise RuntimeError("later")


def _in_chain(env: Any) -> Any:
    env.binding("chain").create(id="c")
    env.run_until_idle()
    assert ledger == ["one", "two", "undo two 1"]
    return env.binding("chain").get("c")


@pytest.fixture
def chain_env(make_env: Any) -> Any:
    SlowChain.fail_times = 1
    return make_env(_app(("chain", SlowChain)))


def test_terminate_with_rollback_during_an_error_chain_keeps_the_error(chain_env: Any) -> None:
    """FINDING (low). run() raised "boom"; its chain waits for an undo's retry;
    terminate(rollback=True) arrives. The chain finishes (no undo twice - good), but the
    instance ends `terminated` with `error: None`: run()'s failure disappears from
    `status()`. Expected: the instance keeps run()'s error (ends `errored` as the chain
    it was already running would have, or `terminated` with the error still visible).
    Actual: status "terminated", error None."""
    env = chain_env
    inst = _in_chain(env)
    inst.terminate(rollback=True)
    env.run_until_idle()
    for _ in range(20):
        if not env.skip_to_next():
            break
    status = env.binding("chain").get("c").status()
    assert ledger == ["one", "two", "undo two 1", "undo two 2", "undo one"]
    assert status.error is not None, status.status
    assert "boom" in status.error.message, (status.status, status.error)


def test_the_docs_list_the_rollback_and_patch_step_types() -> None:
    """FINDING (docs). `status().steps` now holds `type` `rollback` and `patch` (the API's
    StepModel enum has them), but docs/guide.md ("Each step in `steps` has ... `type`"),
    docs/api.md and docs/testing.md still list only do, sleep, wait_for_event and
    wait_for_workflow."""
    for doc in ("guide.md", "api.md", "testing.md"):
        text = (DOCS / doc).read_text()
        start = text.index("`type` (`do`, `sleep`,")
        paragraph = text[start : text.index(")", start) + 1]
        line = paragraph
        assert "`rollback`" in paragraph, (doc, line)
        assert "`patch`" in paragraph, (doc, line)


# =========================================================================================
# PART 2 - ATTACKS THAT HELD (regression tests)
# =========================================================================================


class UndoCallsStep(WorkflowEntrypoint[Any]):
    step_ref: ClassVar[Any] = None

    async def run(self, event: Any, step: Any) -> Any:
        UndoCallsStep.step_ref = step

        async def undo(_: Any) -> None:
            note("undo start")
            await step.do("inside undo", lambda: note("inner step"))
            note("undo end")

        await step.do("a", lambda: note("a"), rollback=undo)
        raise ValueError("boom")


def test_undo_that_calls_step_do(make_env: Any) -> None:
    env = make_env(_app(("u", UndoCallsStep)))
    env.binding("u").create(id="x")
    status = env.wait_for_status("u", "x", "errored")
    assert "inner step" not in ledger
    assert "is called inside a step function" in status.error.message
    assert "undo of step 'a' failed" in status.error.message


class UndoNonRetryable(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("first", lambda: note("first") and 1, rollback=lambda _: note("undo first"))
        await step.do("second", lambda: note("second") and 2, rollback=self.undo_second)
        raise ValueError("boom")

    @staticmethod
    def undo_second(_: Any) -> None:
        note("undo second")
        raise NonRetryableError("cannot undo", name="Nope")


def test_undo_nonretryable_stops_the_chain_at_once(make_env: Any) -> None:
    env = make_env(_app(("n", UndoNonRetryable)))
    env.binding("n").create(id="x")
    status = env.wait_for_status("n", "x", "errored")
    assert ledger == ["first", "second", "undo second"]
    assert "boom" in status.error.message
    assert "cannot undo" in status.error.message
    failed = status.steps[-1]
    assert (failed.type, failed.name, failed.status, failed.attempts) == (
        "rollback",
        "second",
        "failed",
        1,
    )


class UndoTimesOut(WorkflowEntrypoint[Any]):
    clock: ClassVar[Any] = None

    async def run(self, event: Any, step: Any) -> Any:
        await step.do(
            "a",
            lambda: note("a") and 1,
            rollback=self.slow_undo,
            rollback_config={"timeout": "30 seconds", "retries": {"limit": 1, "delay": "1 second"}},
        )
        raise ValueError("boom")

    @staticmethod
    def slow_undo(_: Any, ctx: RollbackContext) -> None:
        note(f"undo {ctx.attempt}")
        if ctx.attempt == 1:
            UndoTimesOut.clock.advance(timedelta(seconds=31))


def test_undo_timeout_counts_as_a_failed_attempt(make_env: Any) -> None:
    env = make_env(_app(("t", UndoTimesOut)))
    UndoTimesOut.clock = env.clock
    env.binding("t").create(id="x")
    status = env.wait_for_status("t", "x", "errored")
    assert ledger == ["a", "undo 1", "undo 2"]
    rb = status.steps[-1]
    assert (rb.type, rb.status, rb.attempts) == ("rollback", "succeeded", 2)
    assert status.error.message == "boom"


def test_pause_during_chain_then_resume(chain_env: Any) -> None:
    env = chain_env
    inst = _in_chain(env)
    inst.pause()
    env.advance("2 hours")
    assert ledger == ["one", "two", "undo two 1"], "paused chain kept running"
    inst.resume()
    status = env.wait_for_status("chain", "c", "errored")
    assert ledger == ["one", "two", "undo two 1", "undo two 2", "undo one"]
    assert status.error.message == "boom"


def test_plain_terminate_during_chain(chain_env: Any) -> None:
    env = chain_env
    inst = _in_chain(env)
    inst.terminate()
    status = env.wait_for_status("chain", "c", "terminated")
    env.advance("3 hours")
    assert ledger == ["one", "two", "undo two 1"]
    assert env.binding("chain").get("c").status().status == "terminated"
    assert [s.type for s in status.steps].count("rollback") == 1


class Sleeper(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: note("a") and 1, rollback=lambda _: note("undo a"))
        if event.payload == "event":
            await step.wait_for_event("w", type="go", timeout="1 hour")
        elif event.payload == "child":
            await step.do("start kid", lambda: self.env.KID.create(id="k") and "k")
            await step.wait_for_workflow("wait kid", ("kid", "k"))
        else:
            await step.do("b", lambda: note("b") and 2, rollback=lambda _: note("undo b"))
            await step.sleep("nap", "1 day")
        return "done"


class Kid(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("k1", lambda: note("k1") and 1, rollback=lambda _: note("undo k1"))
        got = await step.wait_for_event("go", type="go", timeout="1 hour")
        if got["payload"] == "fail":
            raise ValueError("kid failed")
        return "kid ok"


@pytest.fixture
def sleeper_env(make_env: Any) -> Any:
    return make_env(
        WorkflowApp([Workflow("sleeper", Sleeper), Workflow("kid", Kid, binding="KID")])
    )


def test_terminate_rollback_waiting_for_event(sleeper_env: Any) -> None:
    env = sleeper_env
    inst = env.binding("sleeper").create(id="s", params="event")
    env.run_until_idle()
    assert inst.status().status == "waiting"
    inst.terminate(rollback=True)
    env.wait_for_status("sleeper", "s", "terminated")
    assert ledger == ["a", "undo a"]
    with pytest.raises(InstanceConflictError):
        inst.send_event("go", 1)


def test_terminate_rollback_waiting_for_child(sleeper_env: Any) -> None:
    env = sleeper_env
    inst = env.binding("sleeper").create(id="s", params="child")
    env.run_until_idle()
    assert inst.status().status == "waiting"
    inst.terminate(rollback=True)
    env.wait_for_status("sleeper", "s", "terminated")
    assert ledger == ["a", "k1", "undo a"]


def test_parent_waiting_on_child_that_rolls_back(make_env: Any) -> None:
    class Parent(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            await step.do("start", lambda: self.env.KID.create(id="k") and "k")
            try:
                return await step.wait_for_workflow("wait", ("kid", "k"))
            except StepError as exc:
                return {"type": exc.error_type, "message": exc.message}

    env = make_env(WorkflowApp([Workflow("parent", Parent), Workflow("kid", Kid, binding="KID")]))
    env.binding("parent").create(id="p")
    env.run_until_idle()
    env.binding("kid").get("k").send_event("go", "fail")
    out = env.wait_for_status("parent", "p", "complete").output
    assert ledger == ["k1", "undo k1"]
    assert out["type"] == "WorkflowErrored"
    assert "kid failed" in out["message"]


def test_parent_waiting_on_child_terminated_with_rollback(make_env: Any) -> None:
    class Parent(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            await step.do("start", lambda: self.env.KID.create(id="k") and "k")
            try:
                return await step.wait_for_workflow("wait", ("kid", "k"))
            except StepError as exc:
                return {"type": exc.error_type, "message": exc.message}

    env = make_env(WorkflowApp([Workflow("parent", Parent), Workflow("kid", Kid, binding="KID")]))
    env.binding("parent").create(id="p")
    env.run_until_idle()
    env.binding("kid").get("k").terminate(rollback=True)
    out = env.wait_for_status("parent", "p", "complete").output
    assert ledger == ["k1", "undo k1"]
    assert out["type"] == "WorkflowTerminated"


def test_terminate_rollback_queued(sleeper_env: Any) -> None:
    env = sleeper_env
    inst = env.binding("sleeper").create(id="s")
    inst.terminate(rollback=True)
    assert inst.status().status == "terminated"
    env.run_until_idle()
    assert ledger == []


def test_terminate_rollback_paused_before_start(sleeper_env: Any) -> None:
    env = sleeper_env
    inst = env.binding("sleeper").create(id="s")
    inst.pause()
    inst.terminate(rollback=True)
    env.run_until_idle()
    assert inst.status().status == "terminated"
    assert ledger == []


class TwoUndos(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("first", lambda: note("first") and 1, rollback=lambda _: note("undo first"))
        await step.do(
            "second", lambda: note("second") and 2, rollback=lambda _: note("undo second")
        )
        raise ValueError("boom")


def test_restart_after_rollback_runs_undos_again(make_env: Any) -> None:
    env = make_env(_app(("n", TwoUndos)))
    inst = env.binding("n").create(id="x")
    env.wait_for_status("n", "x", "errored")
    assert ledger == ["first", "second", "undo second", "undo first"]
    inst.restart()
    status = env.wait_for_status("n", "x", "errored")
    assert ledger[4:] == ["first", "second", "undo second", "undo first"]
    assert [s.type for s in status.steps].count("rollback") == 2


def test_restart_from_step_after_rollback(make_env: Any) -> None:
    env = make_env(_app(("n", TwoUndos)))
    inst = env.binding("n").create(id="x")
    env.wait_for_status("n", "x", "errored")
    inst.restart(from_step="second")
    env.wait_for_status("n", "x", "errored")
    assert ledger[4:] == ["second", "undo second", "undo first"]


class GatherFail(WorkflowEntrypoint[Any]):
    """One branch fails while another sleeps and a third has done a step."""

    async def run(self, event: Any, step: Any) -> Any:
        async def sleeper() -> None:
            await step.do("s1", lambda: note("s1") and 1, rollback=lambda _: note("undo s1"))
            await step.sleep("long", "1 day")
            await step.do("s2", lambda: note("s2") and 2, rollback=lambda _: note("undo s2"))

        async def failer() -> None:
            await step.do("f1", lambda: note("f1") and 1, rollback=lambda _: note("undo f1"))
            await step.sleep("short", "1 hour")
            await step.do("f2", self.fail, retries={"limit": 0})

        await asyncio.gather(sleeper(), failer())

    @staticmethod
    def fail() -> None:
        raise RuntimeError("f2 broke")


def test_gather_one_branch_fails_other_sleeps(make_env: Any) -> None:
    env = make_env(_app(("g", GatherFail)))
    env.binding("g").create(id="x")
    status = env.wait_for_status("g", "x", "errored")
    env.advance("2 days")
    assert "s2" not in ledger
    assert sorted(ledger[:2]) == ["f1", "s1"]
    # both completed steps undone, newest first (the order they were journaled in)
    done = [s.name for s in status.steps if s.type == "do" and s.status == "succeeded"]
    assert ledger[2:] == [f"undo {name}" for name in reversed(done)]
    sleeps = [s for s in status.steps if s.name == "long"]
    assert [s.status for s in sleeps] == ["cancelled"], _kinds(status)


class Racer(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        idx, _res = await step.race(
            step.do("fast", lambda: note("fast") and "F", rollback=lambda r: note(f"undo {r}")),
            step.sleep("slow", "1 hour"),
        )
        await step.do("after", lambda: note("after") and 1, rollback=lambda _: note("undo after"))
        if event.payload == "fail":
            raise ValueError("race then fail")
        return idx


def test_race_winner_undone(make_env: Any) -> None:
    env = make_env(_app(("r", Racer)))
    env.binding("r").create(id="x", params="fail")
    env.wait_for_status("r", "x", "errored")
    assert ledger == ["fast", "after", "undo after", "undo F"]


class WaitFirst(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        t1 = asyncio.ensure_future(
            step.do("one", lambda: note("one") and 1, rollback=lambda _: note("undo one"))
        )
        t2 = asyncio.ensure_future(step.wait_for_event("ev", type="go", timeout="1 hour"))
        _done, _pending = await asyncio.wait({t1, t2}, return_when=asyncio.FIRST_COMPLETED)
        raise ValueError("after first completed")


def test_wait_first_completed_then_fail(make_env: Any) -> None:
    env = make_env(_app(("w", WaitFirst)))
    env.binding("w").create(id="x")
    status = env.wait_for_status("w", "x", "errored")
    assert ledger == ["one", "undo one"]
    assert status.error.message == "after first completed"


class Big(WorkflowEntrypoint[Any]):
    got: ClassVar[list[int]] = []

    async def run(self, event: Any, step: Any) -> Any:
        await step.do(
            "big",
            lambda: {"blob": "x" * 400_000},
            rollback=lambda r: Big.got.append(len(r["blob"])),
        )
        await step.sleep("nap", "1 hour")
        raise ValueError("after big")


def test_big_result_passed_to_undo(make_env: Any) -> None:
    Big.got = []
    env = make_env(_app(("big", Big)))
    env.binding("big").create(id="x")
    env.wait_for_status("big", "x", "errored")
    assert Big.got == [400_000]


class NonJsonUndo(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: note("a") and 1, rollback=lambda _: {1, 2, object()})
        raise ValueError("x")


def test_undo_returning_non_json_is_fine(make_env: Any) -> None:
    env = make_env(_app(("nj", NonJsonUndo)))
    env.binding("nj").create(id="x")
    status = env.wait_for_status("nj", "x", "errored")
    assert status.steps[-1].status == "succeeded"
    assert status.error.message == "x"


class Shortlived(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        for i in range(4):
            await step.do(
                f"s{i}", lambda i=i: note(f"s{i}") and i, rollback=lambda r: note(f"undo {r}")
            )
        raise ValueError("end")


def test_lambda_time_running_out_mid_chain(make_env: Any) -> None:
    from lambda_workflows.local.pump import FakeLambdaContext

    class Short(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 15_000

    env = make_env(_app(("sl", Shortlived)))
    env.pump.context_factory = Short
    env.binding("sl").create(id="x")
    env.wait_for_status("sl", "x", "errored")
    assert ledger == ["s0", "s1", "s2", "s3", "undo 3", "undo 2", "undo 1", "undo 0"]
    assert env.pump.invocations >= 8


class Repeated(WorkflowEntrypoint[Any]):
    seen: ClassVar[list[tuple[str, int, Any]]] = []

    async def run(self, event: Any, step: Any) -> Any:
        for i in range(3):
            await step.do("same", lambda i=i: i, rollback=self.undo)
        raise ValueError("end")

    @staticmethod
    def undo(r: Any, ctx: RollbackContext) -> None:
        Repeated.seen.append((ctx.step.step_name, ctx.step.occurrence, r))


def test_same_name_repeated_undone_with_right_occurrence(make_env: Any) -> None:
    Repeated.seen = []
    env = make_env(_app(("rep", Repeated)))
    env.binding("rep").create(id="x")
    status = env.wait_for_status("rep", "x", "errored")
    assert Repeated.seen == [("same", 2, 2), ("same", 1, 1), ("same", 0, 0)]
    rbs = [(s.name, s.index) for s in status.steps if s.type == "rollback"]
    assert rbs == [("same", 2), ("same", 1), ("same", 0)]


class OddCallables(WorkflowEntrypoint[Any]):
    kind: ClassVar[str] = ""

    async def run(self, event: Any, step: Any) -> Any:
        import functools

        class Undoer:
            def __call__(self, r: Any) -> None:
                note(f"obj {r}")

        undos = {
            "object": Undoer(),
            "partial": functools.partial(lambda tag, r: note(f"{tag} {r}"), "partial"),
            "builtin": ledger.append,
            "varargs": lambda *a: note(f"varargs {len(a)}"),
            "kwctx": lambda r, *, ctx=None: note(f"kwctx {ctx is not None}"),
            "default": lambda r, ctx=None: note(f"default {ctx is not None}"),
        }
        await step.do("a", lambda: "R", rollback=undos[self.kind])
        raise ValueError("x")


@pytest.mark.parametrize("kind", ["object", "partial", "builtin", "varargs", "default"])
def test_odd_undo_callables(make_env: Any, kind: str) -> None:
    OddCallables.kind = kind
    env = make_env(_app(("odd", OddCallables)))
    env.binding("odd").create(id="x")
    status = env.wait_for_status("odd", "x", "errored")
    assert status.steps[-1].status == "succeeded", status.error
    assert status.error.message == "x"


class BadConfig(WorkflowEntrypoint[Any]):
    config: ClassVar[Any] = None

    async def run(self, event: Any, step: Any) -> Any:
        await step.do(
            "a",
            lambda: note("a") and 1,
            rollback=lambda _: note("undo"),
            rollback_config=self.config,
        )
        raise ValueError("x")


@pytest.mark.parametrize(
    "config",
    [
        {"retries": {"limit": -1}},
        {"retry": {"limit": 1}},
        {"timeout": "soon"},
        {"retries": {"limit": 1, "delay": "1 fortnight"}},
        "1 minute",
        {"retries": {"limit": 1, "backoff": "quadratic"}},
    ],
)
def test_bad_rollback_config_is_refused_before_the_step_runs(make_env: Any, config: Any) -> None:
    """Bad input: a typed error naming the step, and nothing run."""
    BadConfig.config = config
    env = make_env(_app(("bc", BadConfig)))
    env.binding("bc").create(id="x")
    status = env.wait_for_status("bc", "x", "errored")
    assert status.error.name == "ValidationError", status.error
    assert ledger == [], ledger


def test_long_names_just_under_the_key_limit_roll_back_and_patch(make_env: Any) -> None:
    LongName.name = "\U0001f600" * 250
    env = make_env(_app(("ln", LongName)))
    env.binding("ln").create(id="x")
    assert env.wait_for_status("ln", "x", "errored", max_jumps=20).error.message == "x"
    assert ledger == ["did", "then", "undid"]
    env.binding("ln").create(id="y", params="patch")
    assert env.wait_for_status("ln", "y", "complete", max_jumps=20).output == "ok"


class PatchAfterRace(WorkflowEntrypoint[Any]):
    version: ClassVar[int] = 1
    answers: ClassVar[list[bool]] = []

    async def run(self, event: Any, step: Any) -> Any:
        idx, _ = await step.race(
            step.sleep("short", "1 hour"),
            step.wait_for_event("ev", type="go", timeout="2 hours"),
        )
        if self.version == 2:
            took = step.patched("after-race")
            PatchAfterRace.answers.append(took)
            if took:
                await step.do("inserted", lambda: note("inserted") and 1)
        await step.sleep("long", "1 day")
        return await step.do("end", lambda: note("end") and idx)


def test_patched_after_race_old_and_new(make_env: Any) -> None:
    PatchAfterRace.version = 1
    PatchAfterRace.answers = []
    env = make_env(_app(("pr", PatchAfterRace)))
    env.binding("pr").create(id="old")
    env.run_until(
        lambda: (
            True
            if any(s.name == "long" for s in env.binding("pr").get("old").status().steps)
            else None
        ),
        "pr",
        "old",
        "long",
    )
    PatchAfterRace.version = 2
    env.binding("pr").create(id="new")
    assert env.wait_for_status("pr", "old", "complete").output == 0
    assert env.wait_for_status("pr", "new", "complete").output == 0
    assert ledger.count("inserted") == 1


class PatchInUndo(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def undo(_: Any) -> None:
            note(f"undo patched={step.patched('in-undo')}")

        await step.do(
            "a", lambda: note("a") and 1, rollback=undo, rollback_config={"retries": {"limit": 0}}
        )
        raise ValueError("x")


def test_patched_inside_undo_is_a_clear_error(make_env: Any) -> None:
    env = make_env(_app(("pu", PatchInUndo)))
    env.binding("pu").create(id="x")
    status = env.wait_for_status("pu", "x", "errored")
    assert "must be called in run()" in status.error.message


class PatchOnTerminate(WorkflowEntrypoint[Any]):
    version: ClassVar[int] = 1
    answers: ClassVar[list[bool]] = []

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: note("a") and 1, rollback=lambda _: note("undo a"))
        await step.sleep("nap", "1 day")
        if self.version == 2:
            took = step.patched("new")
            PatchOnTerminate.answers.append(took)
            if took:
                await step.do(
                    "new step",
                    lambda: note("new step") and 1,
                    rollback=lambda _: note("undo new step"),
                )
        await step.do("b", lambda: note("b") and 1)
        return "done"


def test_patched_during_terminate_with_rollback(make_env: Any) -> None:
    PatchOnTerminate.version = 1
    PatchOnTerminate.answers = []
    env = make_env(_app(("pt", PatchOnTerminate)))
    inst = env.binding("pt").create(id="x")
    env.run_until_idle()
    PatchOnTerminate.version = 2
    inst.terminate(rollback=True)
    status = env.wait_for_status("pt", "x", "terminated")
    assert ledger == ["a", "undo a"]
    assert not any(s.type == "patch" for s in status.steps)


class PatchLoop(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        out = []
        for i in range(3):
            await step.sleep(f"nap {i}", "1 hour")
            out.append(step.patched("loop"))
            step.deprecate_patch("loop-d")
        return out


def test_patched_and_deprecated_in_a_loop(make_env: Any) -> None:
    env = make_env(_app(("pl", PatchLoop)))
    env.binding("pl").create(id="x")
    status = env.wait_for_status("pl", "x", "complete")
    assert status.output == [True, True, True]
    assert sum(1 for s in status.steps if s.type == "patch") == 2


class BadPatchIds(WorkflowEntrypoint[Any]):
    pid: ClassVar[Any] = None

    async def run(self, event: Any, step: Any) -> Any:
        return step.patched(self.pid)


@pytest.mark.parametrize("pid", [None, 5, "a\x00b", "x" * 257, "a\nb", b"bytes"])
def test_odd_patch_ids_are_refused(make_env: Any, pid: Any) -> None:
    BadPatchIds.pid = pid
    env = make_env(_app(("bp", BadPatchIds)))
    env.binding("bp").create(id="x")
    status = env.wait_for_status("bp", "x", "errored")
    assert status.error.name == "ValidationError"
    assert not status.steps


class UndoNonRetryableOk(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("first", lambda: note("first") and 1, rollback=lambda _: note("undo first"))
        raise ValueError("boom")


def test_restart_from_a_patch_marker_or_rollback_is_a_4xx(make_env: Any) -> None:
    from lambda_workflows import ValidationError

    env = make_env(_app(("pl", PatchLoop), ("n", UndoNonRetryableOk)))
    env.binding("pl").create(id="x")
    env.wait_for_status("pl", "x", "complete")
    inst = env.binding("pl").get("x")
    for name, kind in (("loop", "patch"), ("loop", "do"), ("nap 0", "rollback")):
        with pytest.raises(ValidationError):
            inst.restart(from_step=name, type=kind)
    env.binding("n").create(id="y")
    env.wait_for_status("n", "y", "errored")
    with pytest.raises(ValidationError):
        env.binding("n").get("y").restart(from_step="first", type="rollback")


def test_http_terminate_odd_bodies(make_env: Any) -> None:
    from lambda_workflows.metrics import RecordingMetrics

    from tests.functional.test_http_api import Api

    env = make_env(_app(("n", UndoNonRetryableOk), ("sl", Sleeper)))
    api = Api(env, RecordingMetrics())
    env.binding("sl").create(id="t")
    env.run_until_idle()
    path = "/workflows/sl/instances/t/terminate"
    for body in (
        {"rollback": None},
        "true",
        {"rollback": [True]},
        {"rollback": {"x": 1}},
        {"ROLLBACK": True},
        1,
    ):
        status, answer = api.call("POST", path, body)
        assert 400 <= status < 500, (body, answer)
    assert env.binding("sl").get("t").status().status == "waiting"
    assert api.call("POST", path, {"rollback": False}) == (200, {"id": "t", "status": "terminated"})
    assert ledger == ["a", "b"]  # a plain terminate undoes nothing


class AsyncCallables(WorkflowEntrypoint[Any]):
    kind: ClassVar[str] = ""

    async def run(self, event: Any, step: Any) -> Any:
        class AsyncUndoer:
            async def __call__(self, r: Any) -> None:
                await asyncio.sleep(0)
                note(f"async obj {r}")

        async def real(r: Any) -> None:
            note(f"coro {r}")

        undos = {
            "async-object": AsyncUndoer(),
            "returns-coroutine": real,
        }
        await step.do("a", lambda: "R", rollback=undos[self.kind])
        raise ValueError("x")


@pytest.mark.parametrize("kind", ["async-object", "returns-coroutine"])
def test_async_undo_callables_really_run(make_env: Any, kind: str) -> None:
    AsyncCallables.kind = kind
    env = make_env(_app(("ac", AsyncCallables)))
    env.binding("ac").create(id="x")
    status = env.wait_for_status("ac", "x", "errored")
    assert len(ledger) == 1, (ledger, status.error)


class FailedThenLater(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("ok", lambda: note("ok") and 1, rollback=lambda _: note("undo ok"))
        with contextlib.suppress(StepError):
            await step.do(
                "bad",
                self.bad,
                retries={"limit": 1, "delay": "1 second"},
                rollback=lambda _: note("undo bad"),
            )
        await step.do(
            "flaky",
            self.flaky,
            retries={"limit": 2, "delay": "1 second"},
            rollback=lambda r: note(f"undo flaky {r}"),
        )
        raise ValueError("later")

    @staticmethod
    def bad() -> None:
        note("bad")
        raise RuntimeError("bad")

    @staticmethod
    def flaky(ctx: Any) -> int:
        note(f"flaky {ctx.attempt}")
        if ctx.attempt < 2:
            raise RuntimeError("flaky")
        return int(ctx.attempt)


def test_failed_step_not_undone_retried_step_undone_once(make_env: Any) -> None:
    env = make_env(_app(("ft", FailedThenLater)))
    env.binding("ft").create(id="x")
    status = env.wait_for_status("ft", "x", "errored")
    assert ledger == ["ok", "bad", "bad", "flaky 1", "flaky 2", "undo flaky 2", "undo ok"]
    assert status.error.message == "later"


def test_restart_during_error_chain(chain_env: Any) -> None:
    """Restart while the error chain waits for an undo's retry: the old chain must not
    leak into the new run; when the new run fails, the chain runs in full."""
    env = chain_env
    inst = _in_chain(env)
    inst.restart()
    SlowChain.fail_times = 0
    env.wait_for_status("chain", "c", "errored")
    assert ledger[3:] == ["one", "two", "undo two 1", "undo one"]


def test_events_sent_during_chain_are_not_5xx(chain_env: Any) -> None:
    env = chain_env
    inst = _in_chain(env)
    # accepted (the instance has not ended) or a typed 409, never anything else
    with contextlib.suppress(InstanceConflictError):
        inst.send_event("whatever", {"a": 1})
    env.wait_for_status("chain", "c", "errored")


def test_status_during_error_chain_is_not_finished(chain_env: Any) -> None:
    env = chain_env
    inst = _in_chain(env)
    s = inst.status()
    assert s.status in ("running", "waiting")


class SelfPause(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: note("a") and 1, rollback=lambda _: note("undo a"))
        await step.do("b", self.pause_me, rollback=lambda _: note("undo b"))
        await step.do("c", lambda: note("c") and 1, rollback=lambda _: note("undo c"))

    def pause_me(self) -> int:
        inst = self.env.SP.get("x")
        inst.pause()
        note(f"status {inst.status().status}")
        inst.terminate(rollback=True)
        note(f"status after {inst.status().status}")
        return 2


def test_terminate_with_rollback_of_waiting_for_pause(make_env: Any) -> None:
    env = make_env(WorkflowApp([Workflow("sp", SelfPause, binding="SP")]))
    env.binding("sp").create(id="x")
    env.wait_for_status("sp", "x", "terminated")
    assert ledger[0] == "a"
    assert ledger[-2:] == ["undo b", "undo a"]
    assert "c" not in ledger


def test_retention_applies_after_rollback(make_env: Any) -> None:
    from lambda_workflows import InstanceNotFoundError

    env = make_env(WorkflowApp([Workflow("n", UndoNonRetryableOk)], retention="1 hour"))
    env.binding("n").create(id="x")
    env.wait_for_status("n", "x", "errored")
    env.advance("2 hours")
    with pytest.raises(InstanceNotFoundError):
        env.binding("n").get("x").status()


def test_lwf_terminate_rollback_odd_states(make_env: Any, tmp_path: Any) -> None:
    from lambda_workflows.handlers.api import ApiHandler
    from lambda_workflows.http.wsgi import serve

    from tests.functional.cli_support import Lwf

    env = make_env(_app(("n", UndoNonRetryableOk), ("sl", Sleeper)))
    env.binding("n").create(id="done")
    env.wait_for_status("n", "done", "errored")
    env.binding("sl").create(id="q")  # queued
    with serve(ApiHandler(lambda: env.engine)) as url:
        lwf = Lwf(env, url, tmp_path)
        ended = lwf("instances", "terminate", "n", "done", "--rollback")
        missing = lwf("instances", "terminate", "n", "nope", "--rollback")
        queued = lwf("instances", "terminate", "sl", "q", "--rollback")
        bad = lwf("instances", "terminate", "sl", "bad id!", "--rollback")
    for result in (ended, missing, bad):
        assert result.exit_code not in (0,), result.output
        assert "Traceback" not in result.output
    assert queued.exit_code == 0, queued.output
    assert env.binding("sl").get("q").status().status == "terminated"
