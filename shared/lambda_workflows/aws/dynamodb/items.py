"""Encoding of journal records as DynamoDB items (and back), and item sizes."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from lambda_workflows.aws.dynamodb.schema import DUE_SHARDS, EVENT_PREFIX, META_SK, STEP_PREFIX
from lambda_workflows.errors import ItemTooLargeError
from lambda_workflows.journal.base import MAX_ITEM_BYTES, META_FIELDS
from lambda_workflows.journal.records import (
    Attempt,
    ErrorInfo,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    StepKind,
    StepRecord,
    StepStatus,
)

Item = dict[str, Any]

# meta field -> (attribute, type): "S" string, "N" number, "J" JSON in a string,
# "E" an ErrorInfo as JSON, "B" a flag (a number)
META_ATTRS: dict[str, tuple[str, str]] = {
    "status": ("st", "S"),
    "params": ("p", "J"),
    "params_ref": ("pref", "S"),
    "generation": ("g", "N"),
    "epoch": ("ep", "N"),
    "inbox": ("ib", "N"),
    "started_at": ("sa", "N"),
    "finished_at": ("fa", "N"),
    "output": ("o", "J"),
    "output_ref": ("oref", "S"),
    "error": ("err", "E"),
    "lease_owner": ("lo", "S"),
    "lease_until": ("lu", "N"),
    "due_at": ("du", "N"),
    "terminating": ("tr", "B"),
    "queue": ("qw", "S"),
}
HOLDS_SLOT = "sl"
"""Attribute of a meta item that holds a concurrency slot (BOOL true; absent otherwise)."""
assert set(META_ATTRS) == META_FIELDS


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def partition_key(workflow: str, instance_id: str) -> str:
    return f"{workflow}#{instance_id}"


def due_shard(pk: str) -> str:
    return f"due#{zlib.crc32(pk.encode()) % DUE_SHARDS}"


def encode_value(kind: str, value: Any) -> dict[str, str]:
    if kind == "S":
        return {"S": str(value)}
    if kind in ("N", "B"):
        return {"N": str(int(value))}
    if kind == "E":
        return {"S": _json(value.to_dict())}
    return {"S": _json(value)}


def decode_value(kind: str, attr: Mapping[str, str]) -> Any:
    if kind == "S":
        return attr["S"]
    if kind == "N":
        return int(attr["N"])
    if kind == "B":
        return attr["N"] != "0"
    if kind == "E":
        return ErrorInfo.from_dict(json.loads(attr["S"]))
    return json.loads(attr["S"])


def item_size(item: Item) -> int:
    """DynamoDB's size of an item of S, N and SS attributes (names plus values)."""
    size = 0
    for name, attr in item.items():
        size += len(name.encode())
        for value in attr.values():
            if isinstance(value, list):
                size += sum(len(v.encode()) for v in value)
            else:
                size += len(str(value).encode())
    return size


def checked(item: Item) -> Item:
    """`item`, or `ItemTooLargeError` when DynamoDB would refuse it."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemTooLargeError(f"an item of {size} bytes is over {MAX_ITEM_BYTES}")
    return item


def meta_item(meta: InstanceMeta) -> Item:
    item: Item = {
        "pk": {"S": partition_key(meta.workflow, meta.instance_id)},
        "sk": {"S": META_SK},
        "wf": {"S": meta.workflow},
        "id": {"S": meta.instance_id},
        "ca": {"N": str(meta.created_at)},
        "gs": {"S": f"{meta.created_at:015d}#{meta.instance_id}"},
    }
    for name, (attr, kind) in META_ATTRS.items():
        value = getattr(meta, name)
        if value is not None:
            item[attr] = encode_value(kind, value)
    if meta.due_at is not None:
        item["dp"] = {"S": due_shard(item["pk"]["S"])}
    if meta.watchers:
        item["wt"] = {"SS": sorted(meta.watchers)}
    if meta.holds_slot:
        item[HOLDS_SLOT] = {"BOOL": True}
    return checked(item)


def meta_from_item(item: Mapping[str, Any]) -> InstanceMeta:
    fields = {
        name: decode_value(kind, item[attr])
        for name, (attr, kind) in META_ATTRS.items()
        if attr in item
    }
    fields["status"] = InstanceStatus(fields["status"])
    fields.setdefault("params", None)
    if "wt" in item:
        fields["watchers"] = sorted(item["wt"]["SS"])
    if HOLDS_SLOT in item:
        fields["holds_slot"] = True
    return InstanceMeta(
        workflow=item["wf"]["S"],
        instance_id=item["id"]["S"],
        created_at=int(item["ca"]["N"]),
        **fields,
    )


def _attempt_data(attempt: Attempt) -> list[Any]:
    data: list[Any] = [attempt.number, attempt.started_at, attempt.finished_at]
    if attempt.error is not None:
        data.append(attempt.error.to_dict())
    return data


def _attempt(data: list[Any]) -> Attempt:
    error = ErrorInfo.from_dict(data[3]) if len(data) > 3 else None
    return Attempt(data[0], data[1], data[2], error)


_STEP_OPTIONAL = (
    "result",
    "result_ref",
    "started_at",
    "finished_at",
    "done",
    "wake_at",
    "event_seq",
    "event_type",
)


def step_item(pk: str, record: StepRecord) -> Item:
    """A step record: one JSON attribute `d`, plus generation and version for conditions."""
    data: dict[str, Any] = {
        "name": record.name,
        "occurrence": record.occurrence,
        "kind": str(record.kind),
        "position": record.position,
        "status": str(record.status),
    }
    for name in _STEP_OPTIONAL:
        value = getattr(record, name)
        if value is not None:
            data[name] = value
    if record.error is not None:
        data["error"] = record.error.to_dict()
    if record.attempts:
        data["attempts"] = [_attempt_data(a) for a in record.attempts]
    return checked(
        {
            "pk": {"S": pk},
            "sk": {"S": STEP_PREFIX + record.key},
            "d": {"S": _json(data)},
            "g": {"N": str(record.generation)},
            "v": {"N": str(record.version)},
        }
    )


def step_from_item(item: Mapping[str, Any]) -> StepRecord:
    data = json.loads(item["d"]["S"])
    data["kind"] = StepKind(data["kind"])
    data["status"] = StepStatus(data["status"])
    if "error" in data:
        data["error"] = ErrorInfo.from_dict(data["error"])
    if "attempts" in data:
        data["attempts"] = [_attempt(a) for a in data["attempts"]]
    return StepRecord(generation=int(item["g"]["N"]), version=int(item["v"]["N"]), **data)


def event_sk(seq: int) -> str:
    return f"{EVENT_PREFIX}{seq:012d}"


def event_item(pk: str, event: EventRecord) -> Item:
    data: dict[str, Any] = {"type": event.type, "payload": event.payload, "ts": event.timestamp}
    if event.event_id is not None:
        data["id"] = event.event_id
    if event.payload_ref is not None:
        data["ref"] = event.payload_ref
    return checked({"pk": {"S": pk}, "sk": {"S": event_sk(event.seq)}, "d": {"S": _json(data)}})


def event_from_item(item: Mapping[str, Any]) -> EventRecord:
    data = json.loads(item["d"]["S"])
    return EventRecord(
        seq=int(item["sk"]["S"][len(EVENT_PREFIX) :]),
        type=data["type"],
        payload=data["payload"],
        timestamp=data["ts"],
        event_id=data.get("id"),
        payload_ref=data.get("ref"),
    )
