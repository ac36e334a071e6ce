"""The journal table: keys, indexes and item kinds.

Items of partition `pk = "<workflow>#<id>"`:
- `sk = "meta"`: status, params, output, lease, inbox counter, timestamps (short names);
  also `wf`/`gs`, the keys of the `by-workflow` GSI (newest first), `dp`/`du`, the keys of
  the sparse `by-due` GSI (set while something is pending), and `wt`, the string set of
  instances waiting for this one to end.
- `sk = "s#<name>#<occurrence>"`: a step record packed in one JSON attribute `d`, plus its
  generation `g` and version `v` for conditions.
- `sk = "e#<seq>"`: an inbox event; `sk = "eid#<event id>"`: dedupe marker of an event id.
  Meta items of capped workflows also have `qw` (the workflow, while queued for a slot:
  the key of the sparse `by-queue` GSI, oldest first by `gs`) and `sl` (holds a slot).

One item per capped workflow (`Workflow(concurrency=N)`), in a partition of its own:
`pk = "<workflow>"` (no `#`: no instance partition has that key), `sk = "slots"`, with
`h`, the string set of the ids of the instances holding a slot.
"""

from __future__ import annotations

from typing import Any

GSI_NAME = "by-workflow"
DUE_GSI_NAME = "by-due"
QUEUE_GSI_NAME = "by-queue"
SLOTS_SK = "slots"
DUE_SHARDS = 8
"""The sparse due index is spread over this many partition keys (`dp = due#<n>`)."""
META_SK = "meta"
STEP_PREFIX = "s#"
EVENT_PREFIX = "e#"
EVENT_ID_PREFIX = "eid#"


def table_definition(table_name: str) -> dict[str, Any]:
    """`create_table` arguments of the journal table (the local cloud, tests; the CDK
    construct declares the same keys and indexes)."""
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
            {"AttributeName": "qw", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            _index(GSI_NAME, "wf", "gs"),
            _index(DUE_GSI_NAME, "dp", "du", ["wf", "id", "ca", "st", "g", "ep", "fa", "wt"]),
            _index(QUEUE_GSI_NAME, "qw", "gs", ["wf", "id", "ca", "st", "g", "ep"]),
        ],
    }


def _index(
    name: str, hash_key: str, range_key: str, include: list[str] | None = None
) -> dict[str, Any]:
    """A GSI's definition: all attributes projected, or the keys and `include`."""
    projection: dict[str, Any] = {"ProjectionType": "ALL"}
    if include is not None:
        projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": include}
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": projection,
    }
