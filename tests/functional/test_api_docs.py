"""docs/api.md's curl walk-through is a test: each `curl` block is sent, in order, to the
API handler served on 127.0.0.1 (on moto), and the answer compared with the doc's."""

from __future__ import annotations

import json
import re
import shlex
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.testing import WorkflowTestEnv

from functions.app import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ANY = "..."


def examples() -> list[tuple[str, str]]:
    """(curl command, expected HTTP answer) pairs, in the doc's order."""
    text = DOC.read_text()
    pairs = re.findall(r"```bash\n(curl .*?)```\s*```http\n(.*?)```", text, re.S)
    return [(command.replace("\\\n", " "), answer) for command, answer in pairs]


def send(command: str, base_url: str) -> tuple[int, Any]:
    """Run a curl command line (the options the doc uses) with urllib."""
    args = shlex.split(command.replace("$LWF_URL", base_url))
    assert args[0] == "curl"
    method, data, headers, url = "GET", None, {}, None
    rest = iter(args[1:])
    for arg in rest:
        if arg == "-X":
            method = next(rest)
        elif arg == "-d":
            data = next(rest).encode()
        elif arg == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-s":
            continue
        else:
            assert url is None, f"unexpected argument {arg!r}"
            url = arg
    assert url is not None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body) if body else None


def matches(expected: Any, actual: Any) -> bool:
    if expected == ANY:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(expected) == set(actual)
            and all(matches(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def test_every_curl_example_answers_as_documented() -> None:
    """The walk-through covers create, get, events, list, 422, 409, delete, batch and the
    transitions; each answer (status and body) is the documented one."""
    pairs = examples()
    assert len(pairs) >= 10
    with WorkflowTestEnv(app) as env, serve(ApiHandler(lambda: env.engine)) as base_url:
        for command, answer in pairs:
            head, _, body = answer.partition("\n\n")
            expected_status = int(head.split()[1])
            expected = json.loads(body) if body.strip() else None
            status, actual = send(command, base_url)
            assert (status, matches(expected, actual)) == (expected_status, True), (
                command,
                actual,
            )
            env.run_until_idle()
