"""`lwf ... | head`: a reader that stops early ends `lwf` quietly (no traceback, exit 0)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

LWF = [
    sys.executable,
    "-c",
    "import sys; from lambda_workflows.cli.main import main; sys.exit(main())",
]


@pytest.mark.parametrize(
    "args",
    [
        ["instances", "list", "approval", "--all"],
        ["instances", "list", "approval", "--all", "--json"],
        ["instances", "describe", "approval", "r0"],
        ["workflows", "list"],
        ["--help"],
    ],
)
def test_a_closed_pipe_ends_lwf_without_a_traceback(lwf: Any, args: list[str]) -> None:
    for i in range(3):
        lwf.env.binding("approval").create(id=f"r{i}", params={"user_id": "u"})
    command = [*LWF, *args, *(["--url", lwf.url] if args != ["--help"] else [])]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # the reader is gone before the first write: always EPIPE
        errors = process.stderr.read().decode()
        code = process.wait(timeout=60)
    assert "Traceback" not in errors
    assert "Exception ignored" not in errors
    assert code == 0, errors
