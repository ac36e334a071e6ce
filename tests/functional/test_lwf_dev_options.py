"""`lwf dev` refuses what it cannot run with one line on stderr and an exit code, within
seconds: an app it cannot load, ports out of range or in use. Never a traceback, never
a hang."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30
"""Seconds an `lwf dev` that should fail at once may take (a hang fails the test)."""


def _lwf_dev(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambda_workflows.cli", "dev", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- the app --------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with modules that are not (or not quite) apps."""
    files = {
        "flows.py": """
            from lambda_workflows import WorkflowApp

            other_app = WorkflowApp(workflows=[])
            not_an_app = 42
            """,
        "broken.py": """
            x = 1
            raise RuntimeError("the database is down")
            """,
        "needs_dep.py": "import lwf_no_such_dependency\n",
        "bad_syntax.py": "def f(:\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize(
    ("app", "says"),
    [
        ("lwf_no_such_module:app", "no module named 'lwf_no_such_module'"),
        ("lwf_no_such_pkg.sub:app", "no module named 'lwf_no_such_pkg'"),
        ("flows:missing", "module 'flows' has no attribute 'missing'; its WorkflowApps: other_app"),
        ("noColon", "must look like 'module:attribute'"),
        (".flows:app", "must be absolute"),
        ("flows:not_an_app", "flows:not_an_app is not a WorkflowApp (its type is int)"),
        ("broken:app", "'broken' failed: RuntimeError: the database is down (at broken.py:3)"),
        ("needs_dep:app", "No module named 'lwf_no_such_dependency' (at needs_dep.py:1)"),
        ("bad_syntax:app", "'bad_syntax' failed: SyntaxError: invalid syntax (at bad_syntax.py:1)"),
    ],
)
def test_an_app_that_cannot_be_loaded_is_a_usage_error(project: Path, app: str, says: str) -> None:
    result = _lwf_dev("--app", app, "--port", "0", cwd=project)
    assert result.returncode == 2, result.stderr
    assert says in _one_error_line(result)


def test_a_configured_app_that_raises_is_a_usage_error(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.lambda-workflows]\napp = "broken:app"\n')
    result = _lwf_dev("--port", "0", cwd=project)
    assert result.returncode == 2, result.stderr
    assert "RuntimeError: the database is down" in _one_error_line(result)


def test_a_pyproject_that_is_not_toml_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.lambda-workflows\n")
    result = _lwf_dev("--port", "0", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "pyproject.toml is not valid TOML" in _one_error_line(result)


# -- the ports ------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_an_aws_port_in_use_is_an_error_naming_it(busy_port: int) -> None:
    result = _lwf_dev("--aws-port", str(busy_port), "--port", "0")
    assert result.returncode == 1, result.stderr
    line = _one_error_line(result)
    assert f"cannot listen on 127.0.0.1:{busy_port} (the port is in use)" in line
    assert "pass --aws-port with another port, or leave it out for a free one" in line


def test_an_api_port_in_use_is_an_error_naming_it(busy_port: int) -> None:
    result = _lwf_dev("--port", str(busy_port))
    assert result.returncode == 1, result.stderr
    line = _one_error_line(result)
    assert f"cannot listen on 127.0.0.1:{busy_port} (the port is in use" in line
    assert "pass --port with another port, or pass --port 0 for a free one" in line


def test_the_same_port_for_both_is_an_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    result = _lwf_dev("--port", port, "--aws-port", port)
    assert result.returncode == 1, result.stderr
    assert "pass --aws-port with another port" in _one_error_line(result)


def test_a_host_that_is_not_this_machines_is_an_error() -> None:
    result = _lwf_dev("--host", "lwf-no-such-host.invalid", "--port", "0")
    assert result.returncode == 1, result.stderr
    assert "pass a --host of this machine" in _one_error_line(result)


@pytest.mark.parametrize("option", ["--port", "--aws-port"])
@pytest.mark.parametrize("value", ["-1", "65536", "70000"])
def test_a_port_out_of_range_is_a_usage_error(option: str, value: str) -> None:
    result = _lwf_dev(option, value, *(["--port", "0"] if option == "--aws-port" else []))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"Invalid value for '{option}'" in result.stderr
