"""The examples of docs/guide.md's "Common mistakes", verbatim (tests/unit/test_docs.py
checks it): each mistake ends in the message the guide promises."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint, WorkflowStep
from lambda_workflows.testing import UnusedModifierError, WorkflowTestEnv

done: list[str] = []


def charge() -> str:
    done.append("charge")
    return "charged"


def ship() -> str:
    done.append("ship")
    return "shipped"


class ForgotAwait(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        step.do("charge card", charge)  # NotAwaitedError: ... was never awaited
        await step.do("ship", ship)


class NameFromAClock(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        await step.do(f"report {uuid.uuid4()}", charge)  # a new name on every replay
        await step.sleep("cool down", "1 hour")
        await step.do("ship", ship)


class ReturnsAnObject(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        return await step.do("load", lambda: {"a", "b"}, retries={"limit": 0})  # a set


class SleepsWithAsyncio(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        await asyncio.sleep(3600)  # use: await step.sleep("wait", "1 hour")


class BadBackoff(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        await step.do("charge card", charge, retries={"backoff": "expo"})


def test_declined_card(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("approval", "r1") as i:
        i.mock_step_error("create aproval", "db down")  # UnusedModifierError at the end
        workflows.binding("approval").create(id="r1", params={"user_id": "u1"})
        workflows.run_until_idle()


declined_card_example = test_declined_card  # the guide's test fails by design: run it below
del test_declined_card

APP = WorkflowApp(
    [
        Workflow("forgot-await", ForgotAwait),
        Workflow("name-from-a-clock", NameFromAClock),
        Workflow("returns-an-object", ReturnsAnObject),
        Workflow("sleeps-with-asyncio", SleepsWithAsyncio),
        Workflow("bad-backoff", BadBackoff),
    ]
)


@pytest.fixture
def env(make_env: Any) -> Any:
    done.clear()
    return make_env(APP)


@pytest.mark.parametrize(
    ("workflow", "error", "words"),
    [
        ("forgot-await", "NotAwaitedError", "step.do('charge card') at "),
        ("name-from-a-clock", "NondeterminismError", "the code now calls do 'report "),
        ("returns-an-object", "StepError", "step 'load' returned a value that cannot be stored"),
        ("sleeps-with-asyncio", "WorkflowError", "use step.sleep or step.wait_for_event"),
        (
            "bad-backoff",
            "ValidationError",
            "step 'charge card': retries.backoff must be constant, linear or exponential, "
            "got 'expo'",
        ),
    ],
)
def test_each_mistake_errors_with_what_to_do(
    env: Any, workflow: str, error: str, words: str
) -> None:
    env.binding(workflow).create(id="x")
    status = env.wait_for_status(workflow, "x", "errored")
    assert status.error.name == error
    assert words in status.error.message


def test_a_forgotten_step_never_runs(env: Any) -> None:
    env.binding("forgot-await").create(id="x")
    env.wait_for_status("forgot-await", "x", "errored")
    assert done == ["ship"]


def test_the_misspelt_modifier_fails_the_example(workflows: WorkflowTestEnv) -> None:
    with pytest.raises(UnusedModifierError, match="did you mean 'create approval'"):
        declined_card_example(workflows)
