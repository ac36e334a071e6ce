"""AWS requests per step on the happy path (counts, never times)."""

from __future__ import annotations

import pytest

from benchmarks.step_overhead import engine_run


@pytest.mark.parametrize("n", [1, 50])
def test_one_write_per_completed_step_and_no_per_step_reads(n: int) -> None:
    _, requests = engine_run(n)
    assert requests["dynamodb.PutItem"] == n
    # lease + finish, once per invocation, whatever the number of steps
    assert requests["dynamodb.UpdateItem"] == 2
    assert requests["dynamodb.Query"] == 1
    assert requests["dynamodb.GetItem"] == 0
    assert sum(requests.values()) == n + 3
