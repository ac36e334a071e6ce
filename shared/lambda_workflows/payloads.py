"""JSON values: encoding, the size limits, and offloading large values to a blob store.

Every journal item stays under DynamoDB's 400 KB, whatever the user sends. Each value
has an inline limit chosen so that its item, with everything else the item holds
(bounded: names, an error message, the attempt log), stays under 350 KB;
a larger value goes to the blob store and the item keeps its key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from lambda_workflows.blobs import BlobStore
from lambda_workflows.errors import NotJsonError, OutputTooLargeError, ValidationError

STEP_INLINE_BYTES = 280_000
"""A step result or event payload up to this stays in its item (the rest of a step record
is bounded: its attempt log and error messages are capped)."""
PARAMS_INLINE_BYTES = 125_000
"""Params up to this stay in the meta item; their output shares what is left of
`META_VALUES_BYTES`."""
META_VALUES_BYTES = 250_000
"""Params and output together inline on the meta item."""
MAX_VALUE_BYTES = 32 * 1024 * 1024
"""Largest step result, output, params or event payload."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects in params and event payloads."""


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise NotJsonError(f"{type(value).__name__} is not JSON serializable")


def encode(value: Any) -> str:
    """Compact JSON text of `value` (pydantic models dumped in JSON mode)."""
    try:
        return json.dumps(value, default=_default, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise NotJsonError(str(exc)) from None


def size_of(value: Any) -> int:
    """Bytes of `value` as stored (compact JSON, UTF-8)."""
    return len(encode(value).encode())


def check_client_value(value: Any, what: str) -> None:
    """`ValidationError` when `value` nests past `MAX_JSON_DEPTH` or holds a string (or
    key) that is not Unicode text (a lone surrogate). Iterative: no depth breaks it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            strings: list[Any] = [item]
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_JSON_DEPTH:
                raise ValidationError(
                    f"{what} nests more than {MAX_JSON_DEPTH} levels of arrays and objects"
                )
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            strings = list(item) if isinstance(item, dict) else []
        else:
            continue
        for text in strings:
            if isinstance(text, str) and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationError(
                        f"{what} holds a lone surrogate (\\u{ord(text[_bad_at(text)]):04x}): "
                        "strings must be Unicode text"
                    ) from None


def _bad_at(text: str) -> int:
    return next(i for i, c in enumerate(text) if 0xD800 <= ord(c) <= 0xDFFF)


def canonical(value: Any) -> str:
    """JSON text of `value` with sorted keys: equal only for values equal as JSON
    (`1`, `1.0` and `true` differ; key order does not matter)."""
    return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))


def to_json_value(value: Any, what: str) -> Any:
    """`value` as JSON round-trips it (models dumped), or `ValidationError` (a 400) when it
    is not JSON, nests past `MAX_JSON_DEPTH`, holds a lone surrogate, or is over
    `MAX_VALUE_BYTES`."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    check_client_value(value, what)
    try:
        text = encode(value)
    except NotJsonError as exc:
        raise ValidationError(f"{what} must be JSON: {exc}") from None
    size = len(text.encode())
    if size > MAX_VALUE_BYTES:
        raise ValidationError(f"{what} is {size} bytes, over the limit of {MAX_VALUE_BYTES}")
    return json.loads(text)


@dataclass(frozen=True)
class Packed:
    """A value ready to store: `inline` in the item, or in the blob store under `ref`."""

    inline: Any
    ref: str | None
    value: Any
    """The value as JSON round-trips it: what replay will return."""
    size: int
    data: bytes | None = field(default=None, repr=False)
    """The bytes to put under `ref` (`Payloads.store` puts them)."""


class Payloads:
    """Stores JSON values inline or, when large, in the blob store."""

    def __init__(self, blobs: BlobStore, prefix: str = "lwf-results") -> None:
        self._blobs = blobs
        self._prefix = prefix

    def prepare(self, value: Any, *, owner: str, inline_limit: int = STEP_INLINE_BYTES) -> Packed:
        """Encode `value` and choose where it goes, storing nothing yet (`store` does).

        Raises `NotJsonError`, or `OutputTooLargeError` over `MAX_VALUE_BYTES`.
        """
        kind = type(value)
        if value is None or kind is bool or (kind is int and -(2**53) < value < 2**53):
            return Packed(value, None, value, len(encode(value)))  # JSON round-trips these
        text = encode(value)
        data = text.encode()
        if len(data) > MAX_VALUE_BYTES:
            raise OutputTooLargeError(
                f"{len(data)} bytes is over the {MAX_VALUE_BYTES}-byte limit; store the data "
                "in a bucket and return a reference"
            )
        decoded = json.loads(text)
        if len(data) <= inline_limit:
            return Packed(decoded, None, decoded, len(data))
        digest = hashlib.sha256(data).hexdigest()[:32]
        key = f"{self._prefix}/{owner}/{digest}.json"
        return Packed(None, key, decoded, len(data), data)

    def store(self, packed: Packed) -> None:
        """Put a prepared value in the blob store, if it goes there."""
        if packed.ref is not None and packed.data is not None:
            self._blobs.put(packed.ref, packed.data)

    def pack(self, value: Any, *, owner: str, inline_limit: int = STEP_INLINE_BYTES) -> Packed:
        """`prepare` and `store` in one go."""
        packed = self.prepare(value, owner=owner, inline_limit=inline_limit)
        self.store(packed)
        return packed

    def forget(self, ref: str) -> None:
        """Delete one stored value (one a failed write does not refer to)."""
        self._blobs.delete_prefix(ref)

    def discard(self, workflow: str, instance_id: str) -> int:
        """Delete every stored value of an instance (params, results, events, output)."""
        return self._blobs.delete_prefix(f"{self._prefix}/{workflow}/{instance_id}/")

    def unpack(self, inline: Any, ref: str | None) -> Any:
        if ref is None:
            return inline
        return json.loads(self._blobs.get(ref))
