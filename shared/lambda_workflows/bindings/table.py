"""`Table`: a DynamoDB table of plain Python items (numbers come back as int or float)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.errors import ValidationError

BATCH_SIZE = 25
"""DynamoDB's BatchWriteItem limit: `put_many` sends chunks of this many items."""

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value} is not a number DynamoDB can store")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set | frozenset):
        return [_from_dynamo(v) for v in value]
    return value


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items()}
    except (TypeError, ArithmeticError) as exc:
        raise ValidationError(f"not storable in DynamoDB: {exc}") from None


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


class TableBinding:
    """The live object of a `Table` binding."""

    def __init__(
        self, ddb: Any, table: str, partition_key: str, sort_key: str | None = None
    ) -> None:
        self._ddb = ddb
        self.name = table
        self.partition_key = partition_key
        self.sort_key = sort_key

    def _key(self, key: Mapping[str, Any]) -> dict[str, Any]:
        wanted = [self.partition_key] + ([self.sort_key] if self.sort_key else [])
        missing = [k for k in wanted if k not in key]
        if missing:
            raise ValidationError(f"table {self.name!r}: the key needs {missing}")
        return _serialize({k: key[k] for k in wanted})

    def get(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The item with this key (strongly consistent), or None."""
        response = self._ddb.get_item(TableName=self.name, Key=self._key(key), ConsistentRead=True)
        item = response.get("Item")
        return _deserialize(item) if item else None

    def put(self, item: Mapping[str, Any]) -> None:
        """Write one item (replacing any with the same key)."""
        self._key(item)
        self._ddb.put_item(TableName=self.name, Item=_serialize(item))

    def delete(self, key: Mapping[str, Any]) -> None:
        """Delete the item with this key (fine if there is none)."""
        self._ddb.delete_item(TableName=self.name, Key=self._key(key))

    def put_many(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Write items in batches of 25, resending what DynamoDB leaves unprocessed.

        Returns how many items were written.
        """
        requests = []
        for item in items:
            self._key(item)
            requests.append({"PutRequest": {"Item": _serialize(item)}})
        for start in range(0, len(requests), BATCH_SIZE):
            pending: dict[str, Any] = {self.name: requests[start : start + BATCH_SIZE]}
            while pending:
                response = self._ddb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
        return len(requests)

    def query(
        self,
        partition: Any,
        *,
        sort_prefix: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Items of one partition, by sort key (optionally those starting with a prefix)."""
        condition = "#pk = :pk"
        names = {"#pk": self.partition_key}
        values: dict[str, Any] = {":pk": partition}
        if sort_prefix is not None:
            if self.sort_key is None:
                raise ValidationError(f"table {self.name!r} has no sort key")
            condition += " AND begins_with(#sk, :prefix)"
            names["#sk"] = self.sort_key
            values[":prefix"] = sort_prefix
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _serialize(values),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        found: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(found)
            page = self._ddb.query(**kwargs)
            found += [_deserialize(item) for item in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start or (limit is not None and len(found) >= limit):
                return found
            kwargs["ExclusiveStartKey"] = start


@dataclass(frozen=True)
class Table(BindingSpec):
    """A DynamoDB table with a string partition key and an optional string sort key.

    `name` is the table's logical name; the deployment maps it to the physical table.
    """

    name: str
    partition_key: str = "pk"
    sort_key: str | None = "sk"

    def bind(self, name: str, resources: Resources) -> TableBinding:
        return TableBinding(
            resources.client("dynamodb"),
            resources.resource_name(name, self.name),
            self.partition_key,
            self.sort_key,
        )

    def provision_local(self, name: str, resources: Resources, prefix: str) -> str:
        table = f"{prefix}-{self.name}"
        keys = [(self.partition_key, "HASH")] + (
            [(self.sort_key, "RANGE")] if self.sort_key else []
        )
        resources.client("dynamodb").create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
            KeySchema=[{"AttributeName": k, "KeyType": kind} for k, kind in keys],
        )
        return table
