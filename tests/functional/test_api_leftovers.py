"""The findings a second adversarial review of the HTTP API left open, one test each.

The contract stays: bad client input gets a clear 4xx with the one error body and writes
nothing (no table item, no bucket object or object version, no queued message); nothing
a client sends, nor an odd event a direct invocation hands the handler, is a 5xx.
"""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from lambda_workflows.errors import InstanceConflictError
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http import models, routes
from lambda_workflows.http.wsgi import serve
from lambda_workflows.metrics import ClientErrors, RecordingMetrics
from lambda_workflows.testing import WorkflowTestEnv

from functions.app import app
from tests.functional.test_api_adversarial import proxy_event, send
from tests.functional.test_http_api import Api, assert_error, stored

CREATE = "/workflows/race/instances"


@pytest.fixture
def api() -> Iterator[Api]:
    metrics = RecordingMetrics()
    with WorkflowTestEnv(app, metrics=metrics) as env:
        yield Api(env, metrics)


# -- limit: a plain decimal integer --------------------------------------------------------


@pytest.mark.parametrize("limit", ["2.0", " 2", "+2", "2_0", "1e1", "0x2", "-1", "0", "101", ""])
def test_limit_is_a_plain_decimal_integer_from_1_to_100(api: Api, limit: str) -> None:
    """pydantic's lax int parsing took `2.0`, ` 2`, `+2` and `2_0` as 2."""
    assert_error(send(api, "GET", CREATE, query={"limit": [limit]}), 400, "bad_request", "limit")


def test_limit_in_digits_is_fine(api: Api) -> None:
    for limit in ("1", "02", "100"):
        status, body = send(api, "GET", CREATE, query={"limit": [limit]})
        assert (status, body) == (200, {"instances": [], "cursor": None})


# -- restart: `type` only with `from_step` -------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"type": "sleep"}, {"type": "do"}, {"from_step": None, "type": "sleep"}]
)
def test_restart_with_a_type_and_no_from_step_is_a_400_naming_the_field(
    api: Api, body: dict[str, Any]
) -> None:
    """It was silently a restart from the beginning."""
    api.env.binding("race").create(id="rs1")
    api.env.run_until_idle()
    before = stored(api.env)
    assert_error(api.call("POST", f"{CREATE}/rs1/restart", body), 400, "bad_request",
                 "from_step")  # fmt: skip
    assert stored(api.env) == before
    with pytest.raises(Exception, match="from_step"):
        api.env.binding("race").get("rs1").restart(type="sleep")
    assert stored(api.env) == before


# -- /openapi.json and /docs name the same server ------------------------------------------


def _docs_servers(html: str) -> Any:
    """The servers of the spec Swagger UI is given (`spec: {...}` in its page)."""
    start = html.index("{", html.index("spec: {"))
    return json.JSONDecoder().raw_decode(html, start)[0]["servers"]


@pytest.mark.parametrize(
    ("stage", "context_path", "server"),
    [
        ("prod", "/prod/{}", "/prod"),  # the stage's own URL
        ("prod", "/{}", "/"),  # a custom domain: no stage in the path
        ("$default", "/{}", "/"),  # the local server
    ],
)
def test_openapi_json_and_docs_name_the_server_the_request_came_through(
    api: Api, stage: str, context_path: str, server: str
) -> None:
    answers = {}
    for path in ("/openapi.json", "/docs"):
        event = proxy_event("GET", path)
        event["requestContext"].update(stage=stage, path=context_path.format(path[1:]))
        response = api.handler(event, None)
        assert response["statusCode"] == 200
        answers[path] = response["body"]
    assert json.loads(answers["/openapi.json"])["servers"] == [{"url": server}]
    assert _docs_servers(answers["/docs"]) == [{"url": server}]


# -- direct invocations with odd event shapes --------------------------------------------


def _with(changes: dict[str, Any], method: str = "GET", path: str = CREATE) -> Any:
    event = proxy_event(method, path, '{"id": "odd1"}' if method == "POST" else None)
    for key, value in changes.items():
        if value is _MISSING:
            del event[key]
        else:
            event[key] = value
    return event


_MISSING = object()

ODD_EVENTS = {
    "query-list": _with({"queryStringParameters": {"limit": ["1", "2"]}}),
    "query-list-of-one": _with(
        {
            "queryStringParameters": {"limit": ["1"]},
            "multiValueQueryStringParameters": {"limit": ["1"]},
        }
    ),
    "query-int": _with({"queryStringParameters": {"limit": 5}}),
    "query-string": _with({"queryStringParameters": "limit=5"}),
    "multi-query-string-values": _with({"multiValueQueryStringParameters": {"limit": "1"}}),
    "multi-query-list": _with({"multiValueQueryStringParameters": ["limit"]}),
    "path-none": _with({"path": None}),
    "path-missing": _with({"path": _MISSING}),
    "path-int": _with({"path": 5}),
    "path-relative": _with({"path": "workflows"}),
    "base64-flag-string": _with({"isBase64Encoded": "false"}, "POST"),
    "base64-flag-int": _with({"isBase64Encoded": 0}, "POST"),
    "headers-list": _with({"headers": ["Content-Type"]}),
    "headers-string": _with({"headers": "Content-Type: application/json"}),
    "header-value-int": _with({"headers": {"Content-Type": 5}}, "POST"),
    "multi-headers-string": _with({"multiValueHeaders": "x"}),
    "method-none": _with({"httpMethod": None}),
    "method-missing": _with({"httpMethod": _MISSING}),
    "method-int": _with({"httpMethod": 5}),
    "context-string": _with({"requestContext": "prod"}),
    "context-request-id-int": _with({"requestContext": {"requestId": 5, "stage": 1}}),
    "body-object": _with({"body": {"id": "odd1"}}, "POST"),
    "path-parameters-list": _with({"pathParameters": ["proxy"]}),
    "event-list": [proxy_event("GET", CREATE)],
    "event-string": "GET /workflows",
    "event-null": None,
    "event-empty": {},
}


@pytest.mark.parametrize("name", list(ODD_EVENTS))
def test_an_event_of_the_wrong_shape_is_a_400_that_writes_nothing(api: Api, name: str) -> None:
    """A direct invocation (`aws lambda invoke`, a test console) can send any JSON; the
    handler raised or answered 500 to these."""
    before = stored(api.env)
    response = api.handler(copy.deepcopy(ODD_EVENTS[name]), None)
    status, body = int(response["statusCode"]), json.loads(response["body"])
    assert_error((status, body), 400, "bad_request", "API Gateway REST proxy event")
    assert stored(api.env) == before
    assert api.metrics.total(ClientErrors) == 1


# -- the local server (WSGI adapter) -------------------------------------------------------


def _raw_request(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes | list[bytes] = b""
) -> tuple[int, Any]:
    """One request as sent byte for byte (`body` as a list: chunked)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        if isinstance(body, list):
            for chunk in body:
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        elif body:
            connection.send(body)
        response = connection.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else None
    finally:
        connection.close()


@pytest.fixture
def served() -> Iterator[tuple[str, WorkflowTestEnv]]:
    with WorkflowTestEnv(app) as env, serve(ApiHandler(lambda: env.engine)) as url:
        yield url, env


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("length", ["abc", "-1", "1.5", "0x2"])
def test_local_server_a_bad_content_length_is_a_400_error_body(
    served: tuple[str, WorkflowTestEnv], length: str
) -> None:
    url, env = served
    before = stored(env)
    response = _raw_request(url, "POST", CREATE, {**JSON, "Content-Length": length}, b"{}")
    assert_error(response, 400, "bad_request", "Content-Length")
    assert stored(env) == before


def test_local_server_reads_a_chunked_body(served: tuple[str, WorkflowTestEnv]) -> None:
    """Transfer-Encoding: chunked and no Content-Length: the body was dropped (a create
    without an id)."""
    url, env = served
    headers = {**JSON, "Transfer-Encoding": "chunked"}
    body = [b'{"id": "ch', b'unked-1", "params"', b": {}}"]
    status, answer = _raw_request(url, "POST", CREATE, headers, body)
    assert (status, answer) == (201, {"id": "chunked-1", "status": "queued"})
    assert env.binding("race").get("chunked-1").summary().status == "queued"


@pytest.mark.parametrize(
    "path", ["/workflows/%FF", "/workflows/race/instances/%C3%28", "/%FF/x", "/docs%FF"]
)
def test_local_server_a_path_that_is_not_utf8_is_a_400(
    served: tuple[str, WorkflowTestEnv], path: str
) -> None:
    url, _ = served
    assert_error(_raw_request(url, "GET", path, {}), 400, "bad_request", "UTF-8")


@pytest.mark.parametrize("path", ["a%2Fpause", "a%2fpause", "a%2Fterminate"])
def test_local_server_an_encoded_slash_never_reaches_another_route(
    served: tuple[str, WorkflowTestEnv], path: str
) -> None:
    """`%2F` was decoded before routing: `.../instances/a%2Fpause` paused instance `a`."""
    url, env = served
    env.binding("race").create(id="a")
    before = stored(env)
    response = _raw_request(url, "POST", f"{CREATE}/{path}", JSON)
    assert_error(response, 400, "bad_request", "%2F")
    assert env.binding("race").get("a").summary().status == "queued"
    assert stored(env) == before


def test_local_server_percent_encoded_segments_are_decoded_after_routing(
    served: tuple[str, WorkflowTestEnv],
) -> None:
    """A client that escapes every segment (as `lwf` does) reaches the same routes."""
    url, env = served
    env.binding("race").create(id="e-1")
    status, body = _raw_request(url, "POST", f"{CREATE}/e%2D1/events/ok%3AType", JSON, b"{}")
    assert (status, body) == (202, {"id": "e-1", "status": "queued"})
    assert _raw_request(url, "GET", "/workflows/r%61ce", {})[0] == 200


# -- an instance response lists a bounded number of events ---------------------------------


def test_an_instance_response_lists_the_newest_events_and_counts_the_rest(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox grows without bound (37,000 events made a 6 MB answer); the response
    lists the newest `MAX_SHOWN_EVENTS` and says how many it left out."""
    monkeypatch.setattr(routes, "MAX_SHOWN_EVENTS", 3)
    instance = api.env.binding("approval").create(id="ev1", params={"user_id": "u"})
    path = "/workflows/approval/instances/ev1"
    status, body = api.call("GET", path)
    assert (status, body["events"], body["events_omitted"]) == (200, [], 0)
    for n in range(5):
        instance.send_event(f"note-{n}", n)
    status, body = api.call("GET", path)
    assert [e["type"] for e in body["events"]] == ["note-2", "note-3", "note-4"]
    assert [e["seq"] for e in body["events"]] == [3, 4, 5]
    assert body["events_omitted"] == 2
    assert len(instance.status().events) == 5  # Python callers get every event


def test_the_event_bound_keeps_the_worst_case_under_a_megabyte(api: Api) -> None:
    widest = {"seq": 2**53, "type": "\U0001f600" * 100, "timestamp": "x" * 32}
    assert models.MAX_SHOWN_EVENTS * len(json.dumps(widest)) < 1024 * 1024
    _, schema = api.call("GET", "/openapi.json")
    details = schema["components"]["schemas"]["InstanceDetailsModel"]
    assert details["properties"]["events"]["maxItems"] == models.MAX_SHOWN_EVENTS
    assert details["properties"]["events_omitted"]["type"] == "integer"


# -- S3: nothing uploaded for a request that fails or repeats -----------------------------

LARGE = "x" * 400_000
"""Over the inline limits: params or an event payload with it go to the bucket."""


def _versioned(env: WorkflowTestEnv) -> Any:
    """Turn on versioning on the results bucket; returns a function listing every object
    version and delete marker in it."""
    settings = env.cloud.settings
    assert settings is not None
    s3 = env.cloud.client("s3")
    s3.put_bucket_versioning(
        Bucket=settings.bucket_name, VersioningConfiguration={"Status": "Enabled"}
    )

    def versions() -> list[tuple[str, str]]:
        listing = s3.list_object_versions(Bucket=settings.bucket_name)
        found = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
        return sorted((v["Key"], v["VersionId"]) for v in found)

    return versions


def test_a_create_that_fails_or_repeats_leaves_no_object_version(api: Api) -> None:
    """The params went to S3 before the id was found taken; the 409's clean-up delete left
    a version and a delete marker in a versioned bucket, and a retry put a new version."""
    versions = _versioned(api.env)
    assert api.call("POST", CREATE, {"id": "v1", "params": {"pad": LARGE}})[0] == 201
    before, kept = stored(api.env), versions()
    assert len(kept) == 1
    conflict = api.call("POST", CREATE, {"id": "v1", "params": {"pad": LARGE + "y"}})
    assert_error(conflict, 409, "conflict", "v1")
    batch = [{"id": "v2", "params": {"pad": LARGE}}, {"id": "v1", "params": {"pad": LARGE}}]
    assert_error(api.call("POST", f"{CREATE}/batch", batch), 409, "conflict", "v1")
    assert (stored(api.env), versions()) == (before, kept)
    retry = api.call("POST", CREATE, {"id": "v1", "params": {"pad": LARGE}})
    assert retry == (200, {"id": "v1", "status": "queued"})
    assert versions() == kept
    assert api.env.binding("race").get("v1").status().params == {"pad": LARGE}


def _approval(api: Api, instance_id: str) -> str:
    api.env.binding("approval").create(id=instance_id, params={"user_id": "u"})
    return f"/workflows/approval/instances/{instance_id}/events"


def test_a_resent_event_uploads_nothing(api: Api) -> None:
    """The duplicate check ran after the large payload was uploaded."""
    versions = _versioned(api.env)
    events = _approval(api, "dup1")
    first = {"payload": {"pad": LARGE, "n": 1}, "event_id": "big-1"}
    assert api.call("POST", f"{events}/note", first)[0] == 202
    before, kept = stored(api.env), versions()
    again = {"payload": {"n": 1, "pad": LARGE}, "event_id": "big-1"}  # same JSON, keys moved
    assert api.call("POST", f"{events}/note", again)[0] == 202
    assert (stored(api.env), versions()) == (before, kept)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("note", {"pad": LARGE, "n": 2}),  # another large payload: it left an orphan object
        ("note", {"n": 1}),
        ("note", 1),
        ("note", None),
        ("other", {"pad": LARGE, "n": 1}),  # another type
    ],
    ids=["large", "small", "int", "none", "type"],
)
def test_another_event_under_a_used_event_id_is_a_409(
    api: Api, event_type: str, payload: Any
) -> None:
    """It was silently a no-op: an event_id is an idempotency key, and the same key with
    another body is a conflict (as Cloudflare's and Stripe's idempotency keys)."""
    versions = _versioned(api.env)
    events = _approval(api, "dup2")
    first = {"payload": {"pad": LARGE, "n": 1}, "event_id": "k-1"}
    assert api.call("POST", f"{events}/note", first)[0] == 202
    small = {"payload": {"n": 1}, "event_id": "k-2"}
    assert api.call("POST", f"{events}/note", small)[0] == 202
    before, kept = stored(api.env), versions()
    for key in ("k-1", "k-2"):
        body = {"payload": payload, "event_id": key}
        if (key, event_type, payload) == ("k-2", "note", {"n": 1}):
            assert api.call("POST", f"{events}/{event_type}", body)[0] == 202  # the same
            continue
        assert_error(api.call("POST", f"{events}/{event_type}", body), 409, "conflict", key)
    assert (stored(api.env), versions()) == (before, kept)
    instance = api.env.binding("approval").get("dup2")
    with pytest.raises(InstanceConflictError, match="event_id"):
        instance.send_event("note", {"n": 3}, event_id="k-2")
