"""The journal on one DynamoDB table (item layout: see `schema`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflows.aws.dynamodb.items import (
    HOLDS_SLOT,
    META_ATTRS,
    due_shard,
    encode_value,
    event_from_item,
    event_item,
    event_sk,
    item_size,
    meta_from_item,
    meta_item,
    partition_key,
    step_from_item,
    step_item,
)
from lambda_workflows.aws.dynamodb.schema import (
    DUE_GSI_NAME,
    DUE_SHARDS,
    EVENT_ID_PREFIX,
    EVENT_PREFIX,
    GSI_NAME,
    META_SK,
    QUEUE_GSI_NAME,
    SLOTS_SK,
    STEP_PREFIX,
)
from lambda_workflows.errors import (
    InstanceExistsError,
    ItemTooLargeError,
    MetaConditionFailedError,
    SlotsFullError,
    StepConditionFailedError,
    ValidationError,
)
from lambda_workflows.journal.base import (
    MAX_ITEM_BYTES,
    MAX_WATCHERS,
    META_FIELDS,
    InstancePage,
    MetaCondition,
    NewEvent,
    SlotChange,
    SlotTake,
)
from lambda_workflows.journal.cursors import decode_cursor, encode_cursor
from lambda_workflows.journal.records import (
    FINISHED,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Snapshot,
    StepRecord,
)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_condition_failure(exc: ClientError) -> bool:
    return _error_code(exc) == "ConditionalCheckFailedException"


def _status_in(statuses: frozenset[InstanceStatus], prefix: str) -> tuple[str, dict[str, Any]]:
    """`st IN (...)` over `statuses`, and its expression values (named `:<prefix><n>`)."""
    values = {f":{prefix}{i}": {"S": str(s)} for i, s in enumerate(sorted(statuses))}
    return f"st IN ({', '.join(values)})", values


def _meta_failure(exc: ClientError) -> Exception:
    """What a failed meta write means: a lost condition (with the stored meta), an item
    over the size limit, or the error itself."""
    if _is_condition_failure(exc):
        old = exc.response.get("Item")
        return MetaConditionFailedError(meta_from_item(old) if old else None)
    message = str(exc.response.get("Error", {}).get("Message", ""))
    if _error_code(exc) == "ValidationException" and "maximum allowed size" in message:
        return ItemTooLargeError(message)
    failure: Exception = exc
    return failure


def _condition(condition: MetaCondition, values: dict[str, Any]) -> str:
    """The ConditionExpression of a `MetaCondition` (its values are added to `values`)."""
    clauses = ["attribute_exists(pk)"]
    if condition.status_in is not None:
        clause, statuses = _status_in(condition.status_in, "cst")
        clauses.append(clause)
        values.update(statuses)
    for attr, wanted in (
        ("g", condition.generation),
        ("ep", condition.epoch),
        ("ib", condition.inbox),
    ):
        if wanted is not None:
            values[f":c{attr}"] = {"N": str(wanted)}
            clauses.append(f"{attr} = :c{attr}")
    if condition.lease_owner is not None:
        values[":clo"] = {"S": condition.lease_owner}
        clauses.append("lo = :clo")
    if condition.lease_free_at is not None:
        values[":clf"] = {"N": str(condition.lease_free_at)}
        clauses.append("(attribute_not_exists(lo) OR attribute_not_exists(lu) OR lu < :clf)")
    if condition.terminating is not None:
        values[":ctr"] = {"N": "0"}
        clauses.append(
            "(tr <> :ctr)" if condition.terminating else "(attribute_not_exists(tr) OR tr = :ctr)"
        )
    if condition.holds_slot is not None:
        exists = "attribute_exists" if condition.holds_slot else "attribute_not_exists"
        clauses.append(f"{exists}({HOLDS_SLOT})")
    return " AND ".join(clauses)


TRANSACTION_TRIES = 3
"""Tries of a slot transaction that DynamoDB cancels for a conflicting concurrent write
(another instance's transaction on the same slot item)."""


class DynamoDBJournal:
    """Journal on one DynamoDB table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def create_instances(self, metas: list[InstanceMeta]) -> None:
        items = [meta_item(meta) for meta in metas]
        if len(items) == 1:
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item=items[0],
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if _is_condition_failure(exc):
                    raise InstanceExistsError([metas[0].instance_id]) from None
                raise
            return
        puts = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for item in items
        ]
        try:
            self._ddb.transact_write_items(TransactItems=puts)
        except ClientError as exc:
            if _error_code(exc) != "TransactionCanceledException":
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
            Key=self._key(partition_key(workflow, instance_id), META_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return meta_from_item(item) if item else None

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
                    meta = meta_from_item(item)
                elif sk.startswith(STEP_PREFIX):
                    steps.append(step_from_item(item))
                elif sk.startswith(EVENT_PREFIX):
                    events.append(event_from_item(item))
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
        return_old: bool = False,
        slot: SlotChange | None = None,
    ) -> InstanceMeta | None:
        if return_new and return_old:
            raise ValueError("return_new or return_old, not both")
        if slot is not None and return_old:
            raise ValueError("return_old cannot go with a slot change")
        unknown = (set(changes) | set(set_if_missing or {})) - META_FIELDS
        if unknown:
            raise ValueError(f"unknown meta fields {sorted(unknown)}")
        pk = partition_key(workflow, instance_id)
        sets: list[str] = []
        removes: list[str] = []
        values: dict[str, Any] = {}
        for name, value in changes.items():
            attr, kind = META_ATTRS[name]
            if value is None:
                removes.append(attr)
            else:
                sets.append(f"{attr} = :{attr}")
                values[f":{attr}"] = encode_value(kind, value)
        if "due_at" in changes:
            if changes["due_at"] is None:
                removes.append("dp")
            else:
                sets.append("dp = :dp")
                values[":dp"] = {"S": due_shard(pk)}
        for name, value in (set_if_missing or {}).items():
            attr, kind = META_ATTRS[name]
            sets.append(f"{attr} = if_not_exists({attr}, :{attr})")
            values[f":{attr}"] = encode_value(kind, value)
            if name == "due_at":
                sets.append("dp = if_not_exists(dp, :dp)")
                values[":dp"] = {"S": due_shard(pk)}
        if isinstance(slot, SlotTake):
            sets.append(f"{HOLDS_SLOT} = :{HOLDS_SLOT}")
            values[f":{HOLDS_SLOT}"] = {"BOOL": True}
        elif slot is not None:
            removes.append(HOLDS_SLOT)
        written = item_size(values)
        if written > MAX_ITEM_BYTES:  # the update's values alone: refuse before sending
            raise ItemTooLargeError(f"a meta update of {written} bytes is over {MAX_ITEM_BYTES}")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(pk, META_SK),
            "UpdateExpression": expression,
            "ConditionExpression": _condition(condition, values),
            "ReturnValues": "ALL_NEW" if return_new else "ALL_OLD" if return_old else "NONE",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        if slot is not None:
            del kwargs["ReturnValues"]
            self._transact_with_slot(workflow, instance_id, kwargs, slot)
            return self.get_meta(workflow, instance_id) if return_new else None
        try:
            response = self._ddb.update_item(**kwargs)
        except ClientError as exc:
            raise _meta_failure(exc) from None
        return meta_from_item(response["Attributes"]) if return_new or return_old else None

    def _transact_with_slot(
        self, workflow: str, instance_id: str, meta_update: dict[str, Any], slot: SlotChange
    ) -> None:
        """The meta update and the slot change in one transaction."""
        slot_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(workflow, SLOTS_SK),
            "ExpressionAttributeValues": {":me": {"SS": [instance_id]}},
        }
        if isinstance(slot, SlotTake):
            slot_update["UpdateExpression"] = "ADD h :me"
            slot_update["ConditionExpression"] = (
                "attribute_not_exists(h) OR size(h) < :limit OR contains(h, :one)"
            )
            slot_update["ExpressionAttributeValues"] |= {
                ":limit": {"N": str(slot.limit)},
                ":one": {"S": instance_id},
            }
        else:
            slot_update["UpdateExpression"] = "DELETE h :me"
        items = [{"Update": meta_update}, {"Update": slot_update}]
        for attempt in range(TRANSACTION_TRIES):
            try:
                self._ddb.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if _error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons", [])
                codes = [r.get("Code") for r in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    old = reasons[0].get("Item")
                    raise MetaConditionFailedError(meta_from_item(old) if old else None) from None
                if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    raise SlotsFullError(workflow) from None
                messages = " ".join(str(r.get("Message", "")) for r in reasons)
                if "maximum allowed size" in messages:
                    raise ItemTooLargeError(messages) from None
                if "TransactionConflict" not in codes or attempt == TRANSACTION_TRIES - 1:
                    raise

    def slot_holders(self, workflow: str) -> frozenset[str]:
        item = self._ddb.get_item(
            TableName=self._table, Key=self._key(workflow, SLOTS_SK), ConsistentRead=True
        ).get("Item")
        return frozenset(item["h"]["SS"]) if item and "h" in item else frozenset()

    def queued(self, workflow: str, limit: int) -> list[InstanceMeta]:
        page = self._ddb.query(
            TableName=self._table,
            IndexName=QUEUE_GSI_NAME,
            KeyConditionExpression="qw = :qw",
            ExpressionAttributeValues={":qw": {"S": workflow}},
            ScanIndexForward=True,
            Limit=limit,
        )
        return [meta_from_item(item) for item in page.get("Items", [])]

    def put_step(
        self, workflow: str, instance_id: str, record: StepRecord, expected_version: int | None
    ) -> None:
        item = step_item(partition_key(workflow, instance_id), record)
        values: dict[str, Any] = {":g": {"N": str(record.generation)}}
        if expected_version is None and record.generation == 0:
            condition = "attribute_not_exists(pk)"  # no generation is older than 0
            values = {}
        elif expected_version is None:
            condition = "attribute_not_exists(pk) OR g < :g"
        else:
            condition = "g = :g AND v = :v"
            values[":v"] = {"N": str(expected_version)}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=condition,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                old = exc.response.get("Item")
                raise StepConditionFailedError(step_from_item(old) if old else None) from None
            raise

    def append_event(
        self,
        workflow: str,
        instance_id: str,
        event: NewEvent,
        open_statuses: frozenset[InstanceStatus],
    ) -> tuple[EventRecord, bool]:
        pk = partition_key(workflow, instance_id)
        while True:
            meta = self.get_meta(workflow, instance_id)
            if meta is None or meta.status not in open_statuses:
                raise MetaConditionFailedError(meta)
            stored = EventRecord(
                meta.inbox + 1,
                event.type,
                event.payload,
                event.timestamp,
                event.event_id,
                event.payload_ref,
            )
            status_clause, status_values = _status_in(open_statuses, "s")
            items: list[dict[str, Any]] = [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(pk, META_SK),
                        "UpdateExpression": "SET ib = :next",
                        "ConditionExpression": f"ib = :seen AND {status_clause}",
                        "ExpressionAttributeValues": {
                            ":next": {"N": str(stored.seq)},
                            ":seen": {"N": str(meta.inbox)},
                            **status_values,
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": event_item(pk, stored),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
            if event.event_id is not None:
                marker = {**self._key(pk, EVENT_ID_PREFIX + event.event_id)}
                marker["n"] = {"N": str(stored.seq)}
                items.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": marker,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
            try:
                self._ddb.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if _error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                    existing = self._event_by_id(pk, event.event_id)
                    if existing is not None:
                        return existing, False
                continue
            return stored, True

    def find_event(self, workflow: str, instance_id: str, event_id: str) -> EventRecord | None:
        return self._event_by_id(partition_key(workflow, instance_id), event_id)

    def _event_by_id(self, pk: str, event_id: str | None) -> EventRecord | None:
        """The event an id marker points to; a marker whose event is gone is removed."""
        marker_key = self._key(pk, f"{EVENT_ID_PREFIX}{event_id}")
        marker = self._ddb.get_item(TableName=self._table, Key=marker_key, ConsistentRead=True).get(
            "Item"
        )
        if marker is None:
            return None
        item = self._ddb.get_item(
            TableName=self._table,
            Key=self._key(pk, event_sk(int(marker["n"]["N"]))),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            self._ddb.delete_item(TableName=self._table, Key=marker_key)
            return None
        return event_from_item(item)

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
                Key=self._key(partition_key(workflow, instance_id), META_SK),
                UpdateExpression="ADD wt :w",
                ConditionExpression=(
                    f"attribute_exists(pk) AND {clause} AND (attribute_not_exists(wt) "
                    "OR size(wt) < :cap OR contains(wt, :one))"
                ),
                ExpressionAttributeValues={
                    ":w": {"SS": [watcher]},
                    ":one": {"S": watcher},
                    ":cap": {"N": str(MAX_WATCHERS)},
                    **statuses,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise _meta_failure(exc) from None

    def settle_watchers(
        self,
        workflow: str,
        instance_id: str,
        watchers: Iterable[str],
        generation: int,
        due_at: int | None = None,
    ) -> None:
        pk = partition_key(workflow, instance_id)
        gone = sorted(set(watchers))
        values: dict[str, Any] = {":g": {"N": str(generation)}}
        expression = "REMOVE du, dp"
        if due_at is not None:
            expression = "SET du = :du, dp = :dp"
            values |= {":du": {"N": str(due_at)}, ":dp": {"S": due_shard(pk)}}
        if gone:
            expression += " DELETE wt :w"
            values[":w"] = {"SS": gone}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(pk, META_SK),
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
        delete_events: Iterable[EventRecord],
    ) -> None:
        pk = partition_key(workflow, instance_id)
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": step_item(pk, record)}} for record in keep
        ]
        requests += [
            {"DeleteRequest": {"Key": self._key(pk, STEP_PREFIX + key)}} for key in delete_steps
        ]
        for event in delete_events:
            requests.append({"DeleteRequest": {"Key": self._key(pk, event_sk(event.seq))}})
            if event.event_id is not None:
                marker = self._key(pk, EVENT_ID_PREFIX + event.event_id)
                requests.append({"DeleteRequest": {"Key": marker}})
        self._batch_write(requests)

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
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
            found += [meta_from_item(item) for item in page.get("Items", [])]
        return sorted(found, key=lambda m: m.due_at or 0)[:limit]

    def list_instances(
        self,
        workflow: str,
        status: InstanceStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> InstancePage:
        found: list[InstanceMeta] = []
        start_key = _decode_cursor(cursor, workflow, status) if cursor else None
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
            found += [meta_from_item(item) for item in page.get("Items", [])]
            start_key = page.get("LastEvaluatedKey")
            if not start_key or len(found) >= limit:
                break
        next_cursor = encode_cursor(workflow, status, start_key) if start_key else None
        return InstancePage(found, next_cursor)

    def count_instances(self, workflow: str) -> dict[InstanceStatus, int]:
        counts: dict[InstanceStatus, int] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": GSI_NAME,
            "KeyConditionExpression": "wf = :wf",
            "ExpressionAttributeValues": {":wf": {"S": workflow}},
            "ProjectionExpression": "st",
        }
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                status = InstanceStatus(item["st"]["S"])
                counts[status] = counts.get(status, 0) + 1
            if "LastEvaluatedKey" not in page:
                return counts
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_instance(self, workflow: str, instance_id: str) -> None:
        pk = partition_key(workflow, instance_id)
        meta = self.get_meta(workflow, instance_id)
        if meta is not None and meta.status not in FINISHED:
            raise MetaConditionFailedError(meta)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        keys: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**kwargs)
            keys += [k for k in page.get("Items", []) if k["sk"]["S"] != META_SK]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
        if meta is None:
            raise MetaConditionFailedError(None)
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._key(pk, META_SK),
                ConditionExpression="st IN (:complete, :errored, :terminated)",
                ExpressionAttributeValues={f":{status}": {"S": str(status)} for status in FINISHED},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise _meta_failure(exc) from None


def _decode_cursor(cursor: str, workflow: str, status: InstanceStatus | None) -> dict[str, Any]:
    """The index key a cursor continues after: exactly the keys DynamoDB handed out, of
    this workflow's meta items (a forged key would be a DynamoDB error, a 500)."""
    key = decode_cursor(cursor, workflow, status)
    if (
        not isinstance(key, dict)
        or set(key) != _CURSOR_KEYS
        or not all(
            isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) and v["S"]
            for v in key.values()
        )
        or key["wf"]["S"] != workflow
        or key["sk"]["S"] != META_SK
        or not _CURSOR_KEY.fullmatch(f"{key['pk']['S']} {key['gs']['S']}")
        or key["pk"]["S"] != f"{workflow}#{key['gs']['S'].partition('#')[2]}"
    ):
        raise ValidationError("invalid cursor")
    return key


_CURSOR_KEYS = frozenset({"pk", "sk", "wf", "gs"})
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_-]"
_CURSOR_KEY = re.compile(rf"{_NAME}{{0,63}}#{_NAME}{{0,99}} \d{{15}}#{_NAME}{{0,99}}")
"""`pk gs` of a meta item: names and ids as `names` allows them, a 15-digit creation time."""
