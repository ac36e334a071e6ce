"""`lwf` against the API handler served on 127.0.0.1 (the adapter `lwf dev` serves), on
moto with the example app: each command's table and `--json` output, the exit codes, and
SigV4 signing of `--url` requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lambda_workflows.aws.sigv4 import region_of
from lambda_workflows.cli import app, main
from lambda_workflows.cli.session import CliState
from lambda_workflows.http.models import InstanceDetailsModel
from lambda_workflows.http.wsgi import serve
from lambda_workflows.testing import WorkflowTestEnv
from rich.console import Console
from typer.testing import CliRunner

from tests.functional.cli_support import ACCESS_KEY, REGION, SECRET_KEY, Lwf


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- workflows -------------------------------------------------------------------------


def test_workflows_list_shows_every_workflow(lwf: Lwf) -> None:
    result = lwf("workflows", "list")
    assert result.exit_code == 0, result.output
    for name in lwf.env.engine.app.names:
        assert name in result.stdout
    assert "fan_out.FanOutWorkflow" in result.stdout
    names = [w["name"] for w in lwf.json("workflows", "list")["workflows"]]
    assert names == lwf.env.engine.app.names


def test_workflows_describe_shows_params_and_counts(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="a1", params={"user_id": "u1"})
    result = lwf("workflows", "describe", "approval")
    assert result.exit_code == 0, result.output
    assert "user_id" in result.stdout
    assert "request_id" in result.stdout
    assert "queued" in result.stdout
    document = lwf.json("workflows", "describe", "approval")
    assert document["params_schema"]["required"] == ["user_id"]
    assert document["counts"]["queued"] == 1
    crons = lwf.json("workflows", "describe", "daily-report")["crons"]
    assert crons
    assert "expression" in crons[0]


def test_an_unknown_workflow_exits_1_and_says_where_the_names_are(lwf: Lwf) -> None:
    result = lwf("workflows", "describe", "nope")
    assert result.exit_code == 1
    assert "no workflow named 'nope'" in result.stderr
    assert "lwf workflows list" in result.stderr
    as_json = lwf("workflows", "describe", "nope", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "workflow_not_found"


# -- trigger ---------------------------------------------------------------------------


def test_trigger_creates_and_a_retry_is_idempotent(lwf: Lwf) -> None:
    result = lwf("trigger", "fan-out", '{"items": ["a", "b"]}', "--id", "f1")
    assert result.exit_code == 0, result.output
    assert "Created fan-out instance f1 (queued)" in result.stdout
    assert "lwf instances describe fan-out f1 --watch" in result.stdout
    again = lwf("trigger", "fan-out", '{"items": ["a", "b"]}', "--id", "f1")
    assert again.exit_code == 0, again.output
    assert "Found (idempotent retry) fan-out instance f1" in again.stdout
    other = lwf("trigger", "fan-out", '{"items": ["c"]}', "--id", "f1")
    assert other.exit_code == 1
    assert "f1" in other.stderr
    lwf.env.wait_for_status("fan-out", "f1", "complete")
    assert lwf.env.binding("fan-out").get("f1").status().output["count"] == 2


def test_trigger_json_and_generated_id(lwf: Lwf) -> None:
    document = lwf.json("trigger", "race")
    assert set(document) == {"id", "status"}
    assert document["status"] == "queued"
    assert lwf.env.binding("race").get(document["id"]).status().status == "queued"


def test_trigger_reads_params_from_a_file_or_stdin(lwf: Lwf, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text('{"user_id": "u7"}')
    assert lwf("trigger", "approval", "--params-file", str(params), "--id", "p1").exit_code == 0
    assert lwf.env.binding("approval").get("p1").status().params == {
        "user_id": "u7",
        "request_id": None,
    }
    runner_state = CliState(stdout=Console(width=200))
    piped = CliRunner().invoke(
        app,
        ["trigger", "approval", "--params-file", "-", "--id", "p2"],
        input='{"user_id": "u8"}',
        env={"LWF_URL": lwf.url},
        obj=runner_state,
    )
    assert piped.exit_code == 0, piped.output
    assert lwf.env.binding("approval").get("p2").status().params["user_id"] == "u8"


def _scan(env: WorkflowTestEnv) -> int:
    return len(env.engine.services.journal.list_instances("approval", limit=100).instances)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["trigger", "approval", "{not json"], 2, "PARAMS_JSON is not valid JSON"),
        (["trigger", "approval", "{}", "--params-file", "x.json"], 2, "not both"),
        (["trigger", "approval", "--params-file", "/nonexistent.json"], 2, "cannot read"),
        (["trigger", "approval", "{}"], 1, "user_id: Field required"),
        (["trigger", "approval", '{"user_id": "u"}', "--id", "bad id!"], 2, "[a-zA-Z0-9_]"),
        (["trigger", "nope", "{}"], 1, "no workflow named 'nope'"),
        (["trigger"], 2, "Missing argument"),
        (["trigger", "race", '{"x": NaN}'], 2, "NaN is not a JSON number"),
        (["trigger", "race", "[" * 5000 + "]" * 5000], 2, "nested too deep"),
        (["send-event", "race", "r1", "go", "Infinity"], 2, "Infinity is not"),
    ],
)
def test_trigger_rejects_bad_input_and_writes_nothing(
    lwf: Lwf, args: list[str], code: int, says: str
) -> None:
    result = lwf(*args)
    assert result.exit_code == code, result.output
    assert says in result.stderr
    assert _scan(lwf.env) == 0


# -- instances list ----------------------------------------------------------------------


def test_instances_list_pages_with_a_cursor_and_all(lwf: Lwf) -> None:
    for n in range(5):
        lwf.env.binding("fan-out").create(id=f"f{n}", params={"items": ["x"]})
    page = lwf("instances", "list", "fan-out", "--limit", "2")
    assert page.exit_code == 0, page.output
    assert "f4" in page.stdout
    assert "f3" in page.stdout
    assert "f0" not in page.stdout
    assert "More: lwf instances list fan-out --limit 2 --cursor " in page.stdout
    first = lwf.json("instances", "list", "fan-out", "--limit", "2")
    second = lwf.json("instances", "list", "fan-out", "--limit", "2", "--cursor", first["cursor"])
    assert [i["id"] for i in first["instances"] + second["instances"]] == ["f4", "f3", "f2", "f1"]
    every = lwf.json("instances", "list", "fan-out", "--limit", "2", "--all")
    assert [i["id"] for i in every["instances"]] == ["f4", "f3", "f2", "f1", "f0"]
    assert every["cursor"] is None


def test_instances_list_filters_by_status(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="done", params={"items": ["x"]})
    lwf.env.wait_for_status("fan-out", "done", "complete")
    lwf.env.binding("fan-out").create(id="new", params={"items": ["x"]})
    complete = lwf.json("instances", "list", "fan-out", "--status", "complete")
    assert [i["id"] for i in complete["instances"]] == ["done"]
    empty = lwf("instances", "list", "fan-out", "--status", "errored")
    assert empty.exit_code == 0
    assert "No instances of fan-out in status errored." in empty.stdout


@pytest.mark.parametrize(
    "args",
    [["--status", "finished"], ["--limit", "0"], ["--limit", "101"], ["--cursor", "garbage"]],
)
def test_instances_list_rejects_bad_options(lwf: Lwf, args: list[str]) -> None:
    result = lwf("instances", "list", "fan-out", *args)
    assert result.exit_code == 2, result.output


# -- instances describe ------------------------------------------------------------------


def test_describe_shows_the_step_timeline(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="a1", params={"user_id": "u1"})
    lwf.env.run_until_idle()
    result = lwf("instances", "describe", "approval", "a1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("status" in line and "waiting" in line for line in lines)
    created = next(line for line in lines if "create approval" in line)
    assert re.search(r"│ do +│ succeeded +│ +1 │", created), created
    waiting = next(line for line in lines if "wait for approval" in line)
    assert re.search(r"│ wait_for_event │ waiting +│ +│", waiting), waiting
    assert "event 'approval-response' · until 2026-01-03 00:00:00" in waiting
    document = lwf.json("instances", "describe", "approval", "a1")
    expected = lwf.env.binding("approval").get("a1").status().to_dict()
    assert document == InstanceDetailsModel.model_validate(expected).model_dump(mode="json")


def test_describe_shows_output_and_errors(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="f1", params={"items": ["ab", "c"]})
    lwf.env.wait_for_status("fan-out", "f1", "complete")
    result = lwf("instances", "describe", "fan-out", "f1")
    assert result.exit_code == 0, result.output
    assert re.search(r"output +\{.*\"count\": 2", result.stdout), result.stdout
    assert '{"item": "ab", "length": 2}' in result.stdout
    with lwf.env.introspect("approval", "e1") as probe:
        probe.mock_step_error("create approval", RuntimeError("table is down"))
        lwf.env.binding("approval").create(id="e1", params={"user_id": "u1"})
        lwf.env.wait_for_status("approval", "e1", "errored")
    failed = lwf("instances", "describe", "approval", "e1")
    assert "errored" in failed.stdout
    assert "table is down" in failed.stdout


def test_describe_an_unknown_instance_exits_1(lwf: Lwf) -> None:
    result = lwf("instances", "describe", "approval", "ghost")
    assert result.exit_code == 1
    assert "ghost" in result.stderr


def test_watch_refreshes_until_the_instance_completes(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="w1", params={"items": ["a"]})
    polls: list[float] = []

    def drive(seconds: float) -> None:
        polls.append(seconds)
        lwf.env.run_until_idle()

    lwf.pause = drive
    result = lwf("instances", "describe", "fan-out", "w1", "--watch", "--interval", "0.5")
    assert result.exit_code == 0, result.output
    assert polls == [0.5]
    assert result.stdout.count("instance  fan-out / w1") == 2
    assert result.stdout.index("queued") < result.stdout.index("complete")


def test_ctrl_c_during_watch_exits_130_quietly(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="c1", params={"user_id": "u1"})

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    lwf.pause = interrupt
    result = lwf("instances", "describe", "approval", "c1", "--watch")
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    assert "Aborted" not in result.output


def test_watch_exits_1_when_the_instance_does_not_complete(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="t1", params={"user_id": "u1"})
    lwf.pause = lambda _seconds: lwf.env.binding("approval").get("t1").terminate()
    result = lwf("instances", "describe", "approval", "t1", "--watch")
    assert result.exit_code == 1
    assert "terminated" in result.stdout


def test_watch_json_prints_one_document_at_the_end(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="w2", params={"items": ["a"]})
    lwf.pause = lambda _seconds: lwf.env.run_until_idle()
    result = lwf("instances", "describe", "fan-out", "w2", "--watch", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "complete"


# -- actions -----------------------------------------------------------------------------


def test_pause_resume_terminate_delete(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="a1", params={"user_id": "u1"})
    lwf.env.run_until_idle()
    paused = lwf("instances", "pause", "approval", "a1")
    assert paused.exit_code == 0, paused.output
    assert "Paused approval instance a1; status: paused" in paused.stdout
    assert lwf.json("instances", "resume", "approval", "a1") == {"id": "a1", "status": "queued"}
    busy = lwf("instances", "delete", "approval", "a1")
    assert busy.exit_code == 1
    assert "terminate it first" in busy.stderr
    terminated = lwf("instances", "terminate", "approval", "a1")
    assert "status: terminated" in terminated.stdout
    assert lwf.json("instances", "delete", "approval", "a1") == {"id": "a1", "deleted": True}
    assert lwf("instances", "describe", "approval", "a1").exit_code == 1


def test_restart_from_a_step(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="r1", params={"items": ["a"]})
    lwf.env.wait_for_status("fan-out", "r1", "complete")
    restarted = lwf("instances", "restart", "fan-out", "r1", "--from-step", "aggregate")
    assert restarted.exit_code == 0, restarted.output
    assert "Restarted fan-out instance r1; status: queued" in restarted.stdout
    lwf.env.wait_for_status("fan-out", "r1", "complete")
    unknown = lwf("instances", "restart", "fan-out", "r1", "--from-step", "nope")
    assert unknown.exit_code == 2
    assert "nope" in unknown.stderr
    assert lwf("instances", "restart", "fan-out", "r1", "--type", "sleep").exit_code == 2
    assert lwf("instances", "restart", "fan-out", "r1", "--type", "bogus").exit_code == 2


def test_a_transition_the_status_does_not_allow_exits_1(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="c1", params={"items": ["a"]})
    lwf.env.wait_for_status("fan-out", "c1", "complete")
    result = lwf("instances", "pause", "fan-out", "c1", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert (error["status"], error["code"]) == (409, "conflict")


# -- send-event --------------------------------------------------------------------------


def test_send_event_completes_the_approval(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="a1", params={"user_id": "u1"})
    lwf.env.run_until_idle()
    sent = lwf("send-event", "approval", "a1", "approval-response", '{"approved": true}')
    assert sent.exit_code == 0, sent.output
    assert "Sent 'approval-response' to approval instance a1" in sent.stdout
    details = lwf.env.wait_for_status("approval", "a1", "complete")
    assert details.output == {"status": "approved"} or details.output
    late = lwf("send-event", "approval", "a1", "approval-response", "--json")
    assert late.exit_code == 1
    assert json.loads(late.stdout)["error"]["status"] == 409
    assert lwf("send-event", "approval", "a1", "approval-response", "{x").exit_code == 2


def test_send_event_with_an_event_id_is_deduplicated(lwf: Lwf) -> None:
    lwf.env.binding("approval").create(id="a1", params={"user_id": "u1"})
    for _ in range(2):
        result = lwf("send-event", "approval", "a1", "other", "1", "--event-id", "e-1")
        assert result.exit_code == 0, result.output
    events = lwf.json("instances", "describe", "approval", "a1")["events"]
    assert [e["type"] for e in events] == ["other"]


# -- reaching the API ------------------------------------------------------------------


def test_no_dev_server_exits_3_and_says_how_to_start_it(lwf: Lwf) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = lwf("workflows", "list", env={"LWF_URL": url})
    assert result.exit_code == 3
    assert f"cannot reach the lambda-workflows API at {url}" in result.stderr
    assert "lwf dev" in result.stderr


def test_main_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LWF_URL", f"http://127.0.0.1:{_closed_port()}")
    assert main(["workflows", "list"]) == 3
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0


def test_an_api_gateway_refusal_says_to_sign(tmp_path: Path) -> None:
    def gateway(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return {"statusCode": 403, "body": '{"message":"Missing Authentication Token"}'}

    with serve(gateway) as url:
        result = CliRunner().invoke(
            app, ["workflows", "list"], env={"LWF_URL": url}, obj=CliState()
        )
    assert result.exit_code == 1
    assert "Missing Authentication Token" in result.stderr
    assert "pass its address as --url" in result.stderr


# -- SigV4 -------------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _expected_signature(request: dict[str, Any], secret: str) -> tuple[str, str]:
    """The Authorization header SigV4 prescribes for the request the server received,
    computed from the spec (not with botocore), and the access key it names."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    authorization = headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 ")
    parts = dict(p.strip().split("=", 1) for p in authorization[17:].split(","))
    access_key, date, region, service, terminator = parts["Credential"].split("/")
    assert (service, terminator) == ("execute-api", "aws4_request")
    signed = parts["SignedHeaders"].split(";")
    assert {"host", "x-amz-date"} <= set(signed)
    query = request.get("multiValueQueryStringParameters") or {}
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k in sorted(query)
        for v in sorted(query[k])
    )
    body = (request.get("body") or "").encode()
    canonical_request = "\n".join(
        [
            request["httpMethod"],
            quote(request["path"], safe="/-_.~"),
            canonical_query,
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    amz_date = headers["x-amz-date"]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert parts["Signature"] == signature, canonical_request
    return access_key, region


CREDENTIALS = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def test_url_requests_are_signed_with_sigv4(lwf: Lwf) -> None:
    lwf.env.binding("fan-out").create(id="f1", params={"items": ["x"]})
    listed = lwf(
        "instances", "list", "fan-out", "--status", "queued", "--limit", "5",
        "--url", lwf.url, "--region", REGION,
        env={**CREDENTIALS, "LWF_URL": None},
    )  # fmt: skip
    assert listed.exit_code == 0, listed.output
    created = lwf(
        "trigger", "fan-out", '{"items": ["a b", "ü"]}', "--id", "f2",
        "--url", lwf.url, "--region", REGION, env=CREDENTIALS,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    get, post = lwf.requests[-2:]
    assert get["queryStringParameters"] == {"status": "queued", "limit": "5"}
    assert post["httpMethod"] == "POST"
    assert json.loads(post["body"])["params"] == {"items": ["a b", "ü"]}
    for request in (get, post):
        assert _expected_signature(request, SECRET_KEY) == (ACCESS_KEY, REGION)
        assert "X-Amz-Security-Token" not in request["headers"]


def test_a_tampered_request_fails_the_check(lwf: Lwf) -> None:
    assert lwf("workflows", "list", "--url", lwf.url, "--region", REGION, env=CREDENTIALS)
    request = dict(lwf.requests[-1])
    _expected_signature(request, SECRET_KEY)
    request["path"] = "/workflows/other"
    with pytest.raises(AssertionError):
        _expected_signature(request, SECRET_KEY)
    with pytest.raises(AssertionError):
        _expected_signature(lwf.requests[-1], "another secret")


def test_profile_credentials_and_session_token(lwf: Lwf, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[ops]\naws_access_key_id = AKIDPROFILE\n"
        f"aws_secret_access_key = {SECRET_KEY}\naws_session_token = the-token\n"
    )
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-west-1\n")
    result = lwf(
        "workflows", "list", "--url", lwf.url, "--profile", "ops",
        env={"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    request = lwf.requests[-1]
    assert _expected_signature(request, SECRET_KEY) == ("AKIDPROFILE", "eu-west-1")
    assert request["headers"]["X-Amz-Security-Token"] == "the-token"


def test_signing_needs_credentials_and_a_region(lwf: Lwf) -> None:
    before = len(lwf.requests)
    no_keys = lwf("workflows", "list", "--url", lwf.url, "--region", REGION)
    assert no_keys.exit_code == 2
    assert "no AWS credentials found" in no_keys.stderr
    no_region = lwf(
        "workflows", "list", "--url", lwf.url,
        env=CREDENTIALS,
    )  # fmt: skip
    assert no_region.exit_code == 2
    assert "--region" in no_region.stderr
    assert lwf("workflows", "list", "--profile", "ops").exit_code == 2
    assert lwf("workflows", "list", "--url", "ftp://x").exit_code == 2
    assert len(lwf.requests) == before


def test_the_region_comes_from_an_api_gateway_url() -> None:
    assert region_of("https://a1b2c3.execute-api.eu-central-1.amazonaws.com/prod") == (
        "eu-central-1"
    )
    assert region_of("http://127.0.0.1:8787") is None


# -- init ------------------------------------------------------------------------------


def test_init_writes_a_project(tmp_path: Path) -> None:
    target = tmp_path / "my-flows"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert "my_flows/app.py" in result.stdout
    assert (target / "my_flows" / "app.py").is_file()
    again = CliRunner().invoke(app, ["init", str(target)])
    assert again.exit_code == 2
    assert "is not empty" in again.stderr


# -- answers that are not the API, data that is not text ---------------------------------


@pytest.mark.parametrize(
    "body",
    ["<html>a proxy's page</html>", '{"unexpected": "shape"}', '["a list"]'],
    ids=["html", "other-json", "list"],
)
def test_an_answer_that_is_not_the_api_exits_3(body: str) -> None:
    """A 200 from something else at that address (a proxy, another service) is reported as
    not reaching the API, not a traceback."""

    def impostor(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": body}

    with serve(impostor) as url:
        for args in (["workflows", "list"], ["instances", "describe", "race", "r1"]):
            result = CliRunner().invoke(app, args, env={"LWF_URL": url}, obj=CliState())
            assert result.exit_code == 3, (args, result.output)
            assert isinstance(result.exception, SystemExit)
            assert "is this a lambda-workflows API?" in result.stderr


def _details(error_message: str, step_name: str) -> dict[str, Any]:
    at = "2026-01-01T00:00:00+00:00"
    return InstanceDetailsModel.model_validate(
        {
            "id": "x1", "workflow": "race", "status": "errored", "params": {"p": "[b]p[/b]"},
            "output": None, "created_at": at, "started_at": at, "ended_at": at,
            "error": {"name": "StepError", "message": error_message, "step": step_name},
            "steps": [{
                "name": step_name, "index": 0, "type": "do", "status": "failed",
                "attempts": 1, "started_at": at, "finished_at": at, "position": "0",
                "error": {"name": "ValueError", "message": error_message},
            }],
            "events": [],
        }
    ).model_dump(mode="json")  # fmt: skip


def test_data_from_the_api_cannot_drive_the_terminal() -> None:
    """Error messages (anything a step raised) and other values are shown as text: escape
    sequences appear escaped, rich markup appears as written."""
    evil = "boom \x1b]0;owned\x07 \x1b[2J \x9b31m [red]not red[/red]"
    document = _details(evil, "[bold]step[/bold]")

    def server(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps(document)}

    with serve(server) as url:
        state = CliState(stdout=Console(width=300), stderr=Console(width=300, stderr=True))
        result = CliRunner().invoke(
            app, ["instances", "describe", "race", "x1"], env={"LWF_URL": url}, obj=state
        )
    assert result.exit_code == 0, result.output
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout)
    assert "\\x1b]0;owned\\x07" in result.stdout
    assert "\\x9b31m" in result.stdout
    assert "[red]not red[/red]" in result.stdout
    assert "[bold]step[/bold]" in result.stdout
    assert '"[b]p[/b]"' in result.stdout


def test_an_api_error_message_cannot_drive_the_terminal() -> None:
    def server(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        error = {"code": "conflict", "message": "no \x1b[2J [red]x[/red]"}
        return {"statusCode": 409, "body": json.dumps({"error": error})}

    with serve(server) as url:
        result = CliRunner().invoke(
            app, ["instances", "pause", "race", "x1"], env={"LWF_URL": url}, obj=CliState()
        )
    assert result.exit_code == 1
    assert "no \\x1b[2J [red]x[/red]" in result.stderr
    assert "\x1b" not in result.stderr


def test_ids_are_one_path_segment_each() -> None:
    """`/`, `?`, `%` and dot segments cannot reach another route."""
    from lambda_workflows.cli.client import ApiClient

    client = ApiClient("http://127.0.0.1:1")
    assert client._instance("race", "..") == "/workflows/race/instances/%2E%2E"
    assert (
        client._instance("race", "a/pause?x=%") == "/workflows/race/instances/a%2Fpause%3Fx%3D%25"
    )
