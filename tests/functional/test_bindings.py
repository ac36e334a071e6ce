"""The binding adapters (Bucket, Table, Email, AI) on moto, plus their engine and settings wiring.

Live bindings come from `WorkflowTestEnv` (via `make_env`); Bedrock, which moto does not run,
and a few retry/batching paths are checked against small hand-written fake clients.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lambda_workflows import ValidationError, Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.bindings import (
    AI,
    BedrockAI,
    Bucket,
    BucketBinding,
    BucketObject,
    Email,
    LocalAI,
    SesEmail,
    Table,
    TableBinding,
)
from lambda_workflows.bindings.ai import DEFAULT_MODEL
from lambda_workflows.bindings.table import BATCH_SIZE
from lambda_workflows.blobs import MemoryBlobStore
from lambda_workflows.clock import VirtualClock
from lambda_workflows.engine import Engine
from lambda_workflows.journal import MemoryJournal
from lambda_workflows.payloads import Payloads
from lambda_workflows.services import Services
from lambda_workflows.settings import Settings
from lambda_workflows.testing import WorkflowTestEnv
from lambda_workflows.wakeups import MemoryWakeups

SENDER = "noreply@example.com"
CAT = {"output": {"message": {"content": [{"text": "a "}, {"text": "cat"}]}}}


class Noop(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return None


APP = WorkflowApp(
    [Workflow("noop", Noop)],
    bindings={
        "FILES": Bucket(),
        "DB": Table("things"),
        "KV": Table("kv", partition_key="id", sort_key=None),
        "MAIL": Email(SENDER),
        "AI": AI(),
    },
)


@pytest.fixture
def env(make_env: Callable[..., WorkflowTestEnv]) -> WorkflowTestEnv:
    return make_env(APP)


def _contains_decimal(value: Any) -> bool:
    if isinstance(value, Decimal):
        return True
    if isinstance(value, dict):
        return any(_contains_decimal(v) for v in value.values())
    if isinstance(value, list | tuple | set):
        return any(_contains_decimal(v) for v in value)
    return False


def _keys(objects: list[BucketObject]) -> list[str]:
    return [o.key for o in objects]


# Fakes -----------------------------------------------------------------------------------


@dataclass
class FakeResources:
    """A `Resources` that hands out the given fake clients and records what was asked."""

    is_local: bool = False
    clients: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        self.requested.append(service)
        return self.clients.setdefault(service, object())

    def resource_name(self, binding: str, default: str) -> str:
        return self.names.get(binding, default)


class FakeBedrock:
    """Records `converse` calls; always answers "a cat"."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return CAT


class FakeDynamo:
    """Replays scripted responses of `query` / `batch_write_item`, recording the requests."""

    def __init__(self, responses: list[dict[str, Any]]) -> None:
        self.responses = responses
        self.calls: list[dict[str, Any]] = []

    def _next(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(json.loads(json.dumps(kwargs)))  # a snapshot, not a live reference
        return self.responses.pop(0) if self.responses else {}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return self._next(kwargs)

    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        return self._next(kwargs)


class FakeS3:
    """Records `delete_objects`; `get_object` / `head_object` fail with `error_code`."""

    def __init__(self, error_code: str = "AccessDenied") -> None:
        self.error_code = error_code
        self.deletes: list[dict[str, Any]] = []

    def delete_objects(self, **kwargs: Any) -> dict[str, Any]:
        self.deletes.append(kwargs)
        return {}

    def _fail(self, operation: str) -> Any:
        raise ClientError({"Error": {"Code": self.error_code, "Message": "no"}}, operation)

    def get_object(self, **kwargs: Any) -> Any:
        return self._fail("GetObject")

    def head_object(self, **kwargs: Any) -> Any:
        return self._fail("HeadObject")


def _dynamo_item(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# Physical names ------------------------------------------------------------------------------


def test_local_cloud_provisions_and_names_the_binding_resources(env: WorkflowTestEnv) -> None:
    assert env.cloud.settings is not None
    assert env.cloud.settings.bindings == {
        "FILES": "lwf-files",
        "DB": "lwf-things",
        "KV": "lwf-kv",
    }
    assert isinstance(env.env.FILES, BucketBinding)
    assert env.env.FILES.name == "lwf-files"
    assert isinstance(env.env.DB, TableBinding)
    assert env.env.DB.name == "lwf-things"
    assert (env.env.DB.partition_key, env.env.DB.sort_key) == ("pk", "sk")
    assert env.env.KV.name == "lwf-kv"
    assert (env.env.KV.partition_key, env.env.KV.sort_key) == ("id", None)
    assert isinstance(env.env.MAIL, SesEmail)
    assert env.env.MAIL.sender == SENDER
    buckets = {b["Name"] for b in env.cloud.client("s3").list_buckets()["Buckets"]}
    assert "lwf-files" in buckets
    tables = env.cloud.client("dynamodb").list_tables()["TableNames"]
    assert {"lwf-things", "lwf-kv"} <= set(tables)


def test_bucket_and_table_bind_to_mapped_or_logical_names() -> None:
    resources = FakeResources(names={"DB": "prod-things-123"})
    assert Bucket().bind("MY_FILES", resources).name == "my-files"
    assert Bucket("uploads").bind("MY_FILES", resources).name == "uploads"
    table = Table("things").bind("DB", resources)
    assert table.name == "prod-things-123"
    assert Table("other").bind("OTHER", resources).name == "other"
    assert resources.requested == ["s3", "s3", "dynamodb", "dynamodb"]


# Bucket --------------------------------------------------------------------------------------


PUT_CASES: list[tuple[str, Any, str, bytes]] = [
    ("bytes", b"\x00\xffraw", "application/octet-stream", b"\x00\xffraw"),
    ("str", "héllo", "text/plain; charset=utf-8", "héllo".encode()),
    ("json", {"a": [1, 2.5, None], "b": True}, "application/json", b'{"a":[1,2.5,null],"b":true}'),
]


def test_bucket_put_then_get(env: WorkflowTestEnv, subtests: pytest.Subtests) -> None:
    files = env.env.FILES
    for kind, value, content_type, stored in PUT_CASES:
        with subtests.test(kind=kind):
            key = f"dir/{kind}"
            put = files.put(key, value)
            assert put.key == key
            assert put.size == len(stored)
            assert put.content_type == content_type
            assert put.etag == hashlib.md5(stored).hexdigest()  # S3's etag of a simple upload
            assert put.body is None

            got = files.get(key)
            assert got is not None
            assert got.body == stored
            assert got.size == len(stored)
            assert got.content_type == content_type
            assert got.etag == put.etag
            assert got.uploaded is not None
            if isinstance(value, bytes):
                assert got.body == value
            elif isinstance(value, str):
                assert got.text() == value
            else:
                assert got.json() == value
                assert json.loads(got.text()) == value


def test_bucket_json_scalars_and_explicit_content_type(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    for key, value in [("n", 42), ("f", 1.5), ("t", False), ("null", None), ("l", [1, "2"])]:
        assert files.put(key, value).content_type == "application/json"
        got = files.get(key)
        assert got is not None
        assert got.json() == value
    files.put("page.html", "<p>hi</p>", content_type="text/html")
    page = files.get("page.html")
    assert page is not None
    assert page.content_type == "text/html"
    assert page.text() == "<p>hi</p>"


def test_bucket_head_has_metadata_but_no_body(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    files.put("doc.txt", "contents", metadata={"owner": "bob", "kind": "note"})
    head = files.head("doc.txt")
    assert head is not None
    assert head.body is None
    assert head.size == len(b"contents")
    assert head.content_type == "text/plain; charset=utf-8"
    assert head.metadata == {"owner": "bob", "kind": "note"}
    with pytest.raises(ValueError, match=r"'doc\.txt' was read with head\(\).*use get\(\)"):
        head.text()
    with pytest.raises(ValueError, match=r"read with head\(\)"):
        head.json()


def test_bucket_missing_key_is_none(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    assert files.get("nope") is None
    assert files.head("nope") is None
    files.put("there", b"1")
    files.delete("there")
    assert files.get("there") is None
    assert files.head("there") is None


def test_bucket_metadata_round_trip(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    metadata = {"owner": "alice", "source-id": "1234"}
    put = files.put("m", b"x", metadata=metadata)
    assert put.metadata == metadata
    got = files.get("m")
    assert got is not None
    assert got.metadata == metadata
    plain = files.put("plain", b"y")
    assert plain.metadata == {}
    fetched = files.get("plain")
    assert fetched is not None
    assert fetched.metadata == {}


def test_bucket_list_with_prefix(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    for key in ["img/b.png", "img/a.png", "doc/x.txt", "imgs.txt"]:
        files.put(key, key)
    listing = files.list("img/")
    assert _keys(listing.objects) == ["img/a.png", "img/b.png"]
    assert not listing.truncated
    assert listing.cursor is None
    assert listing.delimited_prefixes == []
    assert all(o.body is None and o.size == len(o.key) for o in listing.objects)
    assert _keys(files.list().objects) == ["doc/x.txt", "img/a.png", "img/b.png", "imgs.txt"]
    assert _keys(files.list("img").objects) == ["img/a.png", "img/b.png", "imgs.txt"]
    assert files.list("zzz").objects == []


def test_bucket_list_paginates_with_a_cursor(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    keys = [f"p/{n}" for n in range(5)]
    for key in reversed(keys):
        files.put(key, b"x")
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = files.list("p/", limit=2, cursor=cursor)
        pages.append(_keys(page.objects))
        if not page.truncated:
            assert page.cursor is None
            break
        assert page.cursor
        cursor = page.cursor
    assert pages == [["p/0", "p/1"], ["p/2", "p/3"], ["p/4"]]


def test_bucket_list_with_delimiter(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    for key in ["top.txt", "a/1", "a/2", "b/c/3"]:
        files.put(key, b"x")
    listing = files.list(delimiter="/")
    assert _keys(listing.objects) == ["top.txt"]
    assert listing.delimited_prefixes == ["a/", "b/"]
    nested = files.list("b/", delimiter="/")
    assert nested.objects == []
    assert nested.delimited_prefixes == ["b/c/"]


def test_bucket_delete_one_and_several(env: WorkflowTestEnv) -> None:
    files = env.env.FILES
    for key in ["k1", "k2", "k3", "k4"]:
        files.put(key, b"x")
    files.delete("k1")
    assert _keys(files.list().objects) == ["k2", "k3", "k4"]
    files.delete(["k2", "never-existed", "k3"])
    assert _keys(files.list().objects) == ["k4"]
    files.delete(k for k in ["k4"])
    files.delete("never-existed-either")
    files.delete([])
    assert files.list().objects == []


def test_bucket_list_limit_bounds(env: WorkflowTestEnv, subtests: pytest.Subtests) -> None:
    for limit in (0, -1, 1001):
        with (
            subtests.test(limit=limit),
            pytest.raises(ValidationError, match="limit must be between 1 and 1000"),
        ):
            env.env.FILES.list(limit=limit)
    files = env.env.FILES
    files.put("a", b"1")
    files.put("b", b"2")
    one = files.list(limit=1)
    assert _keys(one.objects) == ["a"]
    assert one.truncated
    assert _keys(files.list(limit=1000).objects) == ["a", "b"]


def test_bucket_put_rejects_non_json_values(
    env: WorkflowTestEnv, subtests: pytest.Subtests
) -> None:
    for value in (object(), {"when": {1, 2}}, bytearray(b"x")):
        with subtests.test(value=value):
            with pytest.raises(ValidationError, match="must be bytes, str or JSON"):
                env.env.FILES.put("bad", value)
            assert env.env.FILES.head("bad") is None


def test_bucket_delete_batches_by_1000() -> None:
    s3 = FakeS3()
    files = BucketBinding(s3, "b")
    files.delete([f"k{n}" for n in range(2500)])
    sizes = [len(call["Delete"]["Objects"]) for call in s3.deletes]
    assert sizes == [1000, 1000, 500]
    assert all(call["Bucket"] == "b" and call["Delete"]["Quiet"] for call in s3.deletes)
    assert s3.deletes[2]["Delete"]["Objects"][-1] == {"Key": "k2499"}
    files.delete("solo")
    assert s3.deletes[-1]["Delete"]["Objects"] == [{"Key": "solo"}]


@pytest.mark.parametrize("method", ["get", "head"])
def test_bucket_other_errors_are_raised(method: str) -> None:
    files = BucketBinding(FakeS3("AccessDenied"), "b")
    with pytest.raises(ClientError, match="AccessDenied"):
        getattr(files, method)("k")
    assert getattr(BucketBinding(FakeS3("NoSuchKey"), "b"), method)("k") is None


# Table ---------------------------------------------------------------------------------------


def test_table_put_get_round_trip(env: WorkflowTestEnv) -> None:
    db = env.env.DB
    item = {
        "pk": "user#1",
        "sk": "profile",
        "name": "Ada",
        "age": 36,
        "score": 1.5,
        "tiny": 0.1,
        "negative": -7,
        "big": 12345678901234567890,
        "active": True,
        "nothing": None,
        "tags": ["a", 1, 2.25, {"deep": [3, 4.5]}],
        "address": {"city": "London", "geo": {"lat": 51.5072, "lon": -0.1276, "zoom": 12}},
    }
    assert db.put(item) is None
    got = db.get({"pk": "user#1", "sk": "profile"})
    assert got == item
    assert got is not None
    assert not _contains_decimal(got)
    assert type(got["age"]) is int
    assert type(got["big"]) is int
    assert type(got["negative"]) is int
    assert type(got["score"]) is float
    assert type(got["tiny"]) is float
    assert type(got["tags"][1]) is int
    assert type(got["tags"][2]) is float
    assert type(got["address"]["geo"]["lat"]) is float
    assert type(got["address"]["geo"]["zoom"]) is int
    assert got["active"] is True
    assert got["nothing"] is None


def test_table_whole_floats_and_sets(env: WorkflowTestEnv) -> None:
    """DynamoDB keeps no float/int distinction: 2.0 reads back as 2 (equal, but an int).
    Sets read back as lists (JSON-friendly)."""
    db = env.env.DB
    db.put({"pk": "p", "sk": "s", "whole": 2.0, "names": {"x", "y"}, "nums": {1, 2}})
    got = db.get({"pk": "p", "sk": "s"})
    assert got is not None
    assert got["whole"] == 2.0
    assert sorted(got["names"]) == ["x", "y"]
    assert sorted(got["nums"]) == [1, 2]
    assert all(type(n) is int for n in got["nums"])
    assert not _contains_decimal(got)


def test_table_put_with_tuple_values(env: WorkflowTestEnv) -> None:
    db = env.env.DB
    db.put({"pk": "p", "sk": "t", "pair": (1, 2.5)})
    assert db.get({"pk": "p", "sk": "t"}) == {"pk": "p", "sk": "t", "pair": [1, 2.5]}


def test_table_bytes_come_back_as_bytes(env: WorkflowTestEnv) -> None:
    db = env.env.DB
    db.put({"pk": "p", "sk": "bin", "blob": b"\x00abc"})
    got = db.get({"pk": "p", "sk": "bin"})
    assert got is not None
    assert type(got["blob"]) is bytes


def test_table_get_missing_replace_and_delete(env: WorkflowTestEnv) -> None:
    db = env.env.DB
    assert db.get({"pk": "none", "sk": "none"}) is None
    db.put({"pk": "a", "sk": "1", "v": 1, "gone": "soon"})
    db.put({"pk": "a", "sk": "1", "v": 2})
    assert db.get({"pk": "a", "sk": "1"}) == {"pk": "a", "sk": "1", "v": 2}
    db.put({"pk": "a", "sk": "2", "v": 3})
    # a full item works as a key: only the key attributes are used
    db.delete({"pk": "a", "sk": "1", "v": 2})
    assert db.get({"pk": "a", "sk": "1"}) is None
    assert db.get({"pk": "a", "sk": "2"}) == {"pk": "a", "sk": "2", "v": 3}
    db.delete({"pk": "a", "sk": "missing"})


def test_table_missing_key_attributes(env: WorkflowTestEnv, subtests: pytest.Subtests) -> None:
    db = env.env.DB
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pk": "a"}, "['sk']"),
        ({"sk": "b"}, "['pk']"),
        ({"other": 1}, "['pk', 'sk']"),
    ]
    for key, missing in cases:
        pattern = re.escape(f"table 'lwf-things': the key needs {missing}")
        for call in (db.get, db.put, db.delete):
            with (
                subtests.test(key=key, call=call.__name__),
                pytest.raises(ValidationError, match=pattern),
            ):
                call(key)
        with subtests.test(key=key, call="put_many"):
            with pytest.raises(ValidationError, match=pattern):
                db.put_many([{"pk": "ok", "sk": "ok"}, key])
            # nothing of the rejected batch was written
            assert db.get({"pk": "ok", "sk": "ok"}) is None


def _seed_orders(db: Any) -> None:
    rows = [
        ("alice", "order#2024-01"),
        ("alice", "order#2024-03"),
        ("alice", "order#2023-12"),
        ("alice", "invoice#1"),
        ("bob", "order#2024-02"),
    ]
    for pk, sk in rows:
        db.put({"pk": pk, "sk": sk, "n": len(sk)})


def test_table_query(env: WorkflowTestEnv) -> None:
    db = env.env.DB
    _seed_orders(db)

    def sks(items: list[dict[str, Any]]) -> list[str]:
        return [i["sk"] for i in items]

    alice = db.query("alice")
    assert sks(alice) == ["invoice#1", "order#2023-12", "order#2024-01", "order#2024-03"]
    assert all(i["pk"] == "alice" and type(i["n"]) is int for i in alice)
    assert sks(db.query("alice", sort_prefix="order#")) == [
        "order#2023-12",
        "order#2024-01",
        "order#2024-03",
    ]
    assert sks(db.query("alice", sort_prefix="order#2024")) == ["order#2024-01", "order#2024-03"]
    assert sks(db.query("alice", newest_first=True)) == [
        "order#2024-03",
        "order#2024-01",
        "order#2023-12",
        "invoice#1",
    ]
    assert sks(db.query("alice", sort_prefix="order#", limit=2, newest_first=True)) == [
        "order#2024-03",
        "order#2024-01",
    ]
    assert sks(db.query("alice", limit=1)) == ["invoice#1"]
    assert sks(db.query("alice", limit=10)) == sks(alice)
    assert sks(db.query("bob")) == ["order#2024-02"]
    assert db.query("carol") == []
    assert db.query("alice", sort_prefix="nothing#") == []


def test_table_put_many_batches(env: WorkflowTestEnv) -> None:
    db = env.env.DB
    items = [{"pk": "bulk", "sk": f"{n:03d}", "n": n, "half": n / 2} for n in range(60)]
    assert db.put_many(items) == 60
    for n in (0, 24, 25, 26, 49, 50, 59):
        assert db.get({"pk": "bulk", "sk": f"{n:03d}"}) == items[n]
    found = db.query("bulk")
    assert found == items
    assert db.put_many([]) == 0
    assert db.put_many(iter(items[:3])) == 3


def test_table_put_many_resends_unprocessed_items() -> None:
    first_leftover = {"t": [{"PutRequest": {"Item": _dynamo_item("p", "000")}}]}
    ddb = FakeDynamo([{"UnprocessedItems": first_leftover}, {"UnprocessedItems": {}}, {}, {}])
    table = TableBinding(ddb, "t", "pk", "sk")
    items = [{"pk": "p", "sk": f"{n:03d}"} for n in range(BATCH_SIZE + 3)]
    assert table.put_many(items) == BATCH_SIZE + 3
    sizes = [len(call["RequestItems"]["t"]) for call in ddb.calls]
    assert sizes == [BATCH_SIZE, 1, 3]
    assert ddb.calls[1]["RequestItems"] == first_leftover


def test_table_query_follows_pages_and_stops_at_limit() -> None:
    page_key = {"pk": {"S": "p"}, "sk": {"S": "b"}}
    ddb = FakeDynamo(
        [
            {
                "Items": [_dynamo_item("p", "a"), _dynamo_item("p", "b")],
                "LastEvaluatedKey": page_key,
            },
            {"Items": [_dynamo_item("p", "c")], "LastEvaluatedKey": {"pk": {"S": "p"}}},
        ]
    )
    table = TableBinding(ddb, "t", "pk", "sk")
    found = table.query("p", limit=3, newest_first=True)
    assert [i["sk"] for i in found] == ["a", "b", "c"]
    assert [c["Limit"] for c in ddb.calls] == [3, 1]
    assert "ExclusiveStartKey" not in ddb.calls[0]
    assert ddb.calls[1]["ExclusiveStartKey"] == page_key
    assert all(c["ScanIndexForward"] is False and c["ConsistentRead"] for c in ddb.calls)

    unlimited = FakeDynamo(
        [
            {"Items": [_dynamo_item("p", "a")], "LastEvaluatedKey": page_key},
            {"Items": [_dynamo_item("p", "b")]},
        ]
    )
    table = TableBinding(unlimited, "t", "pk", "sk")
    assert [i["sk"] for i in table.query("p", sort_prefix="")] == ["a", "b"]
    assert all("Limit" not in c for c in unlimited.calls)
    assert unlimited.calls[0]["KeyConditionExpression"] == "#pk = :pk AND begins_with(#sk, :prefix)"
    assert unlimited.calls[0]["ExpressionAttributeNames"] == {"#pk": "pk", "#sk": "sk"}
    assert unlimited.calls[0]["ExpressionAttributeValues"] == {
        ":pk": {"S": "p"},
        ":prefix": {"S": ""},
    }


def test_table_without_sort_key(env: WorkflowTestEnv) -> None:
    kv = env.env.KV
    assert kv.get({"id": "k"}) is None
    kv.put({"id": "k", "value": {"n": 1, "f": 0.5}})
    kv.put({"id": "other", "value": 2})
    assert kv.get({"id": "k"}) == {"id": "k", "value": {"n": 1, "f": 0.5}}
    assert kv.get({"id": "k", "sk": "ignored"}) == {"id": "k", "value": {"n": 1, "f": 0.5}}
    assert kv.query("k") == [{"id": "k", "value": {"n": 1, "f": 0.5}}]
    with pytest.raises(ValidationError, match=r"the key needs \['id'\]"):
        kv.put({"pk": "k"})
    with pytest.raises(ValidationError, match="table 'lwf-kv' has no sort key"):
        kv.query("k", sort_prefix="a")
    kv.delete({"id": "k"})
    assert kv.get({"id": "k"}) is None
    assert kv.put_many([{"id": f"i{n}"} for n in range(30)]) == 30
    assert kv.get({"id": "i29"}) == {"id": "i29"}


# Email ---------------------------------------------------------------------------------------


def test_email_send_to_one_address(env: WorkflowTestEnv) -> None:
    assert env.sent_emails() == []
    message_id = env.env.MAIL.send("ada@example.com", "Hello", "plain body")
    assert isinstance(message_id, str)
    assert message_id
    assert env.sent_emails() == [
        {
            "from": SENDER,
            "to": ["ada@example.com"],
            "subject": "Hello",
            "body": "plain body",
        }
    ]


def test_email_send_to_a_list_with_html(env: WorkflowTestEnv) -> None:
    mail = env.env.MAIL
    first = mail.send(["a@example.com", "b@example.com"], "Report", "text", html="<b>html</b>")
    second = mail.send(("c@example.com",), "Second", "again")
    assert first != second
    sent = env.sent_emails()
    assert [m["to"] for m in sent] == [["a@example.com", "b@example.com"], ["c@example.com"]]
    assert [m["subject"] for m in sent] == ["Report", "Second"]
    assert all(m["from"] == SENDER for m in sent)
    # moto records the HTML part when there is one, else the text part
    assert [m["body"] for m in sent] == ["<b>html</b>", "again"]


def test_email_bad_recipients(env: WorkflowTestEnv, subtests: pytest.Subtests) -> None:
    bad: list[Any] = [[], (), "not-an-address", ["ok@example.com", "not-an-address"], [None], ""]
    for to in bad:
        with (
            subtests.test(to=to),
            pytest.raises(ValidationError, match=r"Email\.send: bad recipients"),
        ):
            env.env.MAIL.send(to, "s", "t")
    assert env.sent_emails() == []


def test_email_sender_must_be_an_address() -> None:
    with pytest.raises(ValidationError, match="sender must be an address, got 'no-at-sign'"):
        Email("no-at-sign")
    assert Email("a@b.example").sender == "a@b.example"


def test_email_bind_uses_sesv2() -> None:
    resources = FakeResources(is_local=True)
    mail = Email(SENDER).bind("MAIL", resources)
    assert isinstance(mail, SesEmail)
    assert mail.sender == SENDER
    assert resources.requested == ["sesv2"]


# AI ------------------------------------------------------------------------------------------


def test_local_ai_answers_deterministically(env: WorkflowTestEnv) -> None:
    ai = env.env.AI
    assert isinstance(ai, LocalAI)
    assert ai.model_id == DEFAULT_MODEL
    answer = ai.run("describe the weather")
    assert answer.startswith("[local ")
    assert DEFAULT_MODEL in answer
    assert answer.endswith("describe the weather")
    assert "image" not in answer
    assert ai.run("describe the weather") == answer
    assert ai.run("describe the weather", system="be brief", max_tokens=5) == answer

    image = b"\x89PNG fake image"
    digest = hashlib.sha256(image).hexdigest()[:12]
    with_image = ai.run("what is this?", image=image, image_format="jpeg")
    assert with_image.startswith("[local ")
    assert "what is this?" in with_image
    assert digest in with_image
    assert ai.run("what is this?", image=image) == with_image
    other = ai.run("what is this?", image=b"another image")
    assert digest not in other
    assert hashlib.sha256(b"another image").hexdigest()[:12] in other


BAD_AI_INPUT: list[tuple[Any, dict[str, Any], str]] = [
    ("", {}, "non-empty prompt"),
    ("   \n", {}, "non-empty prompt"),
    (None, {}, "non-empty prompt"),
    ("hi", {"image_format": "bmp"}, "image_format must be one of"),
    ("hi", {"image": b"x", "image_format": "JPEG"}, "image_format must be one of"),
]


def test_ai_rejects_bad_input(env: WorkflowTestEnv, subtests: pytest.Subtests) -> None:
    bedrock = FakeBedrock()
    for prompt, kwargs, message in BAD_AI_INPUT:
        with subtests.test(prompt=prompt, **kwargs):
            with pytest.raises(ValidationError, match=message):
                env.env.AI.run(prompt, **kwargs)
            with pytest.raises(ValidationError, match=message):
                BedrockAI(bedrock, "m").run(prompt, **kwargs)
    assert bedrock.calls == []


def test_bedrock_ai_request_shape() -> None:
    bedrock = FakeBedrock()
    ai = BedrockAI(bedrock, "model-x")
    assert ai.run("what is it?", image=b"\xff\xd8jpeg", image_format="jpeg", max_tokens=64) == (
        "a cat"
    )
    assert bedrock.calls == [
        {
            "modelId": "model-x",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "what is it?"},
                        {"image": {"format": "jpeg", "source": {"bytes": b"\xff\xd8jpeg"}}},
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 64},
        }
    ]


def test_bedrock_ai_text_only_and_system() -> None:
    bedrock = FakeBedrock()
    ai = BedrockAI(bedrock, "model-y")
    assert ai.run("hello") == "a cat"
    assert ai.run("hello", system="You are terse.") == "a cat"
    plain, with_system = bedrock.calls
    assert plain["messages"] == [{"role": "user", "content": [{"text": "hello"}]}]
    assert plain["inferenceConfig"] == {"maxTokens": 512}
    assert "system" not in plain
    assert with_system["system"] == [{"text": "You are terse."}]
    assert with_system["messages"] == plain["messages"]


def test_bedrock_ai_joins_only_text_blocks() -> None:
    class Mixed(FakeBedrock):
        def converse(self, **kwargs: Any) -> dict[str, Any]:
            super().converse(**kwargs)
            content = [{"text": "x"}, {"toolUse": {"name": "t"}}, {"text": "y"}]
            return {"output": {"message": {"content": content}}}

    assert BedrockAI(Mixed(), "m").run("go") == "xy"


def test_ai_bind_chooses_bedrock_off_the_local_cloud() -> None:
    runtime = FakeBedrock()
    resources = FakeResources(is_local=False, clients={"bedrock-runtime": runtime})
    live = AI("model-z").bind("AI", resources)
    assert isinstance(live, BedrockAI)
    assert live.model_id == "model-z"
    assert resources.requested == ["bedrock-runtime"]
    assert live.run("hi") == "a cat"
    assert runtime.calls[0]["modelId"] == "model-z"

    local = FakeResources(is_local=True)
    placeholder = AI("model-z").bind("AI", local)
    assert isinstance(placeholder, LocalAI)
    assert placeholder.model_id == "model-z"
    assert local.requested == []
    assert AI().model_id == DEFAULT_MODEL


# Engine wiring -------------------------------------------------------------------------------


def _memory_services() -> Services:
    return Services(
        journal=MemoryJournal(),
        payloads=Payloads(MemoryBlobStore()),
        wakeups=MemoryWakeups(),
        clock=VirtualClock(),
    )


@pytest.mark.parametrize(
    "spec", [Bucket(), Table("t"), Email(SENDER), AI()], ids=["bucket", "table", "email", "ai"]
)
def test_engine_needs_resources_for_binding_specs(spec: Any) -> None:
    app = WorkflowApp([Workflow("noop", Noop)], bindings={"THING": spec})
    with pytest.raises(ValidationError, match="binding 'THING' needs AWS resources"):
        Engine(app, _memory_services())


def test_engine_passes_plain_objects_through() -> None:
    config = {"feature": True}
    helper = object()
    app = WorkflowApp([Workflow("noop", Noop)], bindings={"CONFIG": config, "HELPER": helper})
    engine = Engine(app, _memory_services())
    assert engine.env.CONFIG is config
    assert engine.env["HELPER"] is helper
    assert "CONFIG" in engine.env
    assert "FILES" not in engine.env
    with pytest.raises(AttributeError, match="no binding named 'FILES'"):
        _ = engine.env.FILES


def test_engine_binds_specs_with_resources() -> None:
    bedrock = FakeBedrock()
    resources = FakeResources(
        is_local=False, clients={"bedrock-runtime": bedrock}, names={"FILES": "prod-files"}
    )
    plain = object()
    app = WorkflowApp(
        [Workflow("noop", Noop)], bindings={"FILES": Bucket(), "AI": AI(), "PLAIN": plain}
    )
    engine = Engine(app, _memory_services(), resources=resources)
    assert isinstance(engine.env.FILES, BucketBinding)
    assert engine.env.FILES.name == "prod-files"
    assert isinstance(engine.env.AI, BedrockAI)
    assert engine.env.AI.run("hi") == "a cat"
    assert engine.env.PLAIN is plain


# Settings ------------------------------------------------------------------------------------

BASE_ENV = {
    "LWF_TABLE_NAME": "journal",
    "LWF_QUEUE_URL": "https://sqs.example/queue",
    "LWF_BUCKET_NAME": "results",
}


def test_settings_read_bindings_as_json() -> None:
    names = {"FILES": "prod-files", "DB": "prod-things"}
    settings = Settings.from_env({**BASE_ENV, "LWF_BINDINGS": json.dumps(names)})
    assert settings.bindings == names
    assert Settings.from_env(BASE_ENV).bindings == {}


def test_settings_write_bindings_as_json_and_round_trip() -> None:
    names = {"FILES": "prod-files", "DB": "prod-things"}
    settings = Settings.from_env({**BASE_ENV, "LWF_BINDINGS": json.dumps(names)})
    written = settings.to_env()
    assert json.loads(written["LWF_BINDINGS"]) == names
    assert written["LWF_TABLE_NAME"] == "journal"
    assert "LWF_ENDPOINT_URL" not in written
    assert Settings.from_env(written) == settings
    assert json.loads(Settings.from_env(BASE_ENV).to_env()["LWF_BINDINGS"]) == {}


@pytest.mark.parametrize("raw", ["{not json", "", "{'FILES': 'x'}"])
def test_settings_reject_invalid_bindings_json(raw: str) -> None:
    with pytest.raises(ValidationError, match="LWF_BINDINGS must be a JSON object"):
        Settings.from_env({**BASE_ENV, "LWF_BINDINGS": raw})


@pytest.mark.parametrize("raw", ['["FILES"]', '{"FILES": 3}', "null"])
def test_settings_reject_bindings_that_are_not_a_name_map(raw: str) -> None:
    with pytest.raises(ValidationError, match="invalid settings: LWF_BINDINGS"):
        Settings.from_env({**BASE_ENV, "LWF_BINDINGS": raw})


def test_values_a_store_cannot_hold_are_refused_clearly(env: WorkflowTestEnv) -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="DynamoDB"):
            env.env.DB.put({"pk": "p", "sk": "nan", "x": bad})
        with pytest.raises(ValidationError, match="JSON"):
            env.env.FILES.put("nan.json", {"x": bad})
    assert env.env.DB.get({"pk": "p", "sk": "nan"}) is None
    assert env.env.FILES.head("nan.json") is None
    with pytest.raises(ValidationError, match="empty"):
        env.env.AI.run("describe", image=b"")
    stored = env.env.FILES.put("m", b"x", metadata={"Owner": "Bob"})
    assert stored.metadata == env.env.FILES.get("m").metadata == {"owner": "Bob"}
