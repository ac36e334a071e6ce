"""`Bucket`: an S3 bucket with the R2 binding's shape (get, put, head, list, delete)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.errors import ValidationError

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class BucketObject:
    """An object's metadata, and its body when it was read with `get`."""

    key: str
    size: int
    etag: str
    uploaded: datetime | None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text."""
        return self._body().decode(encoding)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self._body())

    def _body(self) -> bytes:
        if self.body is None:
            raise ValueError(f"{self.key!r} was read with head(): it has no body; use get()")
        return self.body


@dataclass(frozen=True)
class BucketListing:
    """One page of `list()`: objects (without bodies), and the cursor of the next page."""

    objects: list[BucketObject]
    truncated: bool
    cursor: str | None
    delimited_prefixes: list[str] = field(default_factory=list)


def _encode(value: bytes | str | Any, content_type: str | None) -> tuple[bytes, str]:
    if isinstance(value, bytes):
        return value, content_type or "application/octet-stream"
    if isinstance(value, str):
        return value.encode(), content_type or "text/plain; charset=utf-8"
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"bucket put: a value must be bytes, str or JSON: {exc}") from None
    return text.encode(), content_type or "application/json"


def _unless_missing(call: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """S3's answer, or None when the key does not exist."""
    try:
        return call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise


class BucketBinding:
    """The live object of a `Bucket` binding."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.name = bucket

    def put(
        self,
        key: str,
        value: bytes | str | Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> BucketObject:
        """Store `value` (bytes, text, or any JSON value) under `key`.

        Metadata keys are lowercased, as S3 stores them.
        """
        body, kind = _encode(value, content_type)
        metadata = {k.lower(): v for k, v in (metadata or {}).items()}
        response = self._s3.put_object(
            Bucket=self.name, Key=key, Body=body, ContentType=kind, Metadata=metadata
        )
        return BucketObject(
            key=key,
            size=len(body),
            etag=str(response.get("ETag", "")).strip('"'),
            uploaded=None,
            content_type=kind,
            metadata=metadata,
        )

    def get(self, key: str) -> BucketObject | None:
        """The object with its body, or None if there is none."""
        response = _unless_missing(lambda: self._s3.get_object(Bucket=self.name, Key=key))
        if response is None:
            return None
        return self._object(key, response, response["Body"].read())

    def head(self, key: str) -> BucketObject | None:
        """The object's metadata without its body, or None if there is none."""
        response = _unless_missing(lambda: self._s3.head_object(Bucket=self.name, Key=key))
        return None if response is None else self._object(key, response, None)

    def list(
        self,
        prefix: str = "",
        *,
        limit: int = 1000,
        cursor: str | None = None,
        delimiter: str | None = None,
    ) -> BucketListing:
        """Objects whose key starts with `prefix`, in key order, `limit` at a time."""
        if not 1 <= limit <= 1000:
            raise ValidationError("bucket list: limit must be between 1 and 1000")
        kwargs: dict[str, Any] = {"Bucket": self.name, "Prefix": prefix, "MaxKeys": limit}
        if cursor:
            kwargs["ContinuationToken"] = cursor
        if delimiter:
            kwargs["Delimiter"] = delimiter
        response = self._s3.list_objects_v2(**kwargs)
        objects = [
            BucketObject(
                key=item["Key"],
                size=int(item["Size"]),
                etag=str(item.get("ETag", "")).strip('"'),
                uploaded=item.get("LastModified"),
            )
            for item in response.get("Contents", [])
        ]
        truncated = bool(response.get("IsTruncated"))
        return BucketListing(
            objects=objects,
            truncated=truncated,
            cursor=response.get("NextContinuationToken") if truncated else None,
            delimited_prefixes=[p["Prefix"] for p in response.get("CommonPrefixes", [])],
        )

    def delete(self, keys: str | Iterable[str]) -> None:
        """Delete one key or several (missing keys are fine)."""
        chosen = [keys] if isinstance(keys, str) else list(keys)
        for start in range(0, len(chosen), 1000):
            batch = chosen[start : start + 1000]
            self._s3.delete_objects(
                Bucket=self.name,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )

    def _object(self, key: str, response: Mapping[str, Any], body: bytes | None) -> BucketObject:
        return BucketObject(
            key=key,
            size=int(response.get("ContentLength", len(body or b""))),
            etag=str(response.get("ETag", "")).strip('"'),
            uploaded=response.get("LastModified"),
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata", {})),
            body=body,
        )


@dataclass(frozen=True)
class Bucket(BindingSpec):
    """An S3 bucket. `name` is the bucket's logical name (default: the binding's name);
    the deployment maps it to the physical bucket."""

    name: str | None = None

    def _logical(self, binding: str) -> str:
        return self.name or binding.lower().replace("_", "-")

    def bind(self, name: str, resources: Resources) -> BucketBinding:
        return BucketBinding(
            resources.client("s3"), resources.resource_name(name, self._logical(name))
        )

    def provision_local(self, name: str, resources: Resources, prefix: str) -> str:
        bucket = f"{prefix}-{self._logical(name)}"
        resources.client("s3").create_bucket(Bucket=bucket)
        return bucket
