"""The engine's half of the HTTP API attack: limits on what is stored, writes only after
validation, idempotent creates by canonical JSON, cursors bound to their listing, the
received event as a wait's result, and a restart racing a delete.

Each test shows a 4xx (or a typed error from Python) that writes nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lambda_workflows.errors import ValidationError
from lambda_workflows.journal import MemoryJournal
from lambda_workflows.journal.records import InstanceMeta, InstanceStatus
from lambda_workflows.metrics import RecordingMetrics
from lambda_workflows.payloads import MAX_JSON_DEPTH
from lambda_workflows.testing import WorkflowTestEnv

from functions.app import app
from tests.functional.test_api_adversarial import CREATE, LARGE, nested, send
from tests.functional.test_http_api import Api, assert_error, stored


@pytest.fixture
def api() -> Iterator[Api]:
    metrics = RecordingMetrics()
    with WorkflowTestEnv(app, metrics=metrics) as env:
        yield Api(env, metrics)


@pytest.mark.parametrize(
    "raw",
    ['{"id": "s1", "params": "\\ud800"}', '{"id": "s1", "params": {"k\\udc00": 1}}'],
    ids=["value", "key"],
)
def test_lone_surrogates_in_body_strings_are_400s(api: Api, raw: str) -> None:
    """Valid JSON, but not Unicode text: it cannot be stored or answered as UTF-8."""
    before = stored(api.env)
    assert_error(send(api, "POST", CREATE, raw), 400, "validation_error", "surrogate")
    assert stored(api.env) == before
    api.call("POST", CREATE, {"id": "s2"})
    before = stored(api.env)
    event = '{"payload": ["\\udfff"]}'
    assert_error(send(api, "POST", f"{CREATE}/s2/events/go", event), 400, "validation_error",
                 "surrogate")  # fmt: skip
    assert stored(api.env) == before


def test_params_and_payloads_nested_past_the_limit_are_rejected(api: Api) -> None:
    """64 levels are fine (and the instance can be read back); 65 are a 400 that writes
    nothing, over HTTP and from Python (where 5,000 levels used to be a RecursionError)."""
    assert MAX_JSON_DEPTH == 64
    assert api.call("POST", CREATE, {"id": "ok", "params": nested(64)})[0] == 201
    status, body = api.call("GET", f"{CREATE}/ok")
    assert (status, body["params"]) == (200, nested(64))
    before = stored(api.env)
    assert_error(api.call("POST", CREATE, {"id": "deep", "params": nested(65)}), 400,
                 "validation_error", "64")  # fmt: skip
    assert_error(api.call("POST", f"{CREATE}/batch", [{"id": "d1", "params": nested(300)}]),
                 400, "validation_error", "64")  # fmt: skip
    assert_error(api.call("POST", f"{CREATE}/ok/events/go", {"payload": {"a": nested(64)}}),
                 400, "validation_error", "64")  # fmt: skip
    binding = api.env.binding("race")
    for depth in (65, 5000):
        with pytest.raises(ValidationError, match="64"):
            binding.create(id="py", params=nested(depth))
        with pytest.raises(ValidationError, match="64"):
            binding.get("ok").send_event("go", nested(depth))
    assert stored(api.env) == before


# -- 3. a 4xx writes nothing to the bucket either ---------------------------------------


def bucket(api: Api) -> list[str]:
    return list(stored(api.env)[1])


def test_large_params_of_a_rejected_create_are_not_uploaded(api: Api) -> None:
    """Params over the inline limit go to S3, but only once the create is sure to be
    written: a duplicate id, a batch with an id twice or an existing id, or a bad entry
    leave the bucket as it was."""
    assert api.call("POST", CREATE, {"id": "big", "params": {"blob": LARGE}})[0] == 201
    assert api.call("POST", CREATE, {"id": "small"})[0] == 201
    before = stored(api.env)
    assert len(before[1]) == 1
    other = {"id": "big", "params": {"blob": LARGE + "y"}}
    assert_error(api.call("POST", CREATE, other), 409, "conflict")
    assert_error(api.call("POST", CREATE, {"id": "small", "params": {"blob": LARGE}}), 409,
                 "conflict")  # fmt: skip
    batch = f"{CREATE}/batch"
    fresh = {"id": "new", "params": {"blob": LARGE + "z"}}
    assert_error(api.call("POST", batch, [fresh, {"id": "small"}]), 409, "conflict")
    assert_error(api.call("POST", batch, [fresh, fresh]), 400, "validation_error", "twice")
    assert_error(api.call("POST", batch, [fresh, {"id": "-bad"}]), 400, "bad_request")
    assert_error(api.call("POST", batch, [fresh, {"id": "p2", "params": nested(65)}]), 400,
                 "validation_error")  # fmt: skip
    assert stored(api.env) == before


def test_a_large_payload_sent_to_a_finished_instance_is_not_uploaded(api: Api) -> None:
    api.call("POST", CREATE, {"id": "done"})
    api.call("POST", f"{CREATE}/done/terminate")
    before = stored(api.env)
    assert_error(api.call("POST", f"{CREATE}/done/events/go", {"payload": LARGE}), 409,
                 "conflict", "terminated")  # fmt: skip
    assert_error(api.call("POST", f"{CREATE}/gone/events/go", {"payload": LARGE}), 404,
                 "instance_not_found")  # fmt: skip
    assert stored(api.env) == before


# -- 4. an idempotent retry compares the params' JSON text ------------------------------


def test_a_retry_with_params_equal_in_python_but_not_in_json_is_a_conflict(api: Api) -> None:
    """1 == True == 1.0 in Python; as JSON they differ, so the retry is a 409."""
    assert api.call("POST", CREATE, {"id": "n1", "params": {"n": 1}})[0] == 201
    before = stored(api.env)
    assert_error(api.call("POST", CREATE, {"id": "n1", "params": {"n": True}}), 409, "conflict")
    assert_error(api.call("POST", CREATE, {"id": "n1", "params": {"n": 1.0}}), 409, "conflict")
    assert stored(api.env) == before
    assert api.call("POST", CREATE, {"id": "n1", "params": {"n": 1}}) == (
        200,
        {"id": "n1", "status": "queued"},
    )


def test_a_retry_with_the_same_large_params_in_another_key_order_matches(api: Api) -> None:
    """Params stored in S3 are compared by their canonical JSON, not by the stored key;
    the retry stores no second copy."""
    first = {"id": "L1", "params": {"a": 1, "blob": LARGE}}
    assert api.call("POST", CREATE, first)[0] == 201
    objects = bucket(api)
    again = {"id": "L1", "params": {"blob": LARGE, "a": 1}}
    assert api.call("POST", CREATE, again) == (200, {"id": "L1", "status": "queued"})
    assert bucket(api) == objects
    assert_error(api.call("POST", CREATE, {"id": "L1", "params": {"blob": LARGE, "a": True}}),
                 409, "conflict")  # fmt: skip
    assert bucket(api) == objects


# -- 7. the list route, duplicated parameters and batch error indexes -------------------


def cursor_of(api: Api, **query: str) -> str:
    status, body = api.call("GET", CREATE, query={"limit": "1", **query})
    assert status == 200
    assert body["cursor"]
    return str(body["cursor"])


def test_a_cursor_continues_only_the_listing_it_came_from(api: Api) -> None:
    for n in range(3):
        api.call("POST", CREATE, {"id": f"q{n}"})
        api.env.advance("1 second")  # runs it: the race waits for its event
    unfiltered = cursor_of(api)
    waiting = cursor_of(api, status="waiting")
    assert_error(api.call("GET", CREATE, query={"status": "waiting", "cursor": unfiltered}), 400,
                 "validation_error", "cursor")  # fmt: skip
    assert_error(api.call("GET", CREATE, query={"cursor": waiting}), 400, "validation_error",
                 "cursor")  # fmt: skip
    assert_error(api.call("GET", CREATE, query={"status": "paused", "cursor": waiting}), 400,
                 "validation_error", "cursor")  # fmt: skip
    assert api.call("GET", CREATE, query={"status": "waiting", "cursor": waiting})[0] == 200
    assert api.call("GET", CREATE, query={"cursor": unfiltered})[0] == 200


def _reencode(cursor: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The cursor with `change` applied to the DynamoDB key inside it."""
    decoded = json.loads(base64.urlsafe_b64decode(cursor))
    key = decoded if "pk" in decoded else next(v for v in decoded.values() if isinstance(v, dict))
    change(key)
    return base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode()


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda key: key.pop(name)


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda key: key.__setitem__(name, value)


@pytest.mark.parametrize(
    "change",
    [
        _drop("gs"),
        _drop("pk"),
        _set("gs", {"S": ""}),
        _set("sk", {"N": "1"}),
        _set("pk", {"S": 5}),
        _set("gs", "plain"),
        _set("extra", {"S": "x"}),
        _set("pk", {"S": "race#" + "x" * 1400}),
        _set("gs", {"S": "9" * 1400}),
        _set("gs", {"S": "\ud800"}),
        _set("pk", {"S": "race#other"}),
    ],
    ids=[
        "no-gs",
        "no-pk",
        "empty",
        "number",
        "not-a-string",
        "not-typed",
        "extra-key",
        "long-pk",
        "long-gs",
        "surrogate",
        "pk-not-gs",
    ],
)
def test_a_forged_cursor_is_a_400(api: Api, change: Callable[[dict[str, Any]], None]) -> None:
    for n in range(2):
        api.call("POST", CREATE, {"id": f"f{n}"})
    forged = _reencode(cursor_of(api), change)
    assert_error(api.call("GET", CREATE, query={"cursor": forged}), 400, "validation_error",
                 "cursor")  # fmt: skip


@pytest.mark.parametrize(
    "decoded",
    [
        ["race", "x"],
        ["race", "", "x"],
        {"listing": "race"},
        {"listing": "race", "after": ""},
        {"listing": "race", "after": 5},
        {"listing": "race", "after": "x", "more": "y"},
    ],
)
def test_a_forged_memory_cursor_is_a_validation_error(decoded: Any) -> None:
    journal = MemoryJournal()
    for n in range(2):
        journal.create_instances([_meta(f"m{n}", n)])
    assert journal.list_instances("race", limit=1).cursor is not None
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode()
    with pytest.raises(ValidationError, match="cursor"):
        journal.list_instances("race", limit=1, cursor=forged)


def test_a_memory_cursor_is_bound_to_its_status_filter() -> None:
    journal = MemoryJournal()
    for n in range(3):
        journal.create_instances([_meta(f"m{n}", n)])
    cursor = journal.list_instances("race", limit=1).cursor
    filtered = journal.list_instances("race", InstanceStatus.QUEUED, limit=1).cursor
    assert cursor is not None
    assert filtered is not None
    with pytest.raises(ValidationError, match="cursor"):
        journal.list_instances("race", InstanceStatus.QUEUED, limit=1, cursor=cursor)
    with pytest.raises(ValidationError, match="cursor"):
        journal.list_instances("race", limit=1, cursor=filtered)
    rest = journal.list_instances("race", InstanceStatus.QUEUED, limit=5, cursor=filtered)
    assert [m.instance_id for m in rest.instances] == ["m1", "m0"]


def _meta(instance_id: str, created_at: int) -> InstanceMeta:
    return InstanceMeta(
        workflow="race",
        instance_id=instance_id,
        status=InstanceStatus.QUEUED,
        params=None,
        params_ref=None,
        created_at=created_at,
        due_at=created_at,
    )


def test_batch_errors_name_the_entry_that_failed(api: Api) -> None:
    path = "/workflows/approval/instances/batch"
    entries = [{"id": "b0", "params": {"user_id": "u"}}, {"id": "b1", "params": {}}]
    status, body = api.call("POST", path, entries)
    assert status == 422
    assert "entry 1" in body["error"]["message"]
    assert body["error"]["details"] == [
        {"index": 1, "loc": ["user_id"], "msg": "Field required", "type": "missing"}
    ]
    twice = [{"id": "t", "params": {"user_id": "u"}}, {"id": "u", "params": {"user_id": "u"}},
             {"id": "t", "params": {"user_id": "u"}}]  # fmt: skip
    status, body = api.call("POST", path, twice)
    assert status == 400
    assert "entries 0 and 2" in body["error"]["message"]
    status, body = api.call("POST", f"{CREATE}/batch", [{"id": "x"}, {"params": nested(70)}])
    assert status == 400
    assert "entry 1" in body["error"]["message"]
    assert body["error"]["details"][0]["index"] == 1


# -- 8. a received event is the result of its wait --------------------------------------


def test_a_succeeded_wait_for_event_shows_the_event_it_received(api: Api) -> None:
    api.call("POST", "/workflows/approval/instances", {"id": "a1", "params": {"user_id": "u"}})
    api.env.run_until_idle()
    path = "/workflows/approval/instances/a1"
    api.call("POST", f"{path}/events/approval-response", {"payload": {"approved": True}})
    api.env.wait_for_status("approval", "a1", "complete")
    _, body = api.call("GET", path)
    [wait] = [s for s in body["steps"] if s["type"] == "wait_for_event"]
    [event] = body["events"]
    assert wait["result"] == {
        "payload": {"approved": True},
        "timestamp": event["timestamp"],
        "type": "approval-response",
    }
    assert wait["result_omitted"] is None


def test_a_received_event_stored_apart_is_omitted(api: Api) -> None:
    api.call("POST", "/workflows/approval/instances", {"id": "a2", "params": {"user_id": "u"}})
    api.env.run_until_idle()
    path = "/workflows/approval/instances/a2"
    payload = {"approved": True, "note": LARGE}
    assert api.call("POST", f"{path}/events/approval-response", {"payload": payload})[0] == 202
    api.env.wait_for_status("approval", "a2", "complete")
    _, body = api.call("GET", path)
    [wait] = [s for s in body["steps"] if s["type"] == "wait_for_event"]
    assert (wait["result"], wait["result_omitted"]) == (None, True)


# -- 10. a restart racing a delete leaves nothing behind --------------------------------


def test_a_delete_during_a_restart_leaves_no_step_items(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete lands between the restart's read and its writes (which copy the kept
    steps to the new generation): the restart answers 404 and the partition is empty."""
    base = "/workflows/approval/instances/a1"
    api.call("POST", "/workflows/approval/instances", {"id": "a1", "params": {"user_id": "u"}})
    api.env.run_until_idle()
    api.call("POST", f"{base}/events/approval-response", {"payload": {"approved": True}})
    api.env.wait_for_status("approval", "a1", "complete")
    journal = api.env.engine.services.journal
    replace_steps = journal.replace_steps

    def delete_first(*args: Any, **kwargs: Any) -> None:
        api.env.binding("approval").get("a1").delete()
        replace_steps(*args, **kwargs)

    monkeypatch.setattr(journal, "replace_steps", delete_first)
    restart = api.call("POST", f"{base}/restart", {"from_step": "process approval"})
    assert_error(restart, 404, "instance_not_found")
    assert [item for item in stored(api.env)[0] if '"approval#a1"' in item] == []
    assert stored(api.env)[1] == []
