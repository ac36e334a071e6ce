"""List cursors: opaque to clients, bound to the listing (workflow and status filter)
that handed them out. Every journal encodes its position in the same envelope."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from lambda_workflows.errors import ValidationError
from lambda_workflows.journal.records import InstanceStatus


def _listing(workflow: str, status: InstanceStatus | None) -> str:
    return workflow if status is None else f"{workflow}?status={status}"


def encode_cursor(workflow: str, status: InstanceStatus | None, after: Any) -> str:
    """The cursor of a listing, continuing after `after` (a JSON value)."""
    envelope = {"listing": _listing(workflow, status), "after": after}
    return base64.urlsafe_b64encode(json.dumps(envelope).encode()).decode()


def decode_cursor(cursor: str, workflow: str, status: InstanceStatus | None) -> Any:
    """Where `cursor` continues, if it came from this listing; `ValidationError` if it is
    not a cursor or belongs to another listing. The caller checks the position's shape."""
    try:
        envelope = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, RecursionError):
        raise ValidationError("invalid cursor") from None
    if not isinstance(envelope, dict) or set(envelope) != {"listing", "after"}:
        raise ValidationError("invalid cursor")
    if envelope["listing"] != _listing(workflow, status):
        raise ValidationError(
            "invalid cursor: it belongs to another listing (same workflow and status filter needed)"
        )
    return envelope["after"]
