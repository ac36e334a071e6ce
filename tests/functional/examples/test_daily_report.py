"""Example 8, scheduled chain: a daily cron, one instance per tick, 7 days to a follow-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lambda_workflows import ValidationError
from lambda_workflows.handlers.cron import CronHandler
from lambda_workflows.testing import WorkflowTestEnv


def test_a_tick_starts_a_report_that_follows_up_a_week_later(workflows: WorkflowTestEnv) -> None:
    instance = workflows.fire_cron("daily-report")
    tick = workflows.now()
    assert tick == datetime(2026, 1, 2, tzinfo=UTC)  # the next midnight after the env's start
    assert instance.id == "daily-2026-01-02T0000Z"
    with workflows.introspect("daily-report", instance.id) as i:
        assert i.wait_for_step_result("daily task") == "reports/2026-01-02.json"
        assert i.wait_for_status("complete").output == {"report": "reports/2026-01-02.json"}
    assert workflows.now() - tick >= timedelta(days=7)
    assert [m["subject"] for m in workflows.sent_emails()] == ["Follow-up on the 2026-01-02 report"]
    assert workflows.env.BUCKET.get("reports/2026-01-02.json").json()["instance"] == instance.id


def test_a_repeated_tick_is_a_no_op(workflows: WorkflowTestEnv) -> None:
    first = workflows.fire_cron()
    again = workflows.fire_cron(at=workflows.now())  # re-delivered while still queued
    assert again.id == first.id
    workflows.run_until_idle()
    assert workflows.fire_cron(at=workflows.now()) is None  # re-delivered once it runs
    page = workflows.engine.services.journal.list_instances("daily-report")
    assert [m.instance_id for m in page.instances] == [first.id]
    workflows.fire_cron()  # the next day's tick is a new instance
    page = workflows.engine.services.journal.list_instances("daily-report")
    assert len(page.instances) == 2


def test_a_follow_up_that_keeps_failing_errors_the_report(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("daily-report") as every:
        every.mock_step_error("weekly follow-up", ConnectionError("mail down"))
        instance = workflows.fire_cron()
        status = workflows.wait_for_status("daily-report", instance.id, "errored").to_dict()
    assert status["steps"][-1]["name"] == "weekly follow-up"
    assert status["steps"][-1]["attempts"] == 6


def test_the_cron_lambda_handler(workflows: WorkflowTestEnv) -> None:
    handler = CronHandler(lambda: workflows.engine)
    event = {"cron": "daily-report", "time": "2026-01-05T00:00:00Z"}
    assert handler(event, None) == {
        "cron": "daily-report",
        "time": "2026-01-05T00:00:00Z",
        "created": "daily-2026-01-05T0000Z",
    }
    workflows.run_until_idle()
    assert handler(event, None)["created"] is None
    with pytest.raises(ValidationError):
        handler({"time": "2026-01-05T00:00:00Z"}, None)
    with pytest.raises(ValidationError):
        handler({"cron": "nope", "time": "2026-01-05T00:00:00Z"}, None)
    with pytest.raises(ValidationError):
        handler({"cron": "daily-report", "time": "yesterday"}, None)
