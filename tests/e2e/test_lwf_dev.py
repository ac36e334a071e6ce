"""`lwf dev` as a user starts it: a moto server on 127.0.0.1 and the example app."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lambda_workflows.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lwf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambda_workflows.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_lwf_dev_runs_the_demo_instances_to_completion() -> None:
    result = _lwf("dev", "--port", str(_free_port()), "--seed-demo", "--exit-when-done")
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


def test_lwf_dev_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--port", str(_free_port()), "--seed-demo", "--exit-when-done"]) == 0
    out = capsys.readouterr().out
    assert "[fan-out] demo-fan-out: complete" in out
    assert main(["workflows", "list"]) == 0
    assert "fan_out.FanOutWorkflow" in capsys.readouterr().out


def test_lwf_workflows_list() -> None:
    result = _lwf("workflows", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert '"name": "approval"' in result.stdout


def test_lwf_outside_a_project_says_why(tmp_path: Path) -> None:
    result = _lwf("workflows", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "[tool.lambda-workflows]" in result.stderr
