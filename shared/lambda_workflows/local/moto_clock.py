"""Put moto on the engine's clock (SQS delays and visibility, Scheduler, DynamoDB, S3)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from lambda_workflows.clock import Clock

# Each of these holds its own reference to `utcnow`; moto imports services lazily, so
# they are imported here before the patch (a module imported under it keeps the fake).
_MODULES = (
    "moto.core.utils",
    "moto.core.responses",
    "moto.sqs.models",
    "moto.scheduler.models",
    "moto.dynamodb.models.table",
    "moto.s3.models",
)


@contextmanager
def moto_on_clock(clock: Clock) -> Iterator[None]:
    """Within the block, moto reads the time from `clock`."""

    def utcnow() -> datetime:
        return clock.now().astimezone(UTC).replace(tzinfo=None)

    saved: list[tuple[Any, Any]] = []
    for name in _MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "utcnow"):
            saved.append((module, module.utcnow))
            setattr(module, "utcnow", utcnow)  # noqa: B010 - mypy cannot see moto's attribute
    try:
        yield
    finally:
        for module, original in saved:
            setattr(module, "utcnow", original)  # noqa: B010
