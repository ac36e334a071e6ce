"""One contract for the blob store port, run against `MemoryBlobStore` and `S3BlobStore`
(on moto)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from lambda_workflows.aws.s3 import S3BlobStore
from lambda_workflows.blobs import BlobStore, MemoryBlobStore
from lambda_workflows.payloads import Payloads
from moto import mock_aws


@pytest.fixture(params=["memory", "s3"])
def blobs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
        return
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="blobs")
        yield S3BlobStore(s3, "blobs")


def test_a_put_blob_reads_back_byte_for_byte(blobs: BlobStore) -> None:
    """`get` returns exactly what `put` stored; a second `put` replaces it."""
    blobs.put("a/b.json", b'{"x": "\\u00e9"}')
    assert blobs.get("a/b.json") == b'{"x": "\\u00e9"}'
    blobs.put("a/b.json", b"[]")
    assert blobs.get("a/b.json") == b"[]"


def test_a_missing_blob_raises(blobs: BlobStore) -> None:
    """Reading a key never written raises (the engine treats it as a platform failure)."""
    with pytest.raises(Exception):  # noqa: B017, PT011 - KeyError in memory, ClientError on S3
        blobs.get("missing.json")


def test_payloads_offload_large_values_through_the_port(blobs: BlobStore) -> None:
    """A value over the inline limit goes to the store under a content-addressed key and
    unpacks to the same JSON; a small one stays inline."""
    payloads = Payloads(blobs, "prefix")
    small = payloads.pack({"a": 1}, owner="w/i/s#0", inline_limit=100)
    assert (small.inline, small.ref) == ({"a": 1}, None)
    big = payloads.pack(["x" * 200], owner="w/i/s#0", inline_limit=100)
    assert big.inline is None
    assert big.ref is not None
    assert big.ref.startswith("prefix/w/i/s#0/")
    assert payloads.unpack(big.inline, big.ref) == ["x" * 200]
    again = payloads.pack(["x" * 200], owner="w/i/s#0", inline_limit=100)
    assert again.ref == big.ref


def test_delete_prefix_deletes_that_prefix_only(blobs: BlobStore) -> None:
    """An instance's blobs go with it; a neighbour whose id extends the prefix stays."""
    for key in ("r/wf/a/params/1.json", "r/wf/a/s#x#0/2.json", "r/wf/ab/params/3.json"):
        blobs.put(key, b"{}")
    assert blobs.delete_prefix("r/wf/a/") == 2
    assert blobs.get("r/wf/ab/params/3.json") == b"{}"
    with pytest.raises(Exception):  # noqa: B017, PT011 - KeyError in memory, ClientError on S3
        blobs.get("r/wf/a/params/1.json")
    assert blobs.delete_prefix("r/wf/a/") == 0


def test_delete_prefix_pages_past_a_thousand_keys(blobs: BlobStore) -> None:
    """S3 lists and deletes 1,000 keys per call: more than that all go."""
    for n in range(1_005):
        blobs.put(f"p/{n}.json", b"1")
    assert blobs.delete_prefix("p/") == 1_005
    assert blobs.delete_prefix("p/") == 0
