"""The complete example of docs/testing.md, verbatim (tests/unit/test_docs.py checks it)."""

from __future__ import annotations

from datetime import timedelta

from lambda_workflows import NonRetryableError
from lambda_workflows.testing import WorkflowTestEnv


def test_approved(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("approval", "req-1") as i:
        i.mock_event("approval-response", {"approved": True})
        workflows.binding("approval").create(id="req-1", params={"user_id": "u1"})
        assert i.wait_for_status("complete").output == {"approved": True}
    assert workflows.env.DB.get({"pk": "approval#req-1", "sk": "request"})["status"] == "approved"


def test_nobody_answers_for_48_hours(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    workflows.binding("approval").create(id="req-2", params={"user_id": "u1"})
    status = workflows.wait_for_status("approval", "req-2", "complete")  # 48 h, skipped
    assert status.output == {"approved": False, "reason": "timeout"}
    assert workflows.now() - start == timedelta(hours=48)


def test_timeout_forced_without_moving_the_clock(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("approval", "req-3") as i:
        i.force_event_timeout("wait for approval")
        workflows.binding("approval").create(id="req-3", params={"user_id": "u1"})
        assert i.wait_for_status("complete").output["reason"] == "timeout"
        assert i.steps()[1]["status"] == "timedOut"


def test_the_database_is_down(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("approval", "req-4") as i:
        i.mock_step_error("create approval", NonRetryableError("db down"))
        workflows.binding("approval").create(id="req-4", params={"user_id": "u1"})
        i.wait_for_status("errored")
        assert "db down" in str(i.error())
