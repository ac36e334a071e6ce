"""Limits on names and ids (Cloudflare's)."""

from __future__ import annotations

import re

from lambda_workflows.errors import ValidationError

MAX_WORKFLOW_NAME = 64
MAX_INSTANCE_ID = 100
MAX_STEP_NAME = 256
MAX_STEP_NAME_BYTES = 1000
"""A step name's journal key (name, occurrence, kind) must fit DynamoDB's 1,024-byte sort
key, so 256 characters of up to 4 bytes each are too many: at most 1,000 bytes in UTF-8."""
MAX_EVENT_TYPE = 100
ID_PATTERN = r"^[a-zA-Z0-9_][a-zA-Z0-9\-_]*$"
"""Workflow names and instance ids (also an event's `event_id`)."""
EVENT_TYPE_PATTERN = r"^[^.\x00-\x1f\x7f-\x9f]+$"
"""Event types: no `.`, no control characters."""
HTTP_EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_:-]+$"
"""Event types sent over HTTP: the characters every route can reach in a URL path (the
Python API takes any `EVENT_TYPE_PATTERN`)."""
STEP_NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"
"""Step names: no control characters."""
_ID = re.compile(ID_PATTERN[1:-1])


def check_workflow_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_WORKFLOW_NAME:
        raise ValidationError(f"workflow name must be 1-{MAX_WORKFLOW_NAME} characters: {name!r}")
    if not _ID.fullmatch(name):
        raise ValidationError(f"workflow name may hold letters, digits, - and _ only: {name!r}")
    return name


def check_instance_id(instance_id: str) -> str:
    if not isinstance(instance_id, str) or not instance_id or len(instance_id) > MAX_INSTANCE_ID:
        raise ValidationError(f"instance id must be 1-{MAX_INSTANCE_ID} characters")
    if not _ID.fullmatch(instance_id):
        raise ValidationError(
            f"instance id {instance_id!r} must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$"
        )
    return instance_id


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_no_control(value: str, what: str) -> str:
    """`value`, or `ValidationError` when it holds a control character."""
    if _CONTROL.search(value):
        raise ValidationError(f"{what} may not contain control characters: {value!r}")
    return value


def check_step_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_STEP_NAME:
        raise ValidationError(f"step name must be a string of 1-{MAX_STEP_NAME} characters")
    check_no_control(name, "a step name")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_STEP_NAME_BYTES:
        raise ValidationError(
            f"step name {name[:20]!r}... is over {MAX_STEP_NAME_BYTES} bytes in UTF-8"
        )
    return name


def check_event_type(event_type: str) -> str:
    if not isinstance(event_type, str) or not event_type or len(event_type) > MAX_EVENT_TYPE:
        raise ValidationError(f"event type must be 1-{MAX_EVENT_TYPE} characters")
    if "." in event_type:
        raise ValidationError(f"event type may not contain '.': {event_type!r}")
    return check_no_control(event_type, "an event type")
