"""A modifier that names a step or event type nothing reached fails the test at the end of
its `introspect` block, listing what did run (the example app's `approval` workflow:
"create approval", "wait for approval" for `approval-response`, then a decision step)."""

from __future__ import annotations

import pytest
from lambda_workflows import NonRetryableError
from lambda_workflows.testing import UnusedModifierError, WorkflowTestEnv

PARAMS = {"user_id": "u1"}


def test_a_misspelt_step_fails_the_block_with_a_suggestion(workflows: WorkflowTestEnv) -> None:
    def scenario() -> None:
        with workflows.introspect("approval", "r") as i:
            i.mock_step_error("create aproval", NonRetryableError("db down"))
            i.mock_event("approval-response", {"approved": True})
            workflows.binding("approval").create(id="r", params=PARAMS)
            i.wait_for_status("complete")  # the typo let the real step run

    with pytest.raises(UnusedModifierError) as caught:
        scenario()
    message = str(caught.value)
    assert "introspect('approval', 'r'): modifiers that nothing used:" in message
    assert (
        "mock_step_error('create aproval'): no step.do named 'create aproval' ran "
        "(did you mean 'create approval'?)"
    ) in message
    assert "Steps that ran: 'create approval', 'process approval', 'wait for approval'." in (
        message
    )
    assert "allow_unused=True" in message
    assert "mock_event" not in message  # that one was used


@pytest.mark.parametrize(
    ("modify", "expected"),
    [
        (
            lambda i: i.force_event_timeout("wait for aproval"),
            "force_event_timeout('wait for aproval'): no step.wait_for_event named "
            "'wait for aproval' ran (did you mean 'wait for approval'?)",
        ),
        (
            lambda i: i.mock_event("approval-reponse", {}),
            "mock_event('approval-reponse'): no step.wait_for_event waited for type "
            "'approval-reponse' (did you mean 'approval-response'?)",
        ),
        (
            lambda i: i.mock_step_result("create approval", "x", index=3),
            "mock_step_result('create approval', index=3): step 'create approval' ran, "
            "but not 4 times",
        ),
        (
            lambda i: i.force_step_timeout("notify"),
            "force_step_timeout('notify'): no step.do named 'notify' ran",
        ),
        (
            lambda i: i.disable_sleeps(["cool down"]),
            "disable_sleeps(['cool down']): no sleep named 'cool down' ran",
        ),
    ],
)
def test_each_kind_of_unused_modifier_is_named(
    workflows: WorkflowTestEnv, modify: object, expected: str
) -> None:
    def scenario() -> None:
        with workflows.introspect("approval", "r") as i:
            modify(i)  # type: ignore[operator]
            workflows.binding("approval").create(id="r", params=PARAMS)
            workflows.run_until_idle()

    with pytest.raises(UnusedModifierError, match="modifiers that nothing used") as caught:
        scenario()
    assert expected in str(caught.value)


def test_an_instance_that_was_never_created(workflows: WorkflowTestEnv) -> None:
    def scenario() -> None:
        with workflows.introspect("approval", "never") as i:
            i.mock_event("approval-response", {"approved": True})

    with pytest.raises(UnusedModifierError, match="No instance it covers ran a step"):
        scenario()


def test_allow_unused_opts_out(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("approval", "r", allow_unused=True) as i:
        i.mock_step_error("not a step", "boom")
        workflows.binding("approval").create(id="r", params=PARAMS)
        workflows.run_until_idle()


def test_a_failing_block_keeps_its_own_error(workflows: WorkflowTestEnv) -> None:
    def scenario() -> None:
        with workflows.introspect("approval", "r") as i:
            i.mock_step_error("not a step", "boom")
            raise KeyError("the test's own")

    with pytest.raises(KeyError, match="the test's own"):
        scenario()


def test_a_workflow_wide_introspector_counts_every_instance(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("approval") as i:
        i.mock_event("approval-response", {"approved": False})
        workflows.binding("approval").create(id="a", params=PARAMS)
        workflows.wait_for_status("approval", "a", "complete")
