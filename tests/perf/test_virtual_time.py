"""Time skipping costs a suspension, not the sleep: a ratio, never an absolute time."""

from __future__ import annotations

import statistics
import time

from lambda_workflows import load_app
from lambda_workflows.testing import WorkflowTestEnv


def _seconds(skip_sleeps: bool) -> float:
    with WorkflowTestEnv(load_app()) as env, env.introspect("user-lifecycle", "u1") as i:
        if skip_sleeps:
            i.disable_sleeps()
        began = time.perf_counter()
        env.binding("user-lifecycle").create(id="u1", params={"user_id": "u1", "email": "a@b.c"})
        i.wait_for_status("complete")
        return time.perf_counter() - began


def test_a_week_long_sleep_costs_about_what_no_sleep_costs() -> None:
    _seconds(True)
    skipped = statistics.median(_seconds(False) for _ in range(3))
    disabled = statistics.median(_seconds(True) for _ in range(3))
    assert skipped / disabled < 10, (skipped, disabled)
