"""The blob store port (large results, params, outputs and event payloads) and its
in-memory implementation. The S3 implementation is `lambda_workflows.aws.s3`."""

from __future__ import annotations

import threading
from typing import Protocol

from lambda_workflows.errors import BlobMissingError


class BlobStore(Protocol):
    """Where values too large for a journal item live (S3 on AWS)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob whose key starts with `prefix`; return how many."""
        ...


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
            if key not in self._blobs:
                raise BlobMissingError(key)
            return self._blobs[key]

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            doomed = [key for key in self._blobs if key.startswith(prefix)]
            for key in doomed:
                del self._blobs[key]
            return len(doomed)
