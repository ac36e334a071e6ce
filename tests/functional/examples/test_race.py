"""Example 7, race: the first of two steps wins; an override races a deadline."""

from __future__ import annotations

from datetime import timedelta

from lambda_workflows.testing import WorkflowTestEnv


def test_the_faster_supplier_wins_and_the_deadline_beats_silence(
    workflows: WorkflowTestEnv,
) -> None:
    start = workflows.now()
    with workflows.introspect("race", "r") as i:
        i.mock_step_error("quote from A", ConnectionError("A is slow today"), times=1)
        workflows.binding("race").create(id="r")
        output = i.wait_for_status("complete").output
    assert output == {"quote": {"supplier": "B", "price": 95}, "override": None}
    assert workflows.now() - start == timedelta(hours=1)


def test_an_override_before_the_deadline_wins(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    with workflows.introspect("race", "r") as i:
        i.mock_step_error("quote from B", ConnectionError("B is down"), times=1)
        i.mock_event("override", {"supplier": "C", "price": 90})
        workflows.binding("race").create(id="r")
        output = i.wait_for_status("complete").output
    assert output == {
        "quote": {"supplier": "A", "price": 120},
        "override": {"supplier": "C", "price": 90},
    }
    assert workflows.now() - start < timedelta(hours=1)
