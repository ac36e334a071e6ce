"""`lwf dev` as a user starts it (moto and the HTTP API on 127.0.0.1), and `lwf` talking
to it over HTTP from another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest
from lambda_workflows.cli import main
from lambda_workflows.clock import monotonic, wait_real

from tests.e2e.dev_process import READY, ROOT, running_dev


def _lwf(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambda_workflows.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_lwf_dev_runs_the_demo_instances_to_completion() -> None:
    result = _lwf("dev", "--port", "0", "--seed-demo", "--exit-when-done")
    assert result.returncode == 0, result.stderr
    for workflow in (
        "image-processing",
        "data-pipeline",
        "approval",
        "fan-out",
        "parent-child",
        "race",
    ):
        assert f"[{workflow}] demo-{workflow}: complete" in result.stdout
    assert "[child-task] demo-parent-child-child-0: complete" in result.stdout
    assert "LWF_TABLE_NAME=lwf-journal" in result.stdout
    assert 'LWF_BINDINGS={"BUCKET": "lwf-bucket", "DB": "lwf-app-data"}' in result.stdout
    assert READY in result.stdout
    assert "for lwf in another terminal: export LWF_URL=http://127.0.0.1:" in result.stdout


def test_lwf_dev_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--port", "0", "--seed-demo", "--exit-when-done"]) == 0
    assert "[fan-out] demo-fan-out: complete" in capsys.readouterr().out


@pytest.fixture
def dev_server() -> Iterator[str]:
    with running_dev() as url:
        yield url


def _http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _status(url: str, workflow: str, instance_id: str) -> Any:
    return _http("GET", f"{url}/workflows/{workflow}/instances/{instance_id}")


def _until(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll a real server (its own process, on the wall clock) until `check` holds."""
    deadline = monotonic() + seconds
    while not check():
        if monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        wait_real(0.2)


def test_skip_sleeps_runs_a_week_long_sleep_at_once_but_keeps_an_event_wait(
    tmp_path: Path,
) -> None:
    """`--skip-sleeps`: the 7-day trial of user-lifecycle passes at once once nothing else
    waits; the approval's 48-hour event wait is never jumped over, so the event sent with
    `lwf send-event` still reaches it."""
    with running_dev("--skip-sleeps") as url:
        created = _http(
            "POST", f"{url}/workflows/approval/instances", {"id": "a1", "params": {"user_id": "u"}}
        )
        assert created == {"id": "a1", "status": "queued"}
        _until(lambda: _status(url, "approval", "a1")["status"] == "waiting", "approval waits")
        _http(
            "POST",
            f"{url}/workflows/user-lifecycle/instances",
            {"id": "t1", "params": {"user_id": "u", "email": "u@example.com"}},
        )
        _until(lambda: _status(url, "user-lifecycle", "t1")["status"] == "waiting", "trial sleeps")
        assert _status(url, "approval", "a1")["status"] == "waiting"  # not timed out
        sent = _lwf(
            "send-event", "approval", "a1", "approval-response", '{"approved": true}',
            env={"LWF_URL": url},
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        _until(lambda: _status(url, "approval", "a1")["status"] == "complete", "approval ends")
        _until(lambda: _status(url, "user-lifecycle", "t1")["status"] == "complete", "trial ends")
        trial = _status(url, "user-lifecycle", "t1")
        sleep = next(s for s in trial["steps"] if s["type"] == "sleep")
        slept = datetime.fromisoformat(sleep["finished_at"]) - datetime.fromisoformat(
            sleep["started_at"]
        )
        assert slept >= timedelta(days=7)


def test_persist_keeps_a_sleeping_instance_across_a_restart(tmp_path: Path) -> None:
    """An instance sleeping 7 days when `lwf dev --persist` stops wakes after the restart
    (here with `--skip-sleeps`, so the week passes at once) and completes."""
    state = tmp_path / "state"
    with running_dev("--persist", str(state)) as url:
        _http(
            "POST",
            f"{url}/workflows/user-lifecycle/instances",
            {"id": "p1", "params": {"user_id": "u", "email": "u@example.com"}},
        )
        _until(lambda: _status(url, "user-lifecycle", "p1")["status"] == "waiting", "sleeping")
    assert (state / "state.json").is_file()
    with running_dev("--persist", str(state), "--skip-sleeps") as url:
        _until(lambda: _status(url, "user-lifecycle", "p1")["status"] == "complete", "woke again")
        after = _status(url, "user-lifecycle", "p1")
        assert [s["name"] for s in after["steps"]] == [
            "send welcome email",
            "trial period",
            "check activity",
            "send follow-up email",
        ]
        assert after["steps"][0]["attempts"] == 1  # the journal came back: not run again


def test_sigterm_saves_the_state_like_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "lambda_workflows.cli", "dev", "--port", "0",
         "--persist", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        url = next(line for line in process.stdout if line.startswith(READY))
        url = url[len(READY) :].split()[0]
        _http("POST", f"{url}/workflows/race/instances", {"id": "kept"})
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    assert "race#kept" in (state / "state.json").read_text()  # the instance's partition


def test_lwf_commands_drive_an_instance_on_the_dev_server(dev_server: str) -> None:
    url = {"LWF_URL": dev_server}
    listed = _lwf("workflows", "list", "--json", env=url)
    assert listed.returncode == 0, listed.stderr
    assert "approval" in [w["name"] for w in json.loads(listed.stdout)["workflows"]]

    created = _lwf("trigger", "approval", '{"user_id": "u1"}', "--id", "e2e-1", env=url)
    assert created.returncode == 0, created.stderr
    assert "Created approval instance e2e-1" in created.stdout
    sent = _lwf(
        "send-event", "approval", "e2e-1", "approval-response", '{"approved": true}', env=url
    )
    assert sent.returncode == 0, sent.stderr
    watched = _lwf(
        "instances", "describe", "approval", "e2e-1", "--watch", "--interval", "0.2", "--json",
        env=url,
    )  # fmt: skip
    assert watched.returncode == 0, watched.stderr
    details = json.loads(watched.stdout)
    assert details["status"] == "complete"
    assert [s["name"] for s in details["steps"]] == [
        "create approval",
        "wait for approval",
        "process approval",
    ]


def test_lwf_without_a_dev_server_says_how_to_start_one() -> None:
    result = _lwf("workflows", "list", env={"LWF_URL": "http://127.0.0.1:9"})
    assert result.returncode == 3
    assert "lwf dev" in result.stderr


def test_lwf_dev_outside_a_project_says_why(tmp_path: Path) -> None:
    result = _lwf("dev", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "[tool.lambda-workflows]" in result.stderr


def test_lwf_dev_with_an_app_option_outside_a_project(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(
        textwrap.dedent(
            """
            from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint

            class Hello(WorkflowEntrypoint):
                async def run(self, event, step):
                    return await step.do("hello", lambda: "hi")

            app = WorkflowApp(workflows=[Workflow("hello", Hello)])
            """
        )
    )
    result = _lwf(
        "dev", "--app", "flows:app", "--port", "0", "--seed-demo", "--exit-when-done",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "workflows: hello" in result.stdout
    assert "nothing was seeded: flows defines no seed_demo(engine)" in result.stdout
