"""Example 6, parent-child: children started in a step, their outputs awaited."""

from __future__ import annotations

from lambda_workflows import NonRetryableError
from lambda_workflows.testing import WorkflowTestEnv


def test_the_parent_aggregates_its_childrens_outputs(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("parent-child", "pc") as i:
        workflows.binding("parent-child").create(id="pc")
        children = i.wait_for_step_result("start children")
        assert children == ["pc-child-0", "pc-child-1", "pc-child-2"]
        output = i.wait_for_status("complete").output
    assert output == {"children": 3, "total_length": len("alphabetagamma"), "failed": []}
    for child in children:
        assert workflows.binding("child-task").get(child).status().status == "complete"


def test_a_failed_child_is_reported_by_the_parent(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("child-task", "pc-child-1") as child:
        child.mock_step_error("process item", NonRetryableError("cannot process"))
        workflows.binding("parent-child").create(id="pc", params={"items": ["x", "yy", "zzz"]})
        status = workflows.wait_for_status("parent-child", "pc", "complete").to_dict()
        assert child.status().status == "errored"
    assert status["output"] == {"children": 3, "total_length": 4, "failed": ["pc-child-1"]}
    waits = {s["name"]: s for s in status["steps"] if s["type"] == "wait_for_workflow"}
    assert waits["await pc-child-1"]["status"] == "failed"
    assert waits["await pc-child-1"]["error"]["name"] == "WorkflowErrored"
