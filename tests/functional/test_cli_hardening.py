"""`lwf` against bad input, bad addresses and hostile or broken servers: every case is a
clear message and an exit code (2 usage, 3 not the API), never a traceback, a hang, a
leaked credential or a terminal driven by the data."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from lambda_workflows.cli import app, client, render
from lambda_workflows.cli.client import normalized_base_url
from lambda_workflows.cli.session import PIPED_WIDTH, CliState, _stdout_console
from lambda_workflows.http.models import InstanceListModel, StepModel
from lambda_workflows.http.wsgi import serve
from rich.console import Console
from typer.testing import CliRunner, Result

from tests.functional.cli_support import ACCESS_KEY, REGION, SECRET_KEY, Lwf

AT = "2026-01-01T00:00:00+00:00"
NO_AWS = {
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_PROFILE": None,
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_REGION": None,
    "AWS_DEFAULT_REGION": None,
}
SIGNING = {**NO_AWS, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def run(
    args: list[str], url: str | None = None, env: dict[str, str | None] | None = None
) -> Result:
    state = CliState(stdout=Console(width=200), stderr=Console(width=200, stderr=True))
    environment = {**NO_AWS, "LWF_URL": url, **(env or {})}
    return CliRunner().invoke(app, args, env=environment, obj=state)


def quiet(result: Result, code: int) -> None:
    """Exited with `code` through the CLI's own handling, not an exception."""
    assert result.exit_code == code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


def answering(document: Any, status: int = 200) -> Callable[[dict[str, Any], Any], Any]:
    def handler(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        body = document if isinstance(document, str) else json.dumps(document)
        return {"statusCode": status, "body": body}

    return handler


def status_only(status: int) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


@contextmanager
def raw_server(
    respond: Callable[[BaseHTTPRequestHandler], None],
) -> Iterator[tuple[str, list[BaseHTTPRequestHandler]]]:
    """A bare HTTP server on 127.0.0.1 whose every request `respond` answers."""
    seen: list[BaseHTTPRequestHandler] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(self)
            respond(self)

        do_GET = do_POST = do_DELETE = _any

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


# -- input: files, names, URLs -----------------------------------------------------------


def test_a_params_file_that_is_not_utf8_is_a_usage_error(lwf: Lwf, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.json"
    latin.write_bytes(b'{"user_id": "caf\xe9"}')
    result = lwf("trigger", "approval", "--params-file", str(latin))
    quiet(result, 2)
    assert "not UTF-8" in result.output
    assert lwf.requests == []


def test_a_params_file_with_a_byte_order_mark_is_read(lwf: Lwf, tmp_path: Path) -> None:
    bom = tmp_path / "bom.json"
    bom.write_bytes(b'\xef\xbb\xbf{"user_id": "u1"}')
    assert lwf.json("trigger", "approval", "--params-file", str(bom), "--id", "b1")["id"] == "b1"


@pytest.mark.parametrize(
    "args",
    [
        ["workflows", "describe", ""],
        ["instances", "list", ""],
        ["instances", "describe", "approval", ""],
        ["instances", "pause", "approval", "a/b"],
        ["instances", "delete", "approval", "-x"],
        ["trigger", "approval", "{}", "--id", "has space"],
        ["send-event", "approval", "r1", "a.b"],
        ["send-event", "approval", "r1", "ok", "--event-id", ""],
    ],
    ids=["empty-name", "empty-list-name", "empty-id", "slash", "dash", "id-space", "dot", "event"],
)
def test_names_and_ids_the_api_refuses_are_usage_errors_sent_nowhere(
    lwf: Lwf, args: list[str]
) -> None:
    result = lwf(*args)
    quiet(result, 2)
    assert lwf.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "localhost",
        "localhost:8787",
        "http://[::1",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:abc",
        "http://127.0.0.1:0",
        "http://127.0.0.1:8787/?x=1",
        "http://127.0.0.1:8787/#top",
        "ftp://127.0.0.1",
        "http://user:pw@127.0.0.1",
        "http://127.0.0.1/a b",
    ],
)
def test_a_bad_lwf_url_or_url_is_a_usage_error(url: str) -> None:
    from_env = run(["workflows", "list"], url=url)
    quiet(from_env, 2)
    assert "$LWF_URL" in from_env.output
    flag = run(["workflows", "list", "--url", url], env=SIGNING)
    quiet(flag, 2)
    assert "--url" in flag.output


# -- --json: one error document for every failure ----------------------------------------


def _error_document(result: Result) -> dict[str, Any]:
    document = json.loads(result.stdout)
    assert set(document) == {"error"}
    return dict(document["error"])


def test_json_errors_have_a_code_for_each_kind() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    unreachable = run(["workflows", "list", "--json"], url=closed)
    quiet(unreachable, 3)
    assert _error_document(unreachable)["code"] == "api_unreachable"

    no_credentials = run(["workflows", "list", "--json", "--url", closed])
    quiet(no_credentials, 2)
    assert _error_document(no_credentials)["code"] == "credentials_missing"

    usage = run(["instances", "list", "race", "--limit", "0", "--json"], url=closed)
    quiet(usage, 2)
    assert _error_document(usage)["code"] == "usage"
    assert "--limit" in _error_document(usage)["message"]

    with serve(answering("<html>proxy</html>")) as url:
        impostor = run(["workflows", "list", "--json"], url=url)
    quiet(impostor, 3)
    assert _error_document(impostor) | {"message": ""} == {
        "code": "unexpected_answer",
        "message": "",
        "status": 200,
    }


def test_ctrl_c_under_json_prints_the_error_document(lwf: Lwf) -> None:
    lwf.json("trigger", "approval", '{"user_id": "u"}', "--id", "w1")

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    lwf.pause = interrupt
    result = lwf("instances", "describe", "approval", "w1", "--watch", "--json")
    quiet(result, 130)
    assert _error_document(result)["code"] == "interrupted"


# -- transport: redirects, signing, slow and broken servers -----------------------------


def test_a_signed_request_does_not_follow_a_redirect() -> None:
    with raw_server(status_only(200)) as (elsewhere, taken):

        def redirect(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(307)
            handler.send_header("Location", f"{elsewhere}/steal")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        with raw_server(redirect) as (url, asked):
            result = run(["workflows", "list", "--url", url, "--region", REGION], env=SIGNING)
    quiet(result, 3)
    assert "does not follow redirects" in result.stderr
    assert len(asked) == 1
    assert "Authorization" in asked[0].headers
    assert taken == []


def test_signed_plain_http_to_another_host_warns() -> None:
    result = run(
        ["workflows", "list", "--url", "http://127.0.0.2:9", "--region", REGION], env=SIGNING
    )
    quiet(result, 3)
    assert "unencrypted" in result.stderr


def test_query_values_are_percent_encoded_as_sigv4_signs_them() -> None:
    with raw_server(status_only(404)) as (url, asked):
        run(["instances", "list", "race", "--cursor", "a b+c/d"], url=url)
    assert asked[0].path.endswith("?cursor=a%20b%2Bc%2Fd")


def test_the_default_port_is_dropped_so_the_signed_host_is_the_sent_one() -> None:
    assert (
        normalized_base_url("https://api.example.com:443/prod/") == "https://api.example.com/prod"
    )
    assert normalized_base_url("http://h:80") == "http://h"
    assert normalized_base_url("https://h:8443/p") == "https://h:8443/p"


def test_a_slow_drip_answer_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline covers the whole answer, not each read (time is faked: it starts at 0
    and reads 1,000 s after that, as if the first bytes had taken that long)."""
    ticks = iter([0.0])
    monkeypatch.setattr(client, "monotonic", lambda: next(ticks, 1000.0))
    release = threading.Event()

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"{")
        handler.wfile.flush()
        release.wait(5)

    with raw_server(drip) as (url, _):
        try:
            result = run(["workflows", "list"], url=url)
        finally:
            release.set()
    quiet(result, 3)
    assert "no complete answer within 30 seconds" in result.stderr


@pytest.mark.parametrize("status", [502, 503, 504, 404])
def test_a_non_json_error_page_is_not_the_api(status: int) -> None:
    page = "<html><body>" + "Bad Gateway " * 200 + "</body></html>"

    def proxy(handler: BaseHTTPRequestHandler) -> None:
        body = page.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with raw_server(proxy) as (url, _):
        result = run(["workflows", "list"], url=url)
    quiet(result, 3)
    assert f"answered {status} with a body that is not JSON" in result.stderr
    assert "Bad Gateway" not in result.output


@pytest.mark.parametrize("status", [200, 409])
def test_json_nested_too_deep_is_not_the_api(status: int) -> None:
    with serve(answering("[" * 100_000 + "]" * 100_000, status)) as url:
        result = run(["instances", "pause", "race", "r1"], url=url)
    quiet(result, 3)
    assert "not JSON" in result.stderr


def test_all_stops_on_a_cursor_that_repeats() -> None:
    page = {"instances": [], "cursor": "same"}
    with serve(answering(page)) as url:
        result = run(["instances", "list", "race", "--all"], url=url)
    quiet(result, 3)
    assert "the same cursor twice" in result.stderr


# -- odd answers in the API's shape -------------------------------------------------------


def _workflow(schema: Any) -> dict[str, Any]:
    return {
        "name": "w", "class_name": "m.W", "binding": None, "concurrency": None,
        "step_limit": 10_000, "params_schema": schema, "crons": [], "counts": {},
    }  # fmt: skip


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": [1, 2]},
        {"properties": {"a": 5, "b": "text"}},
        {"required": 3, "properties": {"a": {"type": ["string", "null"]}}},
        {"properties": {"a": {"type": "array", "items": {"type": "array", "items": {}}}}},
        {"properties": {"a": {"anyOf": [1, {"$ref": "#/x/Y"}]}}},
        {"properties": {"a": {"default": {"nested": [1, 2]}}}},
    ],
)
def test_odd_params_schemas_are_shown(schema: dict[str, Any]) -> None:
    with serve(answering(_workflow(schema))) as url:
        result = run(["workflows", "describe", "w"], url=url)
    quiet(result, 0)


def test_timestamps_that_are_not_iso_are_shown_as_sent() -> None:
    document = {
        "id": "x1", "workflow": "w", "status": "running", "params": None, "output": None,
        "error": None, "events": [], "created_at": "yesterday", "started_at": AT,
        "ended_at": "2026-01-01T00:00:05", "steps": [{
            "name": "s", "index": 0, "type": "sleep", "status": "sleeping", "attempts": 0,
            "started_at": "soon", "finished_at": None, "position": "0", "wake_at": "later",
        }],
    }  # fmt: skip
    with serve(answering(document)) as url:
        result = run(["instances", "describe", "w", "x1"], url=url)
    quiet(result, 0)
    assert "yesterday" in result.stdout
    assert "until later" in result.stdout


def test_values_in_one_line_views_are_escaped() -> None:
    with serve(answering({"id": "x\x1b[2J\nFAKE", "status": "queued"}, 201)) as url:
        result = run(["trigger", "w"], url=url)
    quiet(result, 0)
    assert "\x1b" not in result.stdout
    assert "x\\x1b[2J\\x0aFAKE" in result.stdout
    cursor = {"instances": [{"id": "a", "workflow": "w", "status": "queued", "error": None,
              "created_at": AT, "started_at": None, "ended_at": None}],
              "cursor": "c\x1b]0;t\x07"}  # fmt: skip
    with serve(answering(cursor)) as url:
        listed = run(["instances", "list", "w"], url=url)
    quiet(listed, 0)
    assert "--cursor c\\x1b]0;t\\x07" in listed.stdout
    assert render.plain("ab\u202ecd\u2028e").plain == "ab\\u202ecd\\u2028e"


# -- tables: ids and statuses whole, long text wraps ------------------------------------


def _render(renderable: Any, width: int) -> str:
    out = StringIO()
    Console(file=out, width=width, color_system=None).print(renderable)
    return out.getvalue()


def _instances(ids: list[str], error: str) -> InstanceListModel:
    rows = [
        {"id": i, "workflow": "w", "status": "waitingForPause", "created_at": AT,
         "started_at": AT, "ended_at": None, "error": {"name": "StepError", "message": error}}
        for i in ids
    ]  # fmt: skip
    return InstanceListModel.model_validate({"instances": rows, "cursor": None})


def test_a_table_at_80_columns_keeps_ids_and_statuses_whole_and_wraps_errors() -> None:
    ids = ["order-2026-12-04-000017", "order-2026-12-04-000018"]
    error = "the payment provider refused the card: insufficient funds " * 2
    text = _render(render.instances_table("w", _instances(ids, error)), 80)
    assert "…" not in text
    for line in text.splitlines():
        assert len(line) <= 80
    assert all(any(i in line for line in text.splitlines()) for i in ids)
    assert text.count("waitingForPause") == 2
    assert "insufficient funds" in re.sub(r"[\s│┃]+", " ", text)


def test_too_narrow_for_the_ids_shows_each_row_as_a_block() -> None:
    long_id = "x" * 100
    text = _render(render.instances_table("w", _instances([long_id], "boom")), 80)
    assert "…" not in text
    assert re.search(r"status:\s+waitingForPause", text)
    assert long_id in re.sub(r"\s+", "", text)


def test_a_256_character_step_name_wraps_and_squeezes_nothing() -> None:
    name = "n" * 256
    step = StepModel.model_validate({
        "name": name, "index": 0, "type": "do", "status": "failed", "attempts": 3,
        "started_at": AT, "finished_at": AT, "position": "0",
        "error": {"name": "ValueError", "message": "bad value"},
    })  # fmt: skip
    text = _render(render.steps_table([step]), 80)
    assert "…" not in text
    assert name in re.sub(r"[\s│┃]+", "", text)
    assert "ValueError: bad value" in text


def test_piped_output_keeps_each_row_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    console = _stdout_console()
    assert not console.is_terminal
    assert console.width == PIPED_WIDTH
