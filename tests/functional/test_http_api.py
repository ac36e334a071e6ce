"""The instance API over HTTP: every route and every error code, through the API handler
with API Gateway REST proxy events, on moto (the example app)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_workflows.handlers.api import MAX_BODY_BYTES, ApiHandler
from lambda_workflows.metrics import (
    ClientErrors,
    EventsSent,
    InstancesCreated,
    RecordingMetrics,
    ServerErrors,
)
from lambda_workflows.testing import WorkflowTestEnv

from functions.app import app

ALL_STATUSES = {
    "queued", "running", "paused", "errored", "terminated", "complete", "waiting",
    "waitingForPause", "unknown",
}  # fmt: skip


class Api:
    """Calls the handler as API Gateway would; `json` of the last response."""

    def __init__(self, env: WorkflowTestEnv, metrics: RecordingMetrics) -> None:
        self.env = env
        self.metrics = metrics
        self.handler = ApiHandler(lambda: env.engine)
        self.requests = 0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        self.requests += 1
        text = raw if raw is not None else (json.dumps(body) if body is not None else None)
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "multiValueHeaders": {},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "requestId": f"req-{self.requests}",
                "stage": "prod",
                "path": f"/prod{path}",
                "httpMethod": method,
                "resourcePath": path,
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": text,
            "isBase64Encoded": False,
        }
        response = self.handler(event, None)
        payload = response.get("body")
        if not payload:
            return int(response["statusCode"]), None
        try:
            return int(response["statusCode"]), json.loads(payload)
        except ValueError:
            return int(response["statusCode"]), payload


@pytest.fixture
def api() -> Iterator[Api]:
    metrics = RecordingMetrics()
    with WorkflowTestEnv(app, metrics=metrics) as env:
        yield Api(env, metrics)


def stored(env: WorkflowTestEnv) -> tuple[Any, ...]:
    """Everything the engine stores: table items, bucket keys, queued messages."""
    settings = env.cloud.settings
    assert settings is not None
    ddb = env.cloud.client("dynamodb")
    items = ddb.scan(TableName=settings.table_name)["Items"]
    s3 = env.cloud.client("s3").list_objects_v2(Bucket=settings.bucket_name)
    sqs = env.cloud.client("sqs").get_queue_attributes(
        QueueUrl=settings.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return (
        sorted(json.dumps(i, sort_keys=True) for i in items),
        sorted(o["Key"] for o in s3.get("Contents", [])),
        sqs["Attributes"]["ApproximateNumberOfMessages"],
    )


def assert_error(response: tuple[int, Any], status: int, code: str, *words: str) -> None:
    got_status, body = response
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert set(body) == {"error"}
    for word in words:
        assert word in body["error"]["message"]


# -- workflows ---------------------------------------------------------------------------


def test_list_and_describe_workflows(api: Api) -> None:
    """Every declared workflow is listed; describe gives the params schema, the crons
    defined on its class and a count for every status."""
    status, body = api.call("GET", "/workflows")
    assert status == 200
    assert [w["name"] for w in body["workflows"]] == list(app.names)
    approval = next(w for w in body["workflows"] if w["name"] == "approval")
    assert approval["binding"] == "APPROVAL_WORKFLOW"
    assert approval["class_name"].endswith("ApprovalWorkflow")

    status, body = api.call("GET", "/workflows/approval")
    assert status == 200
    assert body["params_schema"]["required"] == ["user_id"]
    assert body["crons"] == []
    assert set(body["counts"]) == ALL_STATUSES
    assert set(body["counts"].values()) == {0}

    _, daily = api.call("GET", "/workflows/daily-report")
    assert daily["crons"] == [{"name": "daily-report", "expression": "cron(0 0 * * ? *)"}]
    api.call("POST", "/workflows/race/instances", {"id": "r1"})
    _, race = api.call("GET", "/workflows/race")
    assert race["params_schema"] is None
    assert race["counts"]["queued"] == 1


def test_unknown_and_invalid_workflow_names(api: Api) -> None:
    """Unknown name: 404; a name no workflow can have: 400; an unknown route: 404."""
    assert_error(api.call("GET", "/workflows/nope"), 404, "workflow_not_found", "nope")
    assert_error(api.call("GET", f"/workflows/{'x' * 65}"), 400, "bad_request", "name")
    assert_error(api.call("GET", "/workflows/a@b"), 400, "bad_request", "name")
    assert_error(api.call("GET", "/nowhere"), 404, "route_not_found", "/nowhere")
    assert_error(api.call("PUT", "/workflows"), 404, "route_not_found")


# -- create ------------------------------------------------------------------------------


def test_create_is_201_and_an_identical_retry_is_200(api: Api) -> None:
    """Invariant 7 over HTTP: the same id and params while queued returns the instance
    with 200 and re-sends its start; other params are a 409."""
    body = {"id": "a1", "params": {"user_id": "u1"}}
    assert api.call("POST", "/workflows/approval/instances", body) == (
        201,
        {"id": "a1", "status": "queued"},
    )
    assert api.call("POST", "/workflows/approval/instances", body) == (
        200,
        {"id": "a1", "status": "queued"},
    )
    before = stored(api.env)
    other = {"id": "a1", "params": {"user_id": "u2"}}
    assert_error(api.call("POST", "/workflows/approval/instances", other), 409, "conflict", "a1")
    assert stored(api.env) == before
    api.env.run_until_idle()
    assert_error(api.call("POST", "/workflows/approval/instances", body), 409, "conflict")
    assert api.metrics.total(InstancesCreated, workflow="approval") == 1


def test_create_without_an_id_or_a_body(api: Api) -> None:
    """No id: one is generated; no body at all: a workflow without params starts."""
    status, body = api.call("POST", "/workflows/race/instances")
    assert status == 201
    assert len(body["id"]) == 32
    status, body = api.call("POST", "/workflows/approval/instances", {"params": {"user_id": "u"}})
    assert status == 201


@pytest.mark.parametrize(
    ("request_body", "status", "code", "words"),
    [
        ({"id": "a b", "params": {"user_id": "u"}}, 400, "bad_request", ["id"]),
        ({"id": "x" * 101, "params": {"user_id": "u"}}, 400, "bad_request", ["id"]),
        ({"params": {"user_id": 5}}, 422, "invalid_params", ["user_id"]),
        ({"params": {}}, 422, "invalid_params", ["user_id: Field required"]),
        ({"params": {"user_id": "u"}, "extra": 1}, 400, "bad_request", ["extra"]),
        ([1, 2], 400, "bad_request", []),
        ("text", 400, "bad_request", []),
    ],
)
def test_bad_create_requests_write_nothing(
    api: Api, request_body: Any, status: int, code: str, words: list[str]
) -> None:
    """Each bad request gets its 4xx and a clear message; the table, bucket and queue are
    as before."""
    before = stored(api.env)
    assert_error(api.call("POST", "/workflows/approval/instances", request_body), status, code,
                 *words)  # fmt: skip
    assert stored(api.env) == before
    assert api.metrics.total(ClientErrors) == 1


def test_params_errors_carry_pydantic_field_errors(api: Api) -> None:
    """A 422 lists each failing field with its location and type."""
    status, body = api.call("POST", "/workflows/approval/instances", {"params": {"request_id": 1}})
    assert status == 422
    details = {tuple(d["loc"]): d["type"] for d in body["error"]["details"]}
    assert details == {("user_id",): "missing", ("request_id",): "string_type"}


def test_malformed_json_and_oversized_bodies(api: Api) -> None:
    """Not JSON: 400 `invalid_json`; over the size limit: 413; neither writes anything."""
    before = stored(api.env)
    assert_error(
        api.call("POST", "/workflows/approval/instances", raw='{"params": '),
        400,
        "invalid_json",
    )
    big = json.dumps({"params": {"user_id": "x" * MAX_BODY_BYTES}})
    assert_error(
        api.call("POST", "/workflows/approval/instances", raw=big),
        413,
        "payload_too_large",
        str(MAX_BODY_BYTES),
    )
    assert_error(
        api.call("POST", "/workflows/approval/instances", raw="a=1",
                 headers={"Content-Type": "application/x-www-form-urlencoded"}),
        400,
        "unsupported_media_type",
    )  # fmt: skip
    assert stored(api.env) == before


# -- batch -------------------------------------------------------------------------------


def test_batch_create_and_its_all_or_nothing_errors(api: Api) -> None:
    """Up to 100 are created together; 101, one bad params entry, a duplicate id in the
    batch or an existing id rejects the whole batch and writes nothing."""
    ok = [{"id": f"b{n}", "params": {"user_id": f"u{n}"}} for n in range(3)]
    status, body = api.call("POST", "/workflows/approval/instances/batch", ok)
    assert status == 201
    assert body == {"instances": [{"id": f"b{n}", "status": "queued"} for n in range(3)]}
    assert api.metrics.total(InstancesCreated, workflow="approval") == 3

    before = stored(api.env)
    many = [{"id": f"m{n}", "params": {"user_id": "u"}} for n in range(101)]
    bad_one = [{"id": "c1", "params": {"user_id": "u"}}, {"id": "c2", "params": {}}]
    twice = [{"id": "d1", "params": {"user_id": "u"}}] * 2
    existing = [{"id": "e1", "params": {"user_id": "u"}}, {"id": "b1", "params": {"user_id": "u"}}]
    path = "/workflows/approval/instances/batch"
    assert_error(api.call("POST", path, many), 400, "bad_request", "100")
    assert_error(api.call("POST", path, bad_one), 422, "invalid_params")
    assert_error(api.call("POST", path, twice), 400, "validation_error", "twice")
    assert_error(api.call("POST", path, existing), 409, "conflict", "b1")
    assert_error(api.call("POST", path, []), 400, "bad_request", "1")
    assert_error(api.call("POST", path, {"id": "x"}), 400, "bad_request")
    assert stored(api.env) == before


# -- list --------------------------------------------------------------------------------


def test_listing_pages_through_every_instance_exactly_once(api: Api) -> None:
    """25 instances, pages of 7, newest first: each id once; with a status filter only
    that status; limit and cursor are validated."""
    for n in range(25):
        api.call("POST", "/workflows/race/instances", {"id": f"r{n:02d}"})
        api.env.advance("1 second")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        status, body = api.call("GET", "/workflows/race/instances", query=query)
        assert status == 200
        assert len(body["instances"]) <= 7
        seen += [i["id"] for i in body["instances"]]
        pages += 1
        cursor = body["cursor"]
        if cursor is None:
            break
    assert seen == [f"r{n:02d}" for n in reversed(range(25))]
    assert pages == 4

    api.call("POST", "/workflows/race/instances/r03/terminate")
    _, terminated = api.call("GET", "/workflows/race/instances", query={"status": "terminated"})
    assert [i["id"] for i in terminated["instances"]] == ["r03"]
    assert terminated["instances"][0]["ended_at"] is not None

    assert_error(api.call("GET", "/workflows/race/instances", query={"limit": "0"}), 400,
                 "bad_request", "limit")  # fmt: skip
    assert_error(api.call("GET", "/workflows/race/instances", query={"limit": "101"}), 400,
                 "bad_request", "limit")  # fmt: skip
    assert_error(api.call("GET", "/workflows/race/instances", query={"status": "done"}), 400,
                 "bad_request", "status")  # fmt: skip
    assert_error(api.call("GET", "/workflows/race/instances", query={"cursor": "junk"}), 400,
                 "validation_error", "cursor")  # fmt: skip
    _, first = api.call("GET", "/workflows/race/instances", query={"limit": "1"})
    assert_error(
        api.call("GET", "/workflows/approval/instances", query={"cursor": first["cursor"]}),
        400,
        "validation_error",
        "cursor",
    )


# -- one instance ------------------------------------------------------------------------


def test_get_an_instance_through_its_life(api: Api) -> None:
    """The typed status object: params, step timeline (a wait shows its event type and
    deadline), then output and step results once complete."""
    api.call("POST", "/workflows/approval/instances", {"id": "a1", "params": {"user_id": "u"}})
    api.env.run_until_idle()
    status, body = api.call("GET", "/workflows/approval/instances/a1")
    assert status == 200
    assert body["status"] == "waiting"
    assert body["params"] == {"user_id": "u", "request_id": None}
    wait = body["steps"][-1]
    assert (wait["type"], wait["status"], wait["event_type"]) == (
        "wait_for_event",
        "waiting",
        "approval-response",
    )
    assert wait["wake_at"] is not None

    status, sent = api.call(
        "POST",
        "/workflows/approval/instances/a1/events/approval-response",
        {"payload": {"approved": True}, "event_id": "ev-1"},
    )
    assert (status, sent["id"]) == (202, "a1")
    assert api.metrics.total(EventsSent, workflow="approval") == 1
    api.env.wait_for_status("approval", "a1", "complete")
    _, body = api.call("GET", "/workflows/approval/instances/a1")
    assert body["status"] == "complete"
    assert body["output"] == {"approved": True}
    assert body["ended_at"] is not None
    first = body["steps"][0]
    assert first["status"] == "succeeded"
    assert "result" in first
    assert [e["type"] for e in body["events"]] == ["approval-response"]


def test_instance_errors(api: Api) -> None:
    """Unknown instance: 404; an id no instance can have: 400; an event of a bad type:
    400; an event to a finished instance: 409."""
    assert_error(api.call("GET", "/workflows/approval/instances/nope"), 404,
                 "instance_not_found", "nope")  # fmt: skip
    assert_error(api.call("GET", "/workflows/approval/instances/-bad"), 400, "bad_request")
    assert_error(api.call("POST", "/workflows/approval/instances/nope/events/go", {}), 404,
                 "instance_not_found")  # fmt: skip
    api.call("POST", "/workflows/race/instances", {"id": "r1"})
    before = stored(api.env)
    assert_error(api.call("POST", "/workflows/race/instances/r1/events/a.b", {}), 400,
                 "bad_request", "event_type")  # fmt: skip
    assert_error(
        api.call("POST", "/workflows/race/instances/r1/events/go", {"payload": 1, "x": 2}),
        400,
        "bad_request",
    )
    assert stored(api.env) == before
    api.call("POST", "/workflows/race/instances/r1/terminate")
    before = stored(api.env)
    assert_error(api.call("POST", "/workflows/race/instances/r1/events/go", {"payload": 1}),
                 409, "conflict", "terminated")  # fmt: skip
    assert stored(api.env) == before


def test_pause_resume_terminate_restart_delete(api: Api) -> None:
    """Each transition answers with the new status; a transition the status does not
    allow is a 409 that changes nothing; delete takes finished instances only."""
    api.call("POST", "/workflows/approval/instances", {"id": "a1", "params": {"user_id": "u"}})
    base = "/workflows/approval/instances/a1"
    assert api.call("POST", f"{base}/pause") == (200, {"id": "a1", "status": "paused"})
    assert_error(api.call("POST", f"{base}/pause"), 409, "conflict", "paused")
    assert_error(api.call("DELETE", base), 409, "conflict", "terminate it first")
    assert api.call("POST", f"{base}/resume") == (200, {"id": "a1", "status": "queued"})
    assert_error(api.call("POST", f"{base}/resume"), 409, "conflict")
    api.env.run_until_idle()
    assert api.call("POST", f"{base}/terminate") == (200, {"id": "a1", "status": "terminated"})
    assert_error(api.call("POST", f"{base}/terminate"), 409, "conflict")

    assert_error(api.call("POST", f"{base}/restart", {"from_step": "nope"}), 400,
                 "validation_error", "nope")  # fmt: skip
    assert_error(api.call("POST", f"{base}/restart", {"type": "bogus"}), 400, "bad_request")
    status, body = api.call("POST", f"{base}/restart", {"from_step": "create approval"})
    assert status == 200
    assert body["status"] in {"queued", "running", "waiting"}
    api.env.run_until_idle()
    api.call("POST", f"{base}/terminate")
    status, body = api.call("POST", f"{base}/restart")
    assert status == 200
    api.call("POST", f"{base}/terminate")

    assert api.call("DELETE", base) == (204, None)
    assert_error(api.call("GET", base), 404, "instance_not_found")
    assert_error(api.call("DELETE", base), 404, "instance_not_found")
    keys = [k for k in stored(api.env)[0] if '"approval#a1"' in k]
    assert keys == []


def test_delete_removes_large_values_from_the_bucket(api: Api) -> None:
    """Params stored apart (over the inline budget) are deleted with the instance."""
    params = {"user_id": "x" * 200_000}
    api.call("POST", "/workflows/approval/instances", {"id": "big", "params": params})
    assert any("/approval/big/" in key for key in stored(api.env)[1])
    _, body = api.call("GET", "/workflows/approval/instances/big")
    assert body["params"]["user_id"] == params["user_id"]
    api.call("POST", "/workflows/approval/instances/big/terminate")
    assert api.call("DELETE", "/workflows/approval/instances/big")[0] == 204
    assert not any("/approval/big/" in key for key in stored(api.env)[1])


# -- failures of our own -----------------------------------------------------------------


def test_an_unexpected_error_is_a_500_with_a_request_id_and_a_log_line(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug is a 500 naming the request id; the body has no trace; the log has it."""
    journal = api.env.engine.services.journal

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(journal, "count_instances", broken)
    with caplog.at_level(logging.ERROR):
        status, body = api.call("GET", "/workflows/approval")
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["request_id"] == f"req-{api.requests}"
    assert "secret" not in json.dumps(body)
    assert "Traceback" not in json.dumps(body)
    assert any("secret internals" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
    assert api.metrics.total(ServerErrors) == 1


# -- OpenAPI -----------------------------------------------------------------------------


def test_openapi_names_every_model_and_error_response(api: Api) -> None:
    """OpenAPI 3.1 at /openapi.json: every route, each response model by name, and the
    error responses with the one error body; Swagger UI at /docs."""
    status, schema = api.call("GET", "/openapi.json")
    assert status == 200
    assert schema["openapi"].startswith("3.1")
    components = schema["components"]["schemas"]
    for model in (
        "WorkflowList", "WorkflowDetails", "InstanceRef", "BatchCreated", "InstanceListModel",
        "InstanceDetailsModel", "StepModel", "ErrorResponse", "CreateInstance", "SendEvent",
        "RestartInstance", "JournalDocument", "JournalStep",
    ):  # fmt: skip
        assert model in components, model
    operations = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    assert set(operations) == {
        ("GET", "/workflows"),
        ("GET", "/workflows/{name}"),
        ("POST", "/workflows/{name}/instances"),
        ("POST", "/workflows/{name}/instances/batch"),
        ("GET", "/workflows/{name}/instances"),
        ("GET", "/workflows/{name}/instances/{instance_id}"),
        ("GET", "/workflows/{name}/instances/{instance_id}/journal"),
        ("DELETE", "/workflows/{name}/instances/{instance_id}"),
        ("POST", "/workflows/{name}/instances/{instance_id}/events/{event_type}"),
        ("POST", "/workflows/{name}/instances/{instance_id}/pause"),
        ("POST", "/workflows/{name}/instances/{instance_id}/resume"),
        ("POST", "/workflows/{name}/instances/{instance_id}/terminate"),
        ("POST", "/workflows/{name}/instances/{instance_id}/restart"),
    }
    error_ref = "#/components/schemas/ErrorResponse"
    for key, op in operations.items():
        if key == ("GET", "/workflows"):
            continue
        for code in ("400", "404", "413"):
            content = op["responses"][code]["content"]["application/json"]
            assert content["schema"]["$ref"] == error_ref, (key, code)
    create = operations[("POST", "/workflows/{name}/instances")]["responses"]
    assert {"200", "201", "409", "422"} <= set(create)
    assert create["422"]["content"]["application/json"]["schema"]["$ref"] == error_ref
    status, page = api.call("GET", "/docs")
    assert status == 200
    assert "Swagger UI" in page


# -- logs --------------------------------------------------------------------------------


def test_each_request_logs_one_json_line_with_its_keys(api: Api, log_stream: io.StringIO) -> None:
    """A request's line carries the request id, workflow and instance id, method, path and
    status; the next request's line does not inherit them."""
    api.call("POST", "/workflows/race/instances", {"id": "r1"})
    api.call("GET", "/workflows/race/instances/r1")
    api.call("GET", "/workflows")
    lines = [
        json.loads(line)
        for line in log_stream.getvalue().splitlines()
        if line.strip() and json.loads(line).get("message") == "request"
    ]
    assert [(x["request_id"], x["status"], x["method"]) for x in lines] == [
        ("req-1", 201, "POST"),
        ("req-2", 200, "GET"),
        ("req-3", 200, "GET"),
    ]
    assert (lines[0]["workflow"], lines[0].get("instance_id")) == ("race", "r1")
    assert (lines[1]["workflow"], lines[1]["instance_id"]) == ("race", "r1")
    assert "workflow" not in lines[2]
    assert "instance_id" not in lines[2]
