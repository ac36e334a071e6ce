"""Example 4, human-in-the-loop approval: record, wait 48 h, auto-reject on timeout."""

from __future__ import annotations

from datetime import timedelta

from lambda_workflows import load_app
from lambda_workflows.testing import WorkflowTestEnv


# The README's two snippets, verbatim (tests/unit/test_docs.py checks them).
def test_approval_times_out():
    with WorkflowTestEnv(load_app()) as env:
        env.binding("approval").create(id="req-1", params={"user_id": "u1"})
        status = env.wait_for_status("approval", "req-1", "complete")  # 48 h pass in ms
        assert status.output == {"approved": False, "reason": "timeout"}


def test_approved(workflows):
    with workflows.introspect("approval", "req-1") as i:
        i.mock_event("approval-response", {"approved": True})
        workflows.binding("approval").create(id="req-1", params={"user_id": "u1"})
        assert i.wait_for_status("complete").output == {"approved": True}


def test_the_design_snippet_with_a_mocked_event() -> None:  # DESIGN.md section 8
    with WorkflowTestEnv(load_app()) as env:
        with env.introspect("approval", "req-1") as i:
            i.mock_event("approval-response", {"approved": True})
            env.binding("approval").create(id="req-1", params={"user_id": "u1", "request_id": "r1"})
            i.wait_for_status("complete")
            assert i.output() == {"approved": True}
        assert env.env.DB.get({"pk": "approval#r1", "sk": "request"})["status"] == "approved"


def test_decisions_are_recorded(workflows: WorkflowTestEnv) -> None:
    approvals = workflows.binding("approval")
    yes = approvals.create(id="yes", params={"user_id": "u1"})
    no = approvals.create(id="no", params={"user_id": "u2", "request_id": "r2"})
    workflows.run_until_idle()
    assert workflows.env.DB.get({"pk": "approval#yes", "sk": "request"})["status"] == "pending"
    yes.send_event("approval-response", {"approved": True})
    no.send_event("approval-response", {"approved": False})
    assert workflows.wait_for_status("approval", "yes", "complete").output == {"approved": True}
    status = workflows.wait_for_status("approval", "no", "complete").to_dict()
    assert status["output"] == {"approved": False}
    assert [s["name"] for s in status["steps"]][-1] == "handle rejection"
    assert workflows.env.DB.get({"pk": "approval#r2", "sk": "request"}) == {
        "pk": "approval#r2",
        "sk": "request",
        "user_id": "u2",
        "status": "rejected",
    }


def test_timeout_auto_rejects_after_48_hours(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    with workflows.introspect("approval", "slow") as i:
        workflows.binding("approval").create(id="slow", params={"user_id": "u3"})
        assert i.wait_for_status("complete").output == {"approved": False, "reason": "timeout"}
        wait = i.steps()[1]
    assert wait["status"] == "timedOut"
    assert workflows.now() - start == timedelta(hours=48)
    assert workflows.env.DB.get({"pk": "approval#slow", "sk": "request"})["status"] == (
        "auto-rejected"
    )
