"""JSON results: encoding, the size limit, and offloading large values to a blob store."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Protocol

from pydantic import BaseModel

OFFLOAD_BYTES = 350_000
"""Results larger than this go to the blob store; the journal keeps a pointer."""
MAX_OUTPUT_BYTES = 32 * 1024 * 1024
"""Largest step result or instance output."""


class NotJsonError(TypeError):
    """A value that cannot be journaled as JSON."""


class OutputTooLargeError(ValueError):
    """A value over MAX_OUTPUT_BYTES."""


class BlobStore(Protocol):
    """Where large results live (S3 on AWS)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...


class MemoryBlobStore:
    """Blob store in a dict."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._blobs[key] = data

    def get(self, key: str) -> bytes:
        with self._lock:
            return self._blobs[key]


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


def check_json(value: Any, what: str) -> None:
    """Raise `ValidationError` (a 400) unless `value` can be stored as JSON."""
    from lambda_workflows.errors import ValidationError

    try:
        encode(value)
    except NotJsonError as exc:
        raise ValidationError(f"{what} must be JSON: {exc}") from None


class Payloads:
    """Stores a JSON value inline or, when large, in the blob store."""

    def __init__(self, blobs: BlobStore, prefix: str = "lwf-results") -> None:
        self._blobs = blobs
        self._prefix = prefix

    def pack(self, value: Any, *, owner: str) -> tuple[Any, str | None, Any]:
        """Return `(inline, blob key, value)`: the value as JSON round-trips it, stored
        inline (`key` None) or in the blob store (`inline` None)."""
        text = encode(value)
        size = len(text.encode())
        if size > MAX_OUTPUT_BYTES:
            raise OutputTooLargeError(
                f"{size} bytes is over the {MAX_OUTPUT_BYTES}-byte limit; store the data "
                "in a bucket and return a reference"
            )
        decoded = json.loads(text)
        if size <= OFFLOAD_BYTES:
            return decoded, None, decoded
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        key = f"{self._prefix}/{owner}/{digest}.json"
        self._blobs.put(key, text.encode())
        return None, key, decoded

    def unpack(self, inline: Any, ref: str | None) -> Any:
        if ref is None:
            return inline
        return json.loads(self._blobs.get(ref))
