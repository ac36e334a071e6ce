"""A reviewer's attack on the HTTP API, one regression test per finding.

The contract: bad client input gets a clear 4xx with the one error body and writes
nothing (no table item, no bucket object, no queued message); concurrent requests never
mix; the schema documents exactly what the API answers.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint, WorkflowStep
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.metrics import RecordingMetrics
from lambda_workflows.names import HTTP_EVENT_TYPE_PATTERN
from lambda_workflows.testing import WorkflowTestEnv

from functions.app import app
from tests.functional.test_http_api import Api, assert_error, stored

LARGE = "x" * 400_000
"""A string that puts params or an event payload over the inline limit (into the bucket)."""


@pytest.fixture
def api() -> Iterator[Api]:
    metrics = RecordingMetrics()
    with WorkflowTestEnv(app, metrics=metrics) as env:
        yield Api(env, metrics)


def proxy_event(
    method: str,
    path: str,
    body: str | None = None,
    *,
    base64_encoded: bool = False,
    content_type: str | None = "application/json",
    query: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event, with the parts `Api.call` does not let a test set."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": content_type} if content_type else {},
        "multiValueHeaders": {},
        "queryStringParameters": {k: v[-1] for k, v in (query or {}).items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "req-adversarial",
            "stage": "prod",
            "path": f"/prod{path}",
            "httpMethod": method,
            "resourcePath": path,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def send(api: Api, method: str, path: str, body: str | None = None, **options: Any) -> Any:
    """`proxy_event` through the handler: (status, parsed body)."""
    response = api.handler(proxy_event(method, path, body, **options), None)
    text = response.get("body")
    return int(response["statusCode"]), json.loads(text) if text else None


def nested(depth: int) -> Any:
    """A JSON value `depth` arrays deep."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


# -- 1. concurrent requests through serve() ---------------------------------------------


def test_concurrent_requests_each_get_their_own_answer() -> None:
    """serve() is threaded and the resolver keeps the current event on itself: 16 threads
    asking for different workflows and instances each get the answer to their own path."""
    with WorkflowTestEnv(app) as env:
        ids = [f"r{n}" for n in range(4)]
        for instance_id in ids:
            env.binding("race").create(id=instance_id)
        with serve(ApiHandler(lambda: env.engine)) as url:
            paths = [f"/workflows/{name}" for name in app.names]
            paths += [f"/workflows/race/instances/{i}" for i in ids]

            def fetch(path: str) -> tuple[str, int, Any]:
                with urllib.request.urlopen(url + path, timeout=30) as response:
                    return path, response.status, json.loads(response.read())

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(fetch, paths * 12))
    for path, status, body in answers:
        assert status == 200, (path, body)
        wanted = path.rsplit("/", 1)[1]
        assert body["id" if "/instances/" in path else "name"] == wanted, (path, body)


# -- 2. client input that used to be a 500 ----------------------------------------------

CREATE = "/workflows/race/instances"


@pytest.mark.parametrize(
    ("body", "base64_encoded", "code", "word"),
    [
        ("!!! not base64 !!!", True, "bad_request", "base64"),
        (base64.b64encode(b'{"params": "\xff\xfe"}').decode(), True, "bad_request", "UTF-8"),
        ('{"params": "\ud800"}', False, "bad_request", "UTF-8"),
        ('{"params": ' + "[" * 100_000 + "]" * 100_000 + "}", False, "invalid_json", "deep"),
        ('{"params": ' + "7" * 5000 + "}", False, "invalid_json", "digits"),
        ('{"params": NaN}', False, "invalid_json", "NaN"),
        ('{"params": [Infinity]}', False, "invalid_json", "Infinity"),
        ('{"params": {"x": -Infinity}}', False, "invalid_json", "Infinity"),
        ('{"params": [1e400]}', False, "invalid_json", "range"),
    ],
    ids=[
        "bad-base64",
        "not-utf8",
        "raw-surrogate",
        "deep",
        "huge-int",
        "nan",
        "inf",
        "-inf",
        "1e400",
    ],
)
def test_bodies_that_broke_the_parser_are_400s(
    api: Api, body: str, base64_encoded: bool, code: str, word: str
) -> None:
    before = stored(api.env)
    response = send(api, "POST", CREATE, body, base64_encoded=base64_encoded)
    assert_error(response, 400, code, word)
    assert stored(api.env) == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", "--x\r\n"),
        ("multipart/form-data", None),
        ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="id"'
                                            "\r\n\r\nm1\r\n--x--\r\n"),
        ("application/x-www-form-urlencoded", "id=m1"),
        ("text/plain", '{"id": "m1"}'),
        ("application/xml", "<id>m1</id>"),
    ],
)  # fmt: skip
def test_a_body_that_is_not_json_is_an_unsupported_media_type(
    api: Api, content_type: str, body: str | None
) -> None:
    """Any Content-Type but JSON on a route that takes a body: 400 `unsupported_media_type`
    (a multipart body without a boundary used to be a 500)."""
    before = stored(api.env)
    for path in (CREATE, f"{CREATE}/batch"):
        response = send(api, "POST", path, body, content_type=content_type)
        assert_error(response, 400, "unsupported_media_type", "application/json")
    assert stored(api.env) == before


def test_json_with_a_charset_and_no_content_type_are_accepted(api: Api) -> None:
    assert send(api, "POST", CREATE, '{"id": "c1"}', content_type=None)[0] == 201
    charset = "application/json; charset=utf-8"
    assert send(api, "POST", CREATE, '{"id": "c2"}', content_type=charset)[0] == 201


def request_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("message") == "request"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/workflows/\ud800/instances"),
        ("GET", "/workflows/race/instances/\udc00x"),
        ("POST", "/workflows/race/instances/r1/events/\ud83d"),
    ],
)
def test_lone_surrogates_in_the_path_are_400s_and_the_log_line_is_written(
    api: Api, log_stream: io.StringIO, capsys: pytest.CaptureFixture[str], method: str, path: str
) -> None:
    before = stored(api.env)
    assert_error(send(api, method, path, "{}"), 400, "bad_request", "UTF-8")
    assert stored(api.env) == before
    assert "Logging error" not in capsys.readouterr().err
    [line] = request_lines(log_stream)
    assert line["status"] == 400
    assert line["path"] == path.encode("utf-8", "backslashreplace").decode()


# -- 5. the OpenAPI schema says what the API answers ------------------------------------


def test_openapi_documents_our_errors_and_nothing_of_powertools(api: Api) -> None:
    _, schema = api.call("GET", "/openapi.json")
    components = schema["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        assert name not in components
    text = json.dumps(schema)
    unused = {name for name in components if f'"#/components/schemas/{name}"' not in text}
    assert unused == set()
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            for code in ("400", "413", "500"):
                assert responses[code]["content"]["application/json"]["schema"] == error_ref, (
                    method,
                    path,
                    code,
                )
            for code, response in responses.items():
                if code >= "400":
                    assert response["content"]["application/json"]["schema"] == error_ref
            if "422" in responses:
                assert (method, path.rsplit("/", 1)[-1]) in {
                    ("post", "instances"),
                    ("post", "batch"),
                }
    delete = schema["paths"]["/workflows/{name}/instances/{instance_id}"]["delete"]
    assert "content" not in delete["responses"]["204"]
    batch = schema["paths"]["/workflows/{name}/instances/batch"]["post"]
    body = batch["requestBody"]["content"]["application/json"]["schema"]
    assert (body["minItems"], body["maxItems"]) == (1, 100)
    assert_error(api.call("POST", f"{CREATE}/batch", []), 400, "bad_request", "1")
    many = [{"id": f"m{n}"} for n in range(101)]
    assert_error(api.call("POST", f"{CREATE}/batch", many), 400, "bad_request", "100")


# -- 6. event types over HTTP use the alphabet the router can route ---------------------


@pytest.mark.parametrize("event_type", ["a b", "caf\u00e9", "a(b)", "a%22b", "a;b", "a,b"])
def test_event_types_outside_the_http_alphabet_are_400s(api: Api, event_type: str) -> None:
    """The router captures more than it should (spaces, `%`, `(`, letters beyond ASCII);
    the path pattern lets through only what every route can reach."""
    api.call("POST", CREATE, {"id": "e1"})
    before = stored(api.env)
    assert_error(send(api, "POST", f"{CREATE}/e1/events/{event_type}", "{}"), 400,
                 "bad_request", "event_type")  # fmt: skip
    assert stored(api.env) == before


def test_the_http_event_type_pattern_is_in_the_schema_and_python_allows_more(api: Api) -> None:
    _, schema = api.call("GET", "/openapi.json")
    route = schema["paths"]["/workflows/{name}/instances/{instance_id}/events/{event_type}"]
    [parameter] = [p for p in route["post"]["parameters"] if p["name"] == "event_type"]
    assert parameter["schema"]["pattern"] == HTTP_EVENT_TYPE_PATTERN
    api.env.binding("race").create(id="e1")
    assert api.call("POST", f"{CREATE}/e1/events/ok:Type-1_x", {})[0] == 202
    api.env.binding("race").get("e1").send_event('a "quoted"/type?#')


@pytest.mark.parametrize("name", ["limit", "status", "cursor"])
def test_a_query_parameter_given_twice_is_a_400(api: Api, name: str) -> None:
    values = {"limit": ["1", "2"], "status": ["queued", "paused"], "cursor": ["a", "b"]}
    assert_error(send(api, "GET", CREATE, query={name: values[name]}), 400, "bad_request",
                 name, "once")  # fmt: skip


# -- 9. create and batch log the instance ids -------------------------------------------


def test_create_and_batch_log_lines_carry_the_instance_ids(
    api: Api, log_stream: io.StringIO
) -> None:
    api.call("POST", CREATE, {"id": "l1"})
    api.call("POST", CREATE)
    api.call("POST", f"{CREATE}/batch", [{"id": "l2"}, {"id": "l3"}])
    api.call("POST", CREATE, {"id": "l1", "params": 5})
    api.call("GET", "/workflows")
    first, generated, batch, conflict, plain = request_lines(log_stream)
    assert (first["instance_id"], first["status"]) == ("l1", 201)
    assert len(generated["instance_id"]) == 32
    assert (batch["instance_ids"], batch["status"]) == (["l2", "l3"], 201)
    assert "instance_id" not in batch
    assert (conflict["instance_id"], conflict["status"]) == ("l1", 409)
    assert "instance_id" not in plain
    assert "instance_ids" not in plain


# -- 11. an instance response stays under Lambda's 6 MB ---------------------------------


class Echo(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        size = int(event.payload["size"])
        await step.do("small", lambda: "ok")
        return "y" * size


echo_app = WorkflowApp(workflows=[Workflow("echo", Echo)])


def test_large_params_and_output_are_omitted_from_an_instance_response() -> None:
    """Params and output up to 32 MiB are fine from Python; the instance response shows
    each only when it fits, with `params_omitted` / `output_omitted` otherwise."""
    metrics = RecordingMetrics()
    with WorkflowTestEnv(echo_app, metrics=metrics) as env:
        api = Api(env, metrics)
        big = {"size": 5_000_000, "pad": "p" * 5_000_000}
        env.binding("echo").create(id="big", params=big)
        env.binding("echo").create(id="small", params={"size": 3})
        env.run_until_idle()
        response = api.handler(proxy_event("GET", "/workflows/echo/instances/big"), None)
        assert response["statusCode"] == 200
        assert len(response["body"].encode()) < 6_000_000
        body = json.loads(response["body"])
        assert (body["params"], body["params_omitted"]) == (None, True)
        assert (body["output"], body["output_omitted"]) == (None, True)
        assert body["steps"][0]["result"] == "ok"
        assert env.binding("echo").get("big").status().output == "y" * 5_000_000
        _, small = api.call("GET", "/workflows/echo/instances/small")
        assert (small["params"], small["params_omitted"]) == ({"size": 3}, None)
        assert (small["output"], small["output_omitted"]) == ("yyy", None)


@pytest.mark.parametrize(
    "content_type",
    ["application/vnd.api+json", "Application/JSON", "APPLICATION/JSON; charset=UTF-8"],
)
def test_json_media_types_in_any_case_and_plus_json_are_accepted(
    api: Api, content_type: str
) -> None:
    status, body = send(api, "POST", CREATE, '{"id": "mt1"}', content_type=content_type)
    assert (status, body) == (201, {"id": "mt1", "status": "queued"})


def test_field_errors_are_capped_so_the_answer_stays_small(api: Api) -> None:
    """A body with 5,000 unknown fields, or params failing 5,000 times, answers with 20
    field errors and a count of the rest (it was a 12 MB answer, past Lambda's limit)."""
    before = stored(api.env)
    unknown = json.dumps({str(n): 0 for n in range(5000)})
    status, body = send(api, "POST", CREATE, unknown)
    assert (status, len(body["error"]["details"])) == (400, 20)
    assert "(and 4980 more)" in body["error"]["message"]
    items = json.dumps({"id": "f1", "params": {"items": [1] * 5000}})
    status, body = send(api, "POST", "/workflows/fan-out/instances", items)
    assert (status, len(body["error"]["details"])) == (422, 20)
    assert "(and 4980 more)" in body["error"]["message"]
    assert stored(api.env) == before


def test_a_cursor_nested_past_the_parser_is_a_400(api: Api) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 1000).decode()
    assert_error(send(api, "GET", CREATE, query={"cursor": [cursor]}), 400, "validation_error",
                 "cursor")  # fmt: skip
