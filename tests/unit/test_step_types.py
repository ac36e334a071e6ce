"""`step.do` is typed: mypy (run on tests/ by scripts/test) checks these `assert_type`s,
and the test runs the body against a stub step so the code is executed too."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, assert_type

from lambda_workflows import WorkflowStep
from lambda_workflows.api import StepContext
from lambda_workflows.config import step_config


async def typed_body(step: WorkflowStep) -> tuple[str, int, float]:
    async def fetch() -> int:
        return 2

    def attempt(ctx: StepContext) -> int:
        return ctx.attempt

    text = await step.do("text", lambda: "x")
    assert_type(text, str)
    number = await step.do("number", fetch)
    assert_type(number, int)
    assert_type(await step.do("attempt", attempt), int)

    @step.do("decorated")
    async def decorated() -> float:
        return 1.5

    value = await decorated()
    assert_type(value, float)
    return text, number, value


class RunsInline(WorkflowStep):
    """Runs step functions at once (no journal): enough to execute `typed_body`."""

    def do(self, name: str, fn: Any = None, **_: Any) -> Any:
        if fn is None:
            return lambda f: lambda: self.do(name, f)
        return self._run(fn)

    async def _run(self, fn: Callable[..., Any]) -> Any:
        takes_context = bool(inspect.signature(fn).parameters)
        result = (
            fn(StepContext("s", 0, 1, step_config(None, None, None))) if takes_context else fn()
        )
        return await result if isinstance(result, Awaitable) else result

    async def sleep(self, name: str, duration: Any) -> None: ...

    async def sleep_until(self, name: str, when: Any) -> None: ...

    async def wait_for_event(self, name: str, *, type: str, timeout: Any = None) -> Any: ...

    async def wait_for_workflow(self, name: str, instance: Any, *, timeout: Any = None) -> Any: ...

    def patched(self, change_id: str) -> bool:
        return True

    def deprecate_patch(self, change_id: str) -> None: ...


def test_step_do_returns_the_functions_type() -> None:
    """Guards the typed overloads of `WorkflowStep.do` (see the module docstring)."""
    assert asyncio.run(typed_body(RunsInline())) == ("x", 2, 1.5)
