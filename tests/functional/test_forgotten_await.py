"""A step operation called without `await` is an error naming the step and the line."""

from __future__ import annotations

import asyncio
import gc
import inspect
import warnings
from typing import Any, ClassVar

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint, WorkflowStep

ran: list[str] = []


def line_of(marker: str) -> int:
    """The line of this file holding `marker` (a comment at the end of a line)."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()  # type: ignore[arg-type]
    return next(n for n, text in enumerate(lines, 1) if text.endswith(f"# {marker}"))


class Forgetful(WorkflowEntrypoint[Any]):
    mistake: ClassVar[str] = ""

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("first", lambda: ran.append("first"))
        if self.mistake == "do then step":
            step.do("charge", lambda: ran.append("charge"))  # forgotten do
            await step.do("ship", lambda: ran.append("ship"))
        elif self.mistake == "do last":
            step.do("charge", lambda: ran.append("charge"))  # forgotten last
        elif self.mistake == "sleep":
            step.sleep("cool down", "1 hour")  # forgotten sleep
            await step.do("ship", lambda: ran.append("ship"))
        elif self.mistake == "wait":
            step.wait_for_event("approval", type="approval")  # forgotten wait
        return "done"


@pytest.fixture
def env(make_env: Any) -> Any:
    ran.clear()
    return make_env(WorkflowApp([Workflow("forgetful", Forgetful)]))


@pytest.mark.parametrize(
    ("mistake", "call", "marker"),
    [
        ("do then step", "step.do('charge')", "forgotten do"),
        ("do last", "step.do('charge')", "forgotten last"),
        ("sleep", "step.sleep('cool down')", "forgotten sleep"),
        ("wait", "step.wait_for_event('approval')", "forgotten wait"),
    ],
)
def test_a_step_that_is_never_awaited_errors_the_instance(
    env: Any, mistake: str, call: str, marker: str
) -> None:
    Forgetful.mistake = mistake
    env.binding("forgetful").create(id="f")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = env.wait_for_status("forgetful", "f", "errored")
        gc.collect()
    assert status.error.name == "NotAwaitedError"
    assert f"{call} at tests/functional/test_forgotten_await.py:{line_of(marker)}" in (
        status.error.message
    )
    assert "was never awaited" in status.error.message
    assert "charge" not in ran  # the forgotten step never ran
    assert "cool down" not in ran
    assert not [w for w in caught if "never awaited" in str(w.message)]


class Careful(WorkflowEntrypoint[Any]):
    """Every way of handing a step to asyncio instead of awaiting it at once."""

    async def run(self, event: Any, step: WorkflowStep) -> Any:
        pair = await asyncio.gather(step.do("a", lambda: 1), step.do("b", lambda: 2))
        task = asyncio.create_task(step.do("c", lambda: 3))
        nap = asyncio.ensure_future(step.sleep("nap", "1 minute"))
        _, first = await step.race(step.do("d", lambda: 4), step.sleep("late", "1 hour"))
        await nap
        shielded = await asyncio.wait_for(step.do("e", lambda: 5), timeout=None)

        @step.do("f")
        def f() -> int:
            return 6

        return [*pair, await task, first, shielded, await f()]


def test_steps_handed_to_asyncio_are_not_mistakes(make_env: Any) -> None:
    env = make_env(WorkflowApp([Workflow("careful", Careful)]))
    env.binding("careful").create(id="c")
    assert env.wait_for_status("careful", "c", "complete").output == [1, 2, 3, 4, 5, 6]
