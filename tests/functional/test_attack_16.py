"""Adversarial review of issue 16 (catch the common authoring mistakes).

Part 1: one test per confirmed defect; each FAILS on the code under review (its docstring
says what the issue or the docs promise and what happens instead).
Part 2: attacks that held; these pass.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import subprocess
import sys
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import pydantic
import pytest
from lambda_workflows import (
    NonRetryableError,
    StepConfig,
    StepError,
    ValidationError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowStep,
)
from lambda_workflows.testing import UnusedModifierError, WorkflowTestEnv

ran: list[str] = []
FINISHED = ("complete", "errored", "terminated")


def record(name: str) -> Callable[[], str]:
    def fn() -> str:
        ran.append(name)
        return name

    return fn


class Params(pydantic.BaseModel):
    x: int


class Mistakes(WorkflowEntrypoint[Any]):
    """One workflow, one `case` per attack (set by the test)."""

    case: ClassVar[str] = ""

    async def run(self, event: Any, step: Any) -> Any:
        case = self.case
        if case == "list awaited in order":
            calls = [step.do(f"x{i}", record(f"x{i}")) for i in range(3)]
            return [await call for call in calls]
        if case == "stored, awaited after another step":
            later = step.do("a", record("a"))
            await step.do("b", record("b"))
            return await later
        if case == "dangling do task":
            asyncio.create_task(step.do("x", record("x")))  # noqa: RUF006
            return "done"
        if case == "dangling sleep task":
            # (a task that started and is cut off when run() returns is not reported: a
            # race's loser that run() did not cancel is cut off on purpose; decisions.md)
            asyncio.create_task(step.sleep("nap", "1 hour"))  # noqa: RUF006
            return "done"
        if case == "forgotten in except, re-raised":
            try:
                await step.do("pay", self.decline, retries={"limit": 0})
            except StepError:
                step.do("compensate", record("compensate"))  # forgotten compensate
                raise
        if case == "forgotten, then run raises":
            step.do("notify", record("notify"))  # forgotten notify
            raise ValueError("mine")
        if case == "forgotten helper":
            self.charge_helper(step)  # forgotten helper
            await step.do("after", record("after"))
            return "done"
        if case == "decorated, never called":

            @step.do("never called")
            def never_called() -> str:
                ran.append("never called")
                return "n"

            return "done"
        if case == "helper returns the op":
            self.charge_op(step)  # forgotten await of charge_op
            await step.do("after", record("after"))
            return "done"
        if case == "forgotten race":
            step.race(step.do("a", record("a")), step.do("b", record("b")))  # forgotten race
            return "done"
        if case == "nested in a step":

            def outer() -> str:
                step.do("inner", record("inner"))  # forgotten, inside a step
                return "outer"

            await step.do("outer", outer)
            return "done"
        if case == "delay function returns a typo":
            await step.do(
                "charge card", self.fail, retries={"limit": 2, "delay": lambda n: "5 sekonds"}
            )
        if case == "delay function raises":
            await step.do("charge card", self.fail, retries={"limit": 2, "delay": lambda n: 1 / 0})
        if case == "StepConfig with a string timeout":
            await step.do("charge card", self.fail, config=StepConfig(timeout="5 seconds"))  # type: ignore[arg-type]
        # -- part 2 cases ---------------------------------------------------------------
        if case == "forgotten in a loop":
            for i in range(3):
                step.do(f"l{i}", record(f"l{i}"))  # forgotten in a loop
            await step.do("after", record("after"))
        if case == "forgotten in a gathered branch":

            async def branch() -> None:
                step.do("lost", record("lost"))  # forgotten in a branch

            await asyncio.gather(branch(), step.do("a", record("a")))
            await step.sleep("nap", "1 hour")
            return "done"
        if case == "forgotten after a sleep (on replay)":
            await step.sleep("nap", "1 hour")
            step.do("x", record("x"))  # forgotten on replay
            return "done"
        if case == "forgotten in finally":
            try:
                await step.do("a", record("a"))
            finally:
                step.do("cleanup", record("cleanup"))  # forgotten in finally
            return "done"
        if case == "TaskGroup, shield, wait_for with a timeout":
            async with asyncio.TaskGroup() as group:
                first = group.create_task(step.do("a", record("a")))
                second = group.create_task(step.do("b", record("b")))
            shielded = await asyncio.shield(step.do("c", record("c")))
            waited = await asyncio.wait_for(step.do("d", record("d")), timeout=5)
            return [first.result(), second.result(), shielded, waited]
        if case == "decorator config typo":

            @step.do("charge card", retries={"backoff": "expo"})
            def charge() -> None: ...

            await charge()
        if case == "config dict typo":
            await step.do("charge card", self.fail, config={"retries": {"limt": 1}})
        if case == "rollback_config typo":
            await step.do(
                "charge card",
                record("c"),
                rollback=lambda r: None,
                rollback_config={"timeout": "x"},
            )
        if case == "retries not a dict":
            await step.do("charge card", self.fail, retries=3)
        return None

    async def charge_helper(self, step: Any) -> None:
        await step.do("charge in helper", record("charge in helper"))

    def charge_op(self, step: Any) -> Any:
        return step.do("charge", record("charge"))  # the step call, correct code

    @staticmethod
    def decline() -> None:
        raise NonRetryableError("declined")

    @staticmethod
    def fail() -> None:
        raise ValueError("fail")


def line_of(marker: str) -> int:
    import inspect

    lines = inspect.getsource(Mistakes).splitlines()
    first = inspect.getsourcelines(Mistakes)[1]
    return first + next(n for n, text in enumerate(lines) if text.rstrip().endswith(f"# {marker}"))


def run_case(make_env: Any, case: str) -> tuple[Any, list[str]]:
    """Run `case` to its end; its status and the 'never awaited' warnings raised meanwhile."""
    ran.clear()
    Mistakes.case = case
    env = make_env(WorkflowApp([Workflow("mistakes", Mistakes)]))
    env.binding("mistakes").create(id="m")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            env.run_until_idle()
            status = env.binding("mistakes").get("m").status()
            if status.status in FINISHED or not env.skip_to_next():
                break
        gc.collect()
    status = env.binding("mistakes").get("m").status()
    return status, [str(w.message) for w in caught if "never awaited" in str(w.message)]


# =====================================================================================
# Part 1: confirmed defects (each failed when the review found it; all fixed now).
# Three findings are documented limits instead (docs/guide.md, Common mistakes): a
# forgotten await on an async helper of your own, a decorated step never called, and
# the reported line being where `step.do` is called rather than where it was dropped.
# =====================================================================================


@pytest.mark.parametrize(
    ("case", "output"),
    [
        ("list awaited in order", ["x0", "x1", "x2"]),
        ("stored, awaited after another step", "a"),
    ],
)
def test_defect_step_calls_awaited_later_are_not_never_awaited(
    make_env: Any, case: str, output: Any
) -> None:
    """False positive that breaks a correct program. `calls = [step.do(...) for ...]`
    then `[await c for c in calls]` (or a call stored, another step awaited, then the
    stored one awaited) awaits every operation; Python runs them in order.
    Expected: complete with every step run. Actual: errored, NotAwaitedError "step.do('x1')
    ... was never awaited" for an operation awaited one line later."""
    status, _ = run_case(make_env, case)
    assert status.error is None, status.error
    assert status.status == "complete"
    assert status.output == output


@pytest.mark.parametrize(
    ("case", "call"),
    [("dangling do task", "step.do('x')"), ("dangling sleep task", "step.sleep('nap')")],
)
def test_defect_a_dangling_task_is_an_error(make_env: Any, case: str, call: str) -> None:
    """Issue 16: a step operation never awaited, "a dangling task", is an error naming the
    step. `asyncio.create_task(step.do("x", fn))` never awaited, then `run()` returns.
    Expected: errored with NotAwaitedError naming step 'x' (or the sleep). Actual:
    `complete`, the step never ran (its task was cancelled at the end), no error, no
    warning."""
    status, _ = run_case(make_env, case)
    assert "x" not in ran
    assert status.status == "errored", (status.status, status.output)
    assert status.error is not None
    assert call in status.error.message


@pytest.mark.parametrize(
    ("case", "forgotten"),
    [("forgotten in except, re-raised", "compensate"), ("forgotten, then run raises", "notify")],
)
def test_defect_a_forgotten_step_is_not_silent_when_run_fails(
    make_env: Any, case: str, forgotten: str
) -> None:
    """ "Never silent": a forgotten `step.do("compensate", ...)` in an `except` block that
    re-raises (or any forgotten call followed by an exception) is dropped without a word.
    Expected: the instance's error mentions the forgotten step (NotAwaitedError, or the
    run's error with the forgotten call noted), or at least Python's RuntimeWarning.
    Actual: the error is only the StepError/ValueError, and the engine closes the coroutine
    so even the RuntimeWarning is gone: fully silent."""
    status, warned = run_case(make_env, case)
    assert status.status == "errored"
    assert forgotten not in ran
    assert forgotten in status.error.message or any(forgotten in w for w in warned), (
        status.error,
        warned,
    )


def test_defect_a_forgotten_race_leaves_no_runtime_warning(make_env: Any) -> None:
    """A forgotten `step.race(a, b)`: the instance errors (NotAwaitedError naming
    `step.do('a')`, fine), but Python's "coroutine 'WorkflowStep.race' was never awaited"
    RuntimeWarning is still emitted (the issue: "not a RuntimeWarning"); a project with
    `filterwarnings = error` gets an unraisable-exception failure on top. Expected: no
    'never awaited' warning. Actual: one."""
    status, warned = run_case(make_env, "forgotten race")
    assert status.status == "errored"
    assert warned == []


def test_defect_a_forgotten_step_inside_a_step_function(make_env: Any) -> None:
    """`step.do(...)` without await inside a step's function: awaited, it is a clear error
    ("must be awaited in run(), not inside a step"); not awaited, it is only a
    RuntimeWarning ("coroutine 'Do.__call__' was never awaited") and a complete instance.
    Expected: errored naming step 'inner'. Actual: complete."""
    status, warned = run_case(make_env, "nested in a step")
    assert "inner" not in ran
    assert status.status == "errored", (status.status, warned)


def traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A common sync decorator (tracing, metrics): it returns what `fn` returns."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


class TracedRun(WorkflowEntrypoint[Any]):
    @traced
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        return await step.do("a", lambda: "a")


class DelegatingRun(WorkflowEntrypoint[Any]):
    def run(self, event: Any, step: WorkflowStep) -> Awaitable[Any]:  # says it returns one
        return self._run(step)

    async def _run(self, step: WorkflowStep) -> Any:
        return await step.do("a", lambda: "a")


@pytest.mark.parametrize("cls", [TracedRun, DelegatingRun])
def test_defect_a_run_that_returns_an_awaitable_is_accepted(
    make_env: Any, cls: type[WorkflowEntrypoint[Any]]
) -> None:
    """Issue 16 rejects a `run` that "is not async def (or does not return an awaitable)";
    `WorkflowEntrypoint.run` is typed `-> Awaitable[Any]`. A run wrapped by a sync
    decorator (tracing) or one that returns a coroutine does return an awaitable, and the
    engine awaits it fine. Expected: accepted, the instance completes. Actual:
    `Workflow(...)` raises "run must be a coroutine: write `async def run...`"."""
    env = make_env(WorkflowApp([Workflow("w", cls)]))
    env.binding("w").create(id="i")
    assert env.wait_for_status("w", "i", "complete").output == "a"


P = TypeVar("P")


class Base(WorkflowEntrypoint[P], Generic[P]):
    """A project's own base class for its workflows."""


def optional_params() -> type:
    class OptionalParams(WorkflowEntrypoint[Params | None]):  # type: ignore[type-var]
        async def run(self, event: Any, step: WorkflowStep) -> Any:
            return event.payload.x

    return OptionalParams


def annotated_params() -> type:
    class AnnotatedParams(WorkflowEntrypoint[Annotated[Params, "doc"]]):
        async def run(self, event: Any, step: WorkflowStep) -> Any:
            return event.payload.x

    return AnnotatedParams


def list_params() -> type:
    class ListParams(WorkflowEntrypoint[list[Params]]):
        async def run(self, event: Any, step: WorkflowStep) -> Any:
            return event.payload[0].x

    return ListParams


def base_params() -> type:
    class FromBase(Base[Params]):
        async def run(self, event: Any, step: WorkflowStep) -> Any:
            return event.payload.x

    return FromBase


@pytest.mark.parametrize(
    "make", [optional_params, annotated_params, list_params, base_params], ids=lambda f: f.__name__
)
def test_defect_a_params_type_that_is_not_used_as_a_model_is_refused(
    make_env: Any, make: Callable[[], type]
) -> None:
    """Issue 16: `Workflow(...)` rejects a params model that is not a pydantic model, at
    declaration. `WorkflowEntrypoint[Params | None]`, `[Annotated[Params, ...]]`,
    `[list[Params]]`, and `MyBase[Params]` (a project base class generic in its params)
    are all accepted with NO model: params are not validated and `event.payload` is a raw
    dict, so `event.payload.x` fails at run time. Expected: refused with the fix, or
    validated. Actual: silently accepted; bad params are created, the instance errors
    later with AttributeError."""
    cls = make()
    try:
        workflow = Workflow("w", cls)
    except ValidationError:
        return  # refused at declaration: fine
    env = make_env(WorkflowApp([workflow]))
    with pytest.raises(ValidationError):
        env.binding("w").create(id="bad", params={"x": "not a number"})


@pytest.mark.parametrize("how", ["delete", "restart", "retention expiry"])
def test_defect_modifiers_that_were_used_are_not_reported_unused(
    workflows: WorkflowTestEnv, how: str
) -> None:
    """ "Used" is read from the instance's journal at the end of the block, so a block that
    deletes the instance, lets retention expire it, or restarts it (all documented
    operations) fails with UnusedModifierError ("No instance it covers exists: was it
    created?" / "Steps that ran: none.") although every modifier was applied.
    Expected: no error. Actual: UnusedModifierError."""
    with workflows.introspect("approval", "r") as i:
        i.mock_step_result("create approval", "mocked")
        i.mock_event("approval-response", {"approved": True})
        workflows.binding("approval").create(id="r", params={"user_id": "u1"})
        assert i.wait_for_status("complete").output == {"approved": True}
        assert i.steps()[0]["name"] == "create approval"
        if how == "delete":
            workflows.binding("approval").get("r").delete()
        elif how == "restart":
            workflows.binding("approval").get("r").restart()
        else:
            workflows.advance("31 days")


def test_defect_close_checks_the_modifiers_too(workflows: WorkflowTestEnv) -> None:
    """docs/testing.md: modifiers "last until the end of the `with` block (or
    `i.close()`)". An introspector used without `with` and closed by `i.close()` never
    checks: a misspelt `mock_step_error` lets the real step run silently.
    Expected: UnusedModifierError at `close()` (or when the env ends). Actual: nothing."""
    i = workflows.introspect("approval", "r")
    i.mock_step_error("create aproval", NonRetryableError("db down"))
    i.mock_event("approval-response", {"approved": True})
    workflows.binding("approval").create(id="r", params={"user_id": "u1"})
    i.wait_for_status("complete")
    with pytest.raises(UnusedModifierError):
        i.close()


@pytest.mark.parametrize("case", ["delay function returns a typo", "delay function raises"])
def test_defect_a_dynamic_delay_error_names_the_step(make_env: Any, case: str) -> None:
    """Issue 16: errors in a step's config (retries, timeout, backoff) name the step. The
    guide allows `delay` to be a function of the attempt. When it returns "5 sekonds" (or
    raises), the instance errors with "retries.delay(): '5 sekonds' is not a duration"
    (or a bare "ZeroDivisionError: division by zero"), step None, no step name anywhere;
    the failed attempt is not in the timeline either. Expected: "step 'charge card': ..."."""
    status, _ = run_case(make_env, case)
    assert status.status == "errored"
    assert "charge card" in status.error.message or status.error.step == "charge card", status.error


def test_defect_a_step_config_object_with_a_string_timeout(make_env: Any) -> None:
    """`config=StepConfig(timeout="5 seconds")` (durations are strings everywhere else,
    and StepConfig is exported): the instance errors with "TypeError: '<=' not supported
    between instances of 'str' and 'datetime.timedelta'", no step named and no hint.
    Expected: a ValidationError naming the step (or StepConfig parsing the duration)."""
    status, _ = run_case(make_env, "StepConfig with a string timeout")
    assert status.error is not None
    # StepConfig parses the duration, as step.do does: the step ran (and failed on its own)
    assert status.error.name == "StepError", status.error
    assert status.error.message == "step 'charge card' failed: ValueError: fail"


@pytest.mark.parametrize(
    "bad",
    ["not a dict", {"id": "x", "parms": {}}],
    ids=["a string entry", "a misspelt key"],
)
def test_defect_create_batch_names_the_index_of_every_bad_item(
    workflows: WorkflowTestEnv, bad: Any
) -> None:
    """Issue 16: create_batch names the index of each bad item. An entry that is not a
    mapping, or has a misspelt key ("parms"), raises a bare TypeError
    ("CreateRequest() argument after ** must be a mapping, not str" / "unexpected
    keyword argument 'parms'") with no index. Expected: ValidationError "entry 1: ..."."""
    good = {"id": "ok", "params": {"user_id": "u"}}
    with pytest.raises(ValidationError, match="entry 1"):
        workflows.binding("approval").create_batch([good, bad])


user_logger = logging.getLogger("attack16.myapp")


class LogsAfterAWeek(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        await step.sleep("a week", "7 days")
        await step.do("log", lambda: user_logger.warning("charged the card"))


def test_defect_the_workflows_own_log_lines_carry_the_virtual_time(
    make_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: "Logs in the test env carry the virtual time". The engine's lines do;
    the workflow's own lines (a step logging with `logging`, next to the engine's lines)
    carry the wall clock, so the user's log line of a step that ran after a 7-day sleep
    says "today" while the engine line before it says Jan 8. Expected: 2026-01-08.
    Actual: the real time."""
    caplog.set_level(logging.INFO, logger="attack16.myapp")
    env = make_env(WorkflowApp([Workflow("late", LogsAfterAWeek)]))
    env.binding("late").create(id="l")
    env.wait_for_status("late", "l", "complete")
    (line,) = [r for r in caplog.records if r.getMessage() == "charged the card"]
    assert datetime.fromtimestamp(line.created, UTC) == datetime(2026, 1, 8, tzinfo=UTC)


class AsyncGeneratorRun(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:  # type: ignore[override]
        yield await step.do("a", lambda: 1)


def test_defect_an_async_generator_run_gets_the_right_fix() -> None:
    """`async def run` containing `yield` (an async generator) is refused, good, but the
    message's fix is "write `async def run(self, event, step):`", which is what the user
    wrote. Expected: the message says run must not `yield` (return the output).
    Actual: the async-def advice."""
    with pytest.raises(ValidationError) as caught:
        Workflow("w", AsyncGeneratorRun)
    assert "yield" in str(caught.value) or "generator" in str(caught.value), str(caught.value)


# =====================================================================================
# Part 2: attacks that held (these pass)
# =====================================================================================


@pytest.mark.parametrize(
    ("case", "call", "marker"),
    [
        ("forgotten in a loop", "step.do('l0')", "forgotten in a loop"),
        ("forgotten in a gathered branch", "step.do('lost')", "forgotten in a branch"),
        ("forgotten after a sleep (on replay)", "step.do('x')", "forgotten on replay"),
        ("forgotten in finally", "step.do('cleanup')", "forgotten in finally"),
    ],
)
def test_held_forgotten_awaits_are_errors_naming_the_call_and_line(
    make_env: Any, case: str, call: str, marker: str
) -> None:
    status, warned = run_case(make_env, case)
    assert status.status == "errored"
    assert status.error.name == "NotAwaitedError"
    assert f"{call} at tests/functional/test_attack_16.py:{line_of(marker)} " in (
        status.error.message
    )
    assert warned == []


def test_held_taskgroup_shield_and_wait_for_are_not_mistakes(make_env: Any) -> None:
    status, warned = run_case(make_env, "TaskGroup, shield, wait_for with a timeout")
    assert status.status == "complete", status.error
    assert status.output == ["a", "b", "c", "d"]
    assert warned == []


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("decorator config typo", "step 'charge card': retries.backoff must be"),
        ("config dict typo", "step 'charge card': retries: unknown keys ['limt']"),
        ("rollback_config typo", "step 'charge card': rollback_config: timeout: 'x'"),
        ("retries not a dict", "step 'charge card': retries must be a dict"),
    ],
)
def test_held_config_errors_name_the_step(make_env: Any, case: str, expected: str) -> None:
    status, _ = run_case(make_env, case)
    assert status.status == "errored"
    assert expected in status.error.message


class StaticRun(WorkflowEntrypoint[Params]):
    @staticmethod
    async def run(event: Any, step: WorkflowStep) -> Any:  # type: ignore[override]
        return event.payload.x


class Sub(StaticRun):
    pass


def test_held_workflow_declaration_checks(make_env: Any) -> None:
    import dataclasses
    from typing import TypedDict

    class SyncRun(WorkflowEntrypoint[Any]):
        def run(self, event: Any, step: WorkflowStep) -> Any:
            return 1

    @dataclasses.dataclass
    class DataParams:
        x: int

    class TD(TypedDict):
        x: int

    class WithDataclass(WorkflowEntrypoint[DataParams]):
        async def run(self, event: Any, step: WorkflowStep) -> Any:
            return 1

    class WithTypedDict(WorkflowEntrypoint[TD]):
        async def run(self, event: Any, step: WorkflowStep) -> Any:
            return 1

    with pytest.raises(ValidationError, match="async def run"):
        Workflow("w", SyncRun)
    with pytest.raises(ValidationError, match=r"class DataParams\(pydantic.BaseModel\)"):
        Workflow("w", WithDataclass)
    with pytest.raises(ValidationError, match="not a pydantic model"):
        Workflow("w", WithTypedDict)
    env = make_env(WorkflowApp([Workflow("s", Sub)]))  # inherited model, static async run
    with pytest.raises(ValidationError, match="x: Input should be a valid integer"):
        env.binding("s").create(id="bad", params={"x": "no"})
    env.binding("s").create(id="ok", params={"x": 3})
    assert env.wait_for_status("s", "ok", "complete").output == 3


def test_held_a_failing_block_keeps_its_own_error(workflows: WorkflowTestEnv) -> None:
    with pytest.raises(AssertionError) as caught:  # noqa: PT012, SIM117
        with workflows.introspect("approval", "r") as i:
            i.mock_step_error("create aproval", "typo")
            workflows.binding("approval").create(id="r", params={"user_id": "u1"})
            workflows.run_until_idle()
            raise AssertionError("the test's own failure")
    assert str(caught.value) == "the test's own failure"
    assert not isinstance(caught.value, UnusedModifierError)


def test_held_unused_modifiers_on_a_workflow_wide_introspector(
    workflows: WorkflowTestEnv,
) -> None:
    with pytest.raises(UnusedModifierError) as caught:  # noqa: PT012, SIM117
        with workflows.introspect("approval") as i:
            i.force_step_timeout("proces approval")
            i.mock_event("approval-response", {"approved": True})
            workflows.binding("approval").create(id="r", params={"user_id": "u1"})
            workflows.wait_for_status("approval", "r", "complete")
    assert "(did you mean 'process approval'?)" in str(caught.value)
    assert "introspect('approval'):" in str(caught.value)


def test_held_status_names_are_listed_as_plain_strings(workflows: WorkflowTestEnv) -> None:
    plain = "queued, running, paused, errored, terminated, complete, waiting, waitingForPause"
    with pytest.raises(ValidationError, match=plain):
        workflows.wait_for_status("approval", "x", "compelte")
    with pytest.raises(ValidationError, match=plain):
        workflows.binding("approval").list(status="Complete")
    with workflows.introspect("approval", "x", allow_unused=True) as i:  # noqa: SIM117
        with pytest.raises(ValidationError) as caught:
            i.wait_for_status("done")
    assert "InstanceStatus" not in str(caught.value)


def test_held_invalid_params_list_nested_fields_and_batch_entries(
    workflows: WorkflowTestEnv,
) -> None:
    with pytest.raises(ValidationError) as caught:
        workflows.binding("approval").create(id="a", params={"user_id": 5, "request_id": []})
    assert "user_id: Input should be a valid string" in str(caught.value)
    assert "request_id: Input should be a valid string" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        workflows.binding("approval").create_batch(
            [
                {"id": "ok", "params": {"user_id": "u"}},
                {"id": "b1", "params": {}},
                {"id": "ok", "params": {"user_id": "u"}},
                {"id": "bad id!", "params": {"user_id": "u"}},
            ]
        )
    assert "entry 1: " in str(caught.value)
    assert "entry 3: " in str(caught.value)
    assert workflows.binding("approval").list().instances == ()


def test_held_engine_log_time_is_real_again_after_the_env_closes() -> None:
    before = logging.getLogRecordFactory()
    with WorkflowTestEnv(WorkflowApp([Workflow("late", LogsAfterAWeek)])):
        assert logging.getLogRecordFactory() is not before
    assert logging.getLogRecordFactory() is before


LWF = [
    sys.executable,
    "-c",
    "import sys; from lambda_workflows.cli.main import main; sys.exit(main())",
]


def test_held_head_1_after_reading_a_line_of_a_long_listing(lwf: Any) -> None:
    """`lwf instances list ... | head -1` where head reads a line, then leaves while lwf
    still writes (the existing test closes the pipe before the first write)."""
    lwf.env.binding("approval").create_batch(
        [{"id": f"r{i}", "params": {"user_id": "u" * 50}} for i in range(100)]
    )
    for extra in ([], ["--json"]):
        command = [*LWF, "instances", "list", "approval", "--all", "--limit", "100", *extra]
        with subprocess.Popen(
            [*command, "--url", lwf.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as process:
            assert process.stdout is not None and process.stderr is not None  # noqa: PT018
            assert process.stdout.readline()
            process.stdout.close()
            code = process.wait(timeout=60)
            errors = process.stderr.read().decode()
        assert code == 0, errors
        assert "Traceback" not in errors and "Exception ignored" not in errors  # noqa: PT018


def test_held_describe_watch_into_a_reader_that_left(lwf: Any) -> None:
    """`lwf instances describe ... --watch | head -1`: it ends quietly at its next write."""
    binding = lwf.env.binding("approval")
    binding.create(id="w", params={"user_id": "u"})
    command = [*LWF, "instances", "describe", "approval", "w", "--watch", "--interval", "0.2"]
    with subprocess.Popen(
        [*command, "--url", lwf.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None  # noqa: PT018
        assert process.stdout.readline()
        process.stdout.close()
        lwf.env.run_until_idle()
        binding.get("w").send_event("approval-response", {"approved": True})
        lwf.env.run_until_idle()
        code = process.wait(timeout=60)
        errors = process.stderr.read().decode()
    assert code == 0, errors
    assert "Traceback" not in errors
