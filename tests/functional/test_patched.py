"""`step.patched` and `step.deprecate_patch`: changing code under sleeping instances."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint

from tests.functional.helpers import Calls

calls = Calls()


class Shipping(WorkflowEntrypoint[Any]):
    """Version 1: a, sleep, b, sleep, c. Later versions insert "fraud check" before b."""

    version: ClassVar[str] = "v1"
    answers: ClassVar[list[bool]] = []

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: calls.hit("a") and "a")
        await step.sleep("first nap", "1 day")
        if self.version == "unguarded":
            await step.do("fraud check", lambda: calls.hit("fraud") and "ok")
        elif self.version == "patched":
            took = step.patched("fraud-check")
            self.answers.append(took)
            if took:
                await step.do("fraud check", lambda: calls.hit("fraud") and "ok")
        elif self.version == "deprecated":
            step.deprecate_patch("fraud-check")
            await step.do("fraud check", lambda: calls.hit("fraud") and "ok")
        elif self.version == "final":
            await step.do("fraud check", lambda: calls.hit("fraud") and "ok")
        await step.do("b", lambda: calls.hit("b") and "b")
        await step.sleep("second nap", "1 day")
        return await step.do("c", lambda: calls.hit("c") and "c")


@pytest.fixture
def env(make_env: Any) -> Any:
    calls.reset()
    Shipping.version = "v1"
    Shipping.answers = []
    return make_env(WorkflowApp([Workflow("shipping", Shipping)]))


def _reached(env: Any, instance_id: str, step_name: str) -> None:
    """Run (skipping time) until the instance journaled `step_name`, then until idle."""

    def journaled() -> bool | None:
        steps = env.binding("shipping").get(instance_id).status().steps
        return True if any(s.name == step_name for s in steps) else None

    env.run_until(journaled, "shipping", instance_id, f"step {step_name!r}")
    env.run_until_idle()


def _at_second_nap(env: Any, *ids: str) -> None:
    for instance_id in ids:
        env.binding("shipping").create(id=instance_id)
    for instance_id in ids:
        _reached(env, instance_id, "second nap")


def _names(env: Any, instance_id: str) -> list[tuple[str, str]]:
    steps = env.binding("shipping").get(instance_id).status().steps
    return [(s.type, s.name) for s in steps]


def test_a_step_inserted_before_journaled_steps_breaks_sleeping_instances(env: Any) -> None:
    _at_second_nap(env, "old")
    Shipping.version = "unguarded"
    status = env.wait_for_status("shipping", "old", "errored")
    assert status.error.name == "NondeterminismError"
    assert "'b'" in status.error.message
    assert "'fraud check'" in status.error.message
    assert calls.count["fraud"] == 0


def test_patched_keeps_old_instances_on_their_path_and_new_ones_on_the_new(env: Any) -> None:
    _at_second_nap(env, "old-1", "old-2")
    Shipping.version = "patched"
    env.binding("shipping").create(id="new")
    for instance_id in ("old-1", "old-2", "new"):
        assert env.wait_for_status("shipping", instance_id, "complete").output == "c"
    assert calls.count["fraud"] == 1  # the new instance's only
    assert ("do", "fraud check") not in _names(env, "old-1")
    new = _names(env, "new")
    assert new.index(("patch", "fraud-check")) < new.index(("do", "fraud check"))
    assert dict(calls.count) == {"a": 3, "b": 3, "c": 3, "fraud": 1}


def test_the_answer_never_changes_for_an_instance(env: Any) -> None:
    Shipping.version = "patched"
    env.binding("shipping").create(id="new")
    env.wait_for_status("shipping", "new", "complete")
    # one marker, however many replays asked again
    assert _names(env, "new").count(("patch", "fraud-check")) == 1
    assert Shipping.answers == [True, True]
    Shipping.answers.clear()
    Shipping.version = "v1"
    _at_second_nap(env, "old")
    Shipping.version = "patched"  # it was v1 while "old" ran; it wakes on patched code
    env.wait_for_status("shipping", "old", "complete")
    assert set(Shipping.answers) == {False}


def test_a_patch_after_the_last_journaled_step_is_taken(env: Any) -> None:
    """An instance asleep in "first nap" has journaled nothing after it: the inserted step
    is new ground for it, so `patched` answers True there, as in Temporal."""
    env.binding("shipping").create(id="early")
    _reached(env, "early", "first nap")
    assert env.binding("shipping").get("early").status().status == "waiting"
    Shipping.version = "patched"
    env.wait_for_status("shipping", "early", "complete")
    assert calls.count["fraud"] == 1
    assert Shipping.answers[-1] is True


def test_three_phases_replay_every_journal(env: Any) -> None:
    """patched → deprecate_patch → removed: an instance that took the patch under each
    phase completes under the next (a marker nobody asks for is passed over)."""
    Shipping.version = "patched"
    _at_second_nap(env, "p1")
    Shipping.version = "deprecated"
    _at_second_nap(env, "p2")
    env.binding("shipping").create(id="p2b")
    _reached(env, "p2b", "first nap")
    Shipping.version = "final"
    for instance_id in ("p1", "p2", "p2b"):
        assert env.wait_for_status("shipping", instance_id, "complete").output == "c"
    assert ("patch", "fraud-check") in _names(env, "p2")
    assert calls.count["fraud"] == 3


class PatchInsideAStep(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("inner", lambda: step.patched("x"))


class PatchedBranches(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        async def branch(i: int) -> bool:
            await step.do(f"work {i}", lambda: i)
            took = step.patched(f"change {i}")
            await step.sleep(f"nap {i}", f"{i + 1} hours")
            return bool(took)

        return await asyncio.gather(*(branch(i) for i in range(3)))


def test_patched_inside_a_step_is_an_error_naming_it(make_env: Any) -> None:
    env = make_env(WorkflowApp([Workflow("inside", PatchInsideAStep)]))
    env.binding("inside").create(id="i")
    status = env.wait_for_status("inside", "i", "errored")
    assert "step.patched('x') must be called in run(), not inside a step" in status.error.message


def test_patched_in_parallel_branches_replays(make_env: Any) -> None:
    env = make_env(WorkflowApp([Workflow("branches", PatchedBranches)]))
    env.binding("branches").create(id="b")
    status = env.wait_for_status("branches", "b", "complete")
    assert status.output == [True, True, True]
    assert sum(1 for s in status.steps if s.type == "patch") == 3


def test_a_bad_change_id_is_refused(make_env: Any) -> None:
    class BadId(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            return step.patched("")

    env = make_env(WorkflowApp([Workflow("bad-id", BadId)]))
    env.binding("bad-id").create(id="x")
    status = env.wait_for_status("bad-id", "x", "errored")
    assert status.error.name == "ValidationError"
