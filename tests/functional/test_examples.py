"""The example app's workflows, as the README's tour shows them."""

from __future__ import annotations

from lambda_workflows import load_app
from lambda_workflows.testing import WorkflowTestEnv


def test_approval_times_out() -> None:  # the README's snippet, verbatim
    with WorkflowTestEnv(load_app()) as env:
        env.binding("approval").create(id="req-1", params={"user_id": "u1"})
        status = env.wait_for_status("approval", "req-1", "complete")  # 48 h pass in ms
        assert status["output"] == {"approved": False, "reason": "timeout"}


def test_approval_approved_and_rejected() -> None:
    with WorkflowTestEnv(load_app()) as env:
        binding = env.binding("approval")
        yes = binding.create(id="yes", params={"user_id": "u1"})
        no = binding.create(id="no", params={"user_id": "u2", "request_id": "r2"})
        env.run_until_idle()
        yes.send_event("approval-response", {"approved": True})
        no.send_event("approval-response", {"approved": False})
        assert env.wait_for_status("approval", "yes", "complete")["output"] == {"approved": True}
        status = env.wait_for_status("approval", "no", "complete")
        assert status["output"] == {"approved": False}
        assert [s["name"] for s in status["steps"]][-1] == "handle rejection"


def test_fan_out_default_items() -> None:
    with WorkflowTestEnv(load_app()) as env:
        env.binding("fan-out").create(id="f")
        status = env.wait_for_status("fan-out", "f", "complete")
        assert status["output"] == {
            "count": 10,
            "total_length": sum(len(f"item-{i}") for i in range(10)),
        }
