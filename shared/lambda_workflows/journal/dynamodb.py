"""The DynamoDB journal: one table, one partition per instance, one GSI for listings.

Items of partition `pk = "<workflow>#<id>"`:
- `sk = "meta"`: status, params, output, lease, inbox counter, timestamps (short names);
  also `wf`/`gs`, the keys of the `by-workflow` GSI (newest first), and `wt`, the string
  set of instances waiting for this one to end.
- `sk = "s#<name>#<occurrence>"`: a step record packed in one JSON attribute `d`, plus its
  generation `g` and version `v` for conditions.
- `sk = "e#<seq>"`: an inbox event; `sk = "eid#<event id>"`: dedupe marker of an event id.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflows.journal.base import (
    META_FIELDS,
    ConditionFailedError,
    InstanceExistsError,
    InstancePage,
    MetaCondition,
)
from lambda_workflows.journal.records import (
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Snapshot,
    StepKind,
    StepRecord,
    StepStatus,
)

GSI_NAME = "by-workflow"
DUE_GSI_NAME = "by-due"
DUE_SHARDS = 8
"""The sparse due index is spread over this many partition keys (`dp = due#<n>`)."""
META_SK = "meta"
STEP_PREFIX = "s#"
EVENT_PREFIX = "e#"
EVENT_ID_PREFIX = "eid#"

# meta field -> (attribute, type): "S" string, "N" number, "J" JSON in a string
_META_ATTRS: dict[str, tuple[str, str]] = {
    "status": ("st", "S"),
    "params": ("p", "J"),
    "generation": ("g", "N"),
    "inbox": ("ib", "N"),
    "started_at": ("sa", "N"),
    "finished_at": ("fa", "N"),
    "output": ("o", "J"),
    "output_ref": ("oref", "S"),
    "error": ("err", "J"),
    "lease_owner": ("lo", "S"),
    "lease_until": ("lu", "N"),
    "due_at": ("du", "N"),
}
assert set(_META_ATTRS) == META_FIELDS


def partition_key(workflow: str, instance_id: str) -> str:
    return f"{workflow}#{instance_id}"


def _due_shard(pk: str) -> str:
    return f"due#{zlib.crc32(pk.encode()) % DUE_SHARDS}"


def _encode(kind: str, value: Any) -> dict[str, str]:
    if kind == "S":
        return {"S": str(value)}
    if kind == "N":
        return {"N": str(int(value))}
    return {"S": json.dumps(value, separators=(",", ":"))}


def _decode(kind: str, attr: Mapping[str, str]) -> Any:
    if kind == "S":
        return attr["S"]
    if kind == "N":
        return int(attr["N"])
    return json.loads(attr["S"])


def _meta_item(meta: InstanceMeta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": partition_key(meta.workflow, meta.instance_id)},
        "sk": {"S": META_SK},
        "wf": {"S": meta.workflow},
        "id": {"S": meta.instance_id},
        "ca": {"N": str(meta.created_at)},
        "gs": {"S": f"{meta.created_at:015d}#{meta.instance_id}"},
    }
    for name, (attr, kind) in _META_ATTRS.items():
        value = getattr(meta, name)
        if value is not None:
            item[attr] = _encode(kind, value)
    if meta.due_at is not None:
        item["dp"] = {"S": _due_shard(item["pk"]["S"])}
    return item


def _meta_from_item(item: Mapping[str, Any]) -> InstanceMeta:
    fields = {
        name: _decode(kind, item[attr])
        for name, (attr, kind) in _META_ATTRS.items()
        if attr in item
    }
    fields["status"] = InstanceStatus(fields["status"])
    fields.setdefault("params", None)
    if "wt" in item:
        fields["watchers"] = sorted(item["wt"]["SS"])
    return InstanceMeta(
        workflow=item["wf"]["S"],
        instance_id=item["id"]["S"],
        created_at=int(item["ca"]["N"]),
        **fields,
    )


def _step_item(pk: str, record: StepRecord) -> dict[str, Any]:
    data = asdict(record)
    for name in ("generation", "version"):
        data.pop(name)
    return {
        "pk": {"S": pk},
        "sk": {"S": STEP_PREFIX + record.key},
        "d": {"S": json.dumps(data, separators=(",", ":"))},
        "g": {"N": str(record.generation)},
        "v": {"N": str(record.version)},
    }


def _step_from_item(item: Mapping[str, Any]) -> StepRecord:
    data = json.loads(item["d"]["S"])
    data["kind"] = StepKind(data["kind"])
    data["status"] = StepStatus(data["status"])
    return StepRecord(generation=int(item["g"]["N"]), version=int(item["v"]["N"]), **data)


def _event_from_item(item: Mapping[str, Any]) -> EventRecord:
    data = json.loads(item["d"]["S"])
    return EventRecord(
        seq=int(item["sk"]["S"][len(EVENT_PREFIX) :]),
        type=data["type"],
        payload=data["payload"],
        timestamp=data["ts"],
        event_id=data.get("id"),
    )


def _status_in(statuses: frozenset[InstanceStatus], prefix: str) -> tuple[str, dict[str, Any]]:
    """`st IN (...)` over `statuses`, and its expression values (named `:<prefix><n>`)."""
    values = {f":{prefix}{i}": {"S": str(s)} for i, s in enumerate(sorted(statuses))}
    return f"st IN ({', '.join(values)})", values


def _meta_condition_failed(exc: ClientError) -> ConditionFailedError | None:
    """The `ConditionFailedError` (with the stored meta) a failed meta update means."""
    if not _is_condition_failure(exc):
        return None
    old = exc.response.get("Item")
    return ConditionFailedError(_meta_from_item(old) if old else None)


def _is_condition_failure(exc: ClientError) -> bool:
    code: str | None = exc.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


class DynamoDBJournal:
    """Journal on one DynamoDB table (see the module docstring for the item layout)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def create_instances(self, metas: list[InstanceMeta]) -> None:
        if len(metas) == 1:
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item=_meta_item(metas[0]),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if _is_condition_failure(exc):
                    raise InstanceExistsError([metas[0].instance_id]) from None
                raise
            return
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _meta_item(meta),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for meta in metas
        ]
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            taken = [
                meta.instance_id
                for meta, reason in zip(metas, reasons, strict=False)
                if reason.get("Code") == "ConditionalCheckFailed"
            ]
            raise InstanceExistsError(taken) from None

    def get_meta(self, workflow: str, instance_id: str) -> InstanceMeta | None:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": partition_key(workflow, instance_id)}, "sk": {"S": META_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _meta_from_item(item) if item else None

    def load(self, workflow: str, instance_id: str) -> Snapshot | None:
        meta: InstanceMeta | None = None
        steps: list[StepRecord] = []
        events: list[EventRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition_key(workflow, instance_id)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                sk = item["sk"]["S"]
                if sk == META_SK:
                    meta = _meta_from_item(item)
                elif sk.startswith(STEP_PREFIX):
                    steps.append(_step_from_item(item))
                elif sk.startswith(EVENT_PREFIX):
                    events.append(_event_from_item(item))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if meta is None:
            return None
        current = {r.key: r for r in steps if r.generation == meta.generation}
        return Snapshot(meta, current, sorted(events, key=lambda e: e.seq))

    def update_meta(
        self,
        workflow: str,
        instance_id: str,
        changes: Mapping[str, Any],
        condition: MetaCondition,
        set_if_missing: Mapping[str, Any] | None = None,
        return_new: bool = False,
    ) -> InstanceMeta | None:
        sets: list[str] = []
        removes: list[str] = []
        values: dict[str, Any] = {}
        for name, value in changes.items():
            attr, kind = _META_ATTRS[name]
            if value is None:
                removes.append(attr)
            else:
                sets.append(f"{attr} = :{attr}")
                values[f":{attr}"] = _encode(kind, value)
        if "due_at" in changes:
            if changes["due_at"] is None:
                removes.append("dp")
            else:
                sets.append("dp = :dp")
                values[":dp"] = {"S": _due_shard(partition_key(workflow, instance_id))}
        for name, value in (set_if_missing or {}).items():
            attr, kind = _META_ATTRS[name]
            sets.append(f"{attr} = if_not_exists({attr}, :{attr})")
            values[f":{attr}"] = _encode(kind, value)
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        clauses = ["attribute_exists(pk)"]
        if condition.status_in is not None:
            clause, statuses = _status_in(condition.status_in, "cst")
            clauses.append(clause)
            values.update(statuses)
        if condition.generation is not None:
            values[":cg"] = {"N": str(condition.generation)}
            clauses.append("g = :cg")
        if condition.lease_owner is not None:
            values[":clo"] = {"S": condition.lease_owner}
            clauses.append("lo = :clo")
        if condition.lease_free_at is not None:
            values[":clf"] = {"N": str(condition.lease_free_at)}
            clauses.append("(attribute_not_exists(lo) OR lu < :clf)")
        if condition.inbox is not None:
            values[":cib"] = {"N": str(condition.inbox)}
            clauses.append("ib = :cib")
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": partition_key(workflow, instance_id)}, "sk": {"S": META_SK}},
            "UpdateExpression": expression,
            "ConditionExpression": " AND ".join(clauses),
            "ReturnValues": "ALL_NEW" if return_new else "NONE",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            response = self._ddb.update_item(**kwargs)
        except ClientError as exc:
            failed = _meta_condition_failed(exc)
            if failed is None:
                raise
            raise failed from None
        return _meta_from_item(response["Attributes"]) if return_new else None

    def put_step(
        self, workflow: str, instance_id: str, record: StepRecord, expected_version: int | None
    ) -> None:
        pk = partition_key(workflow, instance_id)
        values: dict[str, Any] = {":g": {"N": str(record.generation)}}
        if expected_version is None:
            condition = "attribute_not_exists(pk) OR g < :g"
        else:
            condition = "g = :g AND v = :v"
            values[":v"] = {"N": str(expected_version)}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=_step_item(pk, record),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                old = exc.response.get("Item")
                raise ConditionFailedError(_step_from_item(old) if old else None) from None
            raise

    def get_step(self, workflow: str, instance_id: str, key: str) -> StepRecord | None:
        response = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": partition_key(workflow, instance_id)}, "sk": {"S": STEP_PREFIX + key}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _step_from_item(item) if item else None

    def append_event(
        self,
        workflow: str,
        instance_id: str,
        event_type: str,
        payload: Any,
        timestamp: int,
        event_id: str | None,
        open_statuses: frozenset[InstanceStatus],
    ) -> tuple[EventRecord, bool]:
        pk = partition_key(workflow, instance_id)
        while True:
            meta = self.get_meta(workflow, instance_id)
            if meta is None or meta.status not in open_statuses:
                raise ConditionFailedError(meta)
            seq = meta.inbox + 1
            event = EventRecord(seq, event_type, payload, timestamp, event_id)
            data = {"type": event_type, "payload": payload, "ts": timestamp, "id": event_id}
            status_clause, status_values = _status_in(open_statuses, "s")
            items: list[dict[str, Any]] = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": pk}, "sk": {"S": META_SK}},
                        "UpdateExpression": "SET ib = :next",
                        "ConditionExpression": f"ib = :seen AND {status_clause}",
                        "ExpressionAttributeValues": {
                            ":next": {"N": str(seq)},
                            ":seen": {"N": str(meta.inbox)},
                            **status_values,
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": pk},
                            "sk": {"S": f"{EVENT_PREFIX}{seq:012d}"},
                            "d": {"S": json.dumps(data, separators=(",", ":"))},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
            if event_id is not None:
                items.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": {"S": pk},
                                "sk": {"S": EVENT_ID_PREFIX + event_id},
                                "n": {"N": str(seq)},
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
            try:
                self._ddb.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                    return self._existing_event(pk, event_id), False
                continue
            return event, True

    def _existing_event(self, pk: str, event_id: str | None) -> EventRecord:
        marker = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": f"{EVENT_ID_PREFIX}{event_id}"}},
            ConsistentRead=True,
        )["Item"]
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": f"{EVENT_PREFIX}{int(marker['n']['N']):012d}"}},
            ConsistentRead=True,
        )["Item"]
        return _event_from_item(item)

    def add_watcher(
        self,
        workflow: str,
        instance_id: str,
        watcher: str,
        open_statuses: frozenset[InstanceStatus],
    ) -> None:
        clause, statuses = _status_in(open_statuses, "s")
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition_key(workflow, instance_id)}, "sk": {"S": META_SK}},
                UpdateExpression="ADD wt :w",
                ConditionExpression=f"attribute_exists(pk) AND {clause}",
                ExpressionAttributeValues={":w": {"SS": [watcher]}, **statuses},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            failed = _meta_condition_failed(exc)
            if failed is None:
                raise
            raise failed from None

    def settle_watchers(
        self, workflow: str, instance_id: str, watchers: Iterable[str], generation: int
    ) -> None:
        gone = sorted(set(watchers))
        values: dict[str, Any] = {":g": {"N": str(generation)}}
        expression = "REMOVE du, dp"
        if gone:
            expression += " DELETE wt :w"
            values[":w"] = {"SS": gone}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": partition_key(workflow, instance_id)}, "sk": {"S": META_SK}},
                UpdateExpression=expression,
                ConditionExpression="g = :g",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def replace_steps(
        self,
        workflow: str,
        instance_id: str,
        keep: Iterable[StepRecord],
        delete_steps: Iterable[str],
        delete_events: Iterable[int],
    ) -> None:
        pk = partition_key(workflow, instance_id)
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": _step_item(pk, record)}} for record in keep
        ]
        requests += [
            {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": STEP_PREFIX + key}}}}
            for key in delete_steps
        ]
        requests += [
            {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": f"{EVENT_PREFIX}{seq:012d}"}}}}
            for seq in delete_events
        ]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[start : start + 25]}
            while pending:
                response = self._ddb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    def list_due(self, before_ms: int, limit: int = 100) -> list[InstanceMeta]:
        found: list[InstanceMeta] = []
        for shard in range(DUE_SHARDS):
            page = self._ddb.query(
                TableName=self._table,
                IndexName=DUE_GSI_NAME,
                KeyConditionExpression="dp = :dp AND du < :before",
                ExpressionAttributeValues={
                    ":dp": {"S": f"due#{shard}"},
                    ":before": {"N": str(before_ms)},
                },
                Limit=limit,
            )
            found += [_meta_from_item(item) for item in page.get("Items", [])]
        return sorted(found, key=lambda m: m.due_at or 0)[:limit]

    def list_instances(
        self,
        workflow: str,
        status: InstanceStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> InstancePage:
        found: list[InstanceMeta] = []
        start_key = _decode_cursor(cursor)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI_NAME,
            "KeyConditionExpression": "wf = :wf",
            "ExpressionAttributeValues": {":wf": {"S": workflow}},
            "ScanIndexForward": False,
        }
        if status is not None:
            kwargs["FilterExpression"] = "st = :st"
            kwargs["ExpressionAttributeValues"][":st"] = {"S": str(status)}
        while True:
            kwargs["Limit"] = limit - len(found)
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            page = self._ddb.query(**kwargs)
            found += [_meta_from_item(item) for item in page.get("Items", [])]
            start_key = page.get("LastEvaluatedKey")
            if not start_key or len(found) >= limit:
                break
        return InstancePage(found, _encode_cursor(start_key) if start_key else None)


def _encode_cursor(key: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    from lambda_workflows.errors import ValidationError

    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise ValidationError("invalid cursor") from None
    if not isinstance(decoded, dict):
        raise ValidationError("invalid cursor")
    return decoded


def table_definition(table_name: str) -> dict[str, Any]:
    """`create_table` arguments of the journal table (used by the local cloud and tests)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "wf", "AttributeType": "S"},
            {"AttributeName": "gs", "AttributeType": "S"},
            {"AttributeName": "dp", "AttributeType": "S"},
            {"AttributeName": "du", "AttributeType": "N"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI_NAME,
                "KeySchema": [
                    {"AttributeName": "wf", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": DUE_GSI_NAME,
                "KeySchema": [
                    {"AttributeName": "dp", "KeyType": "HASH"},
                    {"AttributeName": "du", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": ["wf", "id", "ca", "st", "g"],
                },
            },
        ],
    }
