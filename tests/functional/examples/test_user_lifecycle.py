"""Example 2, user lifecycle: welcome mail, 7-day trial, follow-up only if inactive."""

from __future__ import annotations

from datetime import timedelta

from lambda_workflows.testing import WorkflowTestEnv

from functions.workflows.user_lifecycle import activity_partition

USER = {"user_id": "u1", "email": "ada@example.com"}


def test_an_inactive_user_gets_a_follow_up_after_seven_days(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    workflows.binding("user-lifecycle").create(id="u1", params=USER)
    status = workflows.wait_for_status("user-lifecycle", "u1", "complete").to_dict()
    assert status["output"] == {"user_id": "u1", "actions": 0, "followed_up": True}
    assert workflows.now() - start >= timedelta(days=7)
    mails = workflows.sent_emails()
    assert [(m["to"], m["subject"]) for m in mails] == [
        (["ada@example.com"], "Welcome!"),
        (["ada@example.com"], "Your trial ends soon"),
    ]
    assert mails[0]["from"] == "noreply@example.com"
    sleep = status["steps"][1]
    assert sleep["type"] == "sleep"
    assert sleep["status"] == "succeeded"


def test_an_active_user_gets_no_follow_up(workflows: WorkflowTestEnv) -> None:
    workflows.binding("user-lifecycle").create(id="u1", params=USER)
    workflows.advance("3 days")
    assert len(workflows.sent_emails()) == 1
    workflows.env.DB.put({"pk": activity_partition("u1"), "sk": "activity#2026-01-04", "n": 1})
    status = workflows.wait_for_status("user-lifecycle", "u1", "complete").to_dict()
    assert status["output"] == {"user_id": "u1", "actions": 1, "followed_up": False}
    assert [m["subject"] for m in workflows.sent_emails()] == ["Welcome!"]


def test_disabled_sleeps_skip_the_trial_without_moving_the_clock(
    workflows: WorkflowTestEnv,
) -> None:
    start = workflows.now()
    with workflows.introspect("user-lifecycle", "u1") as i:
        i.disable_sleeps()
        workflows.binding("user-lifecycle").create(id="u1", params=USER)
        assert i.wait_for_status("complete").output["followed_up"] is True
    assert workflows.now() == start


def test_a_mail_service_that_keeps_failing_errors_the_instance(
    workflows: WorkflowTestEnv,
) -> None:
    with workflows.introspect("user-lifecycle", "u1") as i:
        i.mock_step_error("send welcome email", ConnectionError("SES throttled"))
        workflows.binding("user-lifecycle").create(id="u1", params=USER)
        status = i.wait_for_status("errored").to_dict()
    assert status["steps"][0]["attempts"] == 6  # Cloudflare's default: limit 5 retries
    assert "SES throttled" in status["error"]["message"]
    assert workflows.sent_emails() == []
