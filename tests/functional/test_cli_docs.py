"""docs/cli.md's walk-through is a test: each `$ lwf ...` line of a `console` block runs,
in order, against the API handler served on 127.0.0.1 over the example app (moto, virtual
clock), and its output must be the one the doc shows.

After a deliberate change of the CLI's output, rewrite the doc's outputs with
`LWF_UPDATE_DOCS=1 pytest tests/functional/test_cli_docs.py` and review the diff.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from lambda_workflows.cli import app
from lambda_workflows.cli.session import CliState
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.testing import WorkflowTestEnv
from rich.console import Console
from typer.testing import CliRunner

from functions.app import app as example_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
WIDTH = 120


def _commands(block: str) -> list[tuple[str, str]]:
    """(command line, documented output) pairs of one console block."""
    pairs: list[tuple[str, str]] = []
    for line in block.splitlines(keepends=True):
        if line.startswith("$ "):
            pairs.append((line[2:].rstrip("\n"), ""))
        else:
            assert pairs, f"output before any command in docs/cli.md: {line!r}"
            command, output = pairs[-1]
            pairs[-1] = (command, output + line)
    return pairs


DOC_URL = "http://127.0.0.1:8787"


def _run(env: WorkflowTestEnv, url: str, command: str) -> str:
    args = shlex.split(command)
    assert args[0] == "lwf", command
    env.run_until_idle()
    state = CliState(
        pause=lambda _seconds: env.run_until_idle(),
        stdout=Console(width=WIDTH, no_color=True),
        stderr=Console(width=WIDTH, stderr=True, no_color=True),
    )
    result = CliRunner().invoke(app, args[1:], env={"LWF_URL": url}, obj=state)
    output = result.output.replace(url, DOC_URL)  # the doc shows the dev server's address
    lines = [line.rstrip() for line in output.splitlines()]
    return "".join(f"{line}\n" for line in lines)


def test_every_documented_command_prints_what_the_doc_shows() -> None:
    text = DOC.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 8
    rewritten: list[str] = []
    mismatches: list[str] = []
    with WorkflowTestEnv(example_app) as env, serve(ApiHandler(lambda: env.engine)) as url:
        for block in blocks:
            new_block = ""
            for command, documented in _commands(block):
                actual = _run(env, url, command)
                if actual != documented:
                    mismatches.append(f"$ {command}\n--- doc\n{documented}--- actual\n{actual}")
                new_block += f"$ {command}\n{actual}"
            rewritten.append(new_block)
    if os.environ.get("LWF_UPDATE_DOCS"):
        parts = iter(rewritten)
        DOC.write_text(BLOCK.sub(lambda _m: f"```console\n{next(parts)}```", text))
        return
    assert not mismatches, "\n\n".join(mismatches)
