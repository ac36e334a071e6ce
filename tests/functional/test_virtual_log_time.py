"""In a test env, the engine's log lines carry the virtual time."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from lambda_workflows import NonRetryableError, Workflow, WorkflowApp, WorkflowEntrypoint


class Late(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("a week", "7 days")
        await step.do("fail", self.fail)

    @staticmethod
    def fail() -> None:
        raise NonRetryableError("after a week")


def test_a_line_logged_after_a_week_of_virtual_time_says_so(
    make_env: Any, log_stream: io.StringIO
) -> None:
    env = make_env(WorkflowApp([Workflow("late", Late)]))
    env.binding("late").create(id="l")
    env.wait_for_status("late", "l", "errored")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines() if line.strip()]
    (failed,) = [line for line in lines if line["message"] == "step attempt failed"]
    logged = datetime.strptime(failed["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z")
    assert logged == datetime(2026, 1, 8, tzinfo=UTC)  # the env starts on Jan 1
    assert failed["instance_id"] == "l"
