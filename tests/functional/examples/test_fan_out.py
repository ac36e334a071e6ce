"""Example 5, fan-out: parallel steps, then an aggregate."""

from __future__ import annotations

from lambda_workflows import NonRetryableError
from lambda_workflows.testing import WorkflowTestEnv


def test_default_items_run_in_parallel_and_aggregate(workflows: WorkflowTestEnv) -> None:
    workflows.binding("fan-out").create(id="f")
    status = workflows.wait_for_status("fan-out", "f", "complete").to_dict()
    assert status["output"] == {
        "count": 10,
        "total_length": sum(len(f"item-{i}") for i in range(10)),
    }
    positions = {s["name"]: s["position"] for s in status["steps"]}
    assert len({positions[f"process {i}"].split(":")[0] for i in range(10)}) == 10  # branches


def test_one_failing_item_errors_the_run(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("fan-out", "f") as i:
        i.mock_step_error("process 3", NonRetryableError("corrupt item"))
        workflows.binding("fan-out").create(id="f", params={"items": ["a", "b", "c", "d"]})
        error = i.wait_for_status("errored").to_dict()["error"]
    assert error["step"] == "process 3"
    assert "corrupt item" in error["message"]
