"""`lwf dev --persist PATH`: the local cloud's state kept in a folder across restarts.

What is kept: every item of every DynamoDB table (the journal, binding tables), every
object of every bucket (stored values, binding buckets) and the clock's time. Pending
wake-ups are not copied from SQS or Scheduler: every instance that waits for something
carries `due_at` in the journal, so after loading, each gets its wake-up again, at its
due time (a sleeping instance still wakes; a queued one starts at once).

The state is written to `PATH/state.json` (atomically: a temporary file, then a rename)
every few seconds while `lwf dev` runs and when it stops.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflows.engine import Engine
from lambda_workflows.errors import MetaConditionFailedError, PersistError
from lambda_workflows.journal.base import MetaCondition
from lambda_workflows.local.cloud import LocalCloud
from lambda_workflows.wakeups import Wakeup

STATE_FILE = "state.json"
FORMAT = 1


@dataclass(frozen=True)
class Restored:
    """What a load brought back."""

    items: int
    objects: int
    wakeups: int
    clock: datetime | None


class Persistence:
    """Saves and loads the state of a local cloud in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def path(self) -> Path:
        return self.folder / STATE_FILE

    def saved_clock(self) -> datetime | None:
        """The clock's time when the state was last saved (the restart resumes there when
        it is ahead of the wall clock), or None."""
        state = self._read()
        return datetime.fromisoformat(state["clock"]) if state and state.get("clock") else None

    def save(self, cloud: LocalCloud, engine: Engine) -> None:
        """Write every table's items and every bucket's objects (atomically)."""
        ddb, s3 = cloud.client("dynamodb"), cloud.client("s3")
        tables: dict[str, list[dict[str, Any]]] = {}
        for name in ddb.list_tables()["TableNames"]:
            items: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"TableName": name}
            while True:
                page = ddb.scan(**kwargs)
                items += page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            tables[name] = items
        buckets: dict[str, list[dict[str, Any]]] = {}
        for bucket in (b["Name"] for b in s3.list_buckets().get("Buckets", [])):
            objects = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for entry in page.get("Contents", []):
                    got = s3.get_object(Bucket=bucket, Key=entry["Key"])
                    objects.append(
                        {
                            "key": entry["Key"],
                            "body": base64.b64encode(got["Body"].read()).decode(),
                            "content_type": got.get("ContentType"),
                            "metadata": got.get("Metadata") or {},
                        }
                    )
            buckets[bucket] = objects
        state = {
            "format": FORMAT,
            "clock": engine.services.clock.now().isoformat(),
            "tables": tables,
            "buckets": buckets,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.path)

    def load(self, cloud: LocalCloud, engine: Engine) -> Restored | None:
        """Put the saved items and objects back and re-send pending wake-ups; None when
        nothing was saved yet."""
        state = self._read()
        if state is None:
            return None
        try:
            return self._load(state, cloud, engine)
        except (KeyError, TypeError, ValueError, ClientError) as exc:
            raise PersistError(
                f"{self.path} cannot be loaded ({type(exc).__name__}: {exc}); move it away "
                "to start afresh"
            ) from None

    def _load(self, state: dict[str, Any], cloud: LocalCloud, engine: Engine) -> Restored:
        ddb, s3 = cloud.client("dynamodb"), cloud.client("s3")
        known_tables = set(ddb.list_tables()["TableNames"])
        items = 0
        for table, saved in state.get("tables", {}).items():
            if table not in known_tables:
                continue  # a binding the app no longer declares
            for start in range(0, len(saved), 25):
                batch = [{"PutRequest": {"Item": item}} for item in saved[start : start + 25]]
                pending: dict[str, Any] = {table: batch}
                while pending:
                    pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            items += len(saved)
        known_buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        objects = 0
        for bucket, saved in state.get("buckets", {}).items():
            if bucket not in known_buckets:
                continue
            for entry in saved:
                extra: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
                if entry.get("content_type"):
                    extra["ContentType"] = entry["content_type"]
                s3.put_object(
                    Bucket=bucket,
                    Key=entry["key"],
                    Body=base64.b64decode(entry["body"]),
                    **extra,
                )
                objects += 1
        return Restored(items, objects, self._wake_pending(engine), self.saved_clock())

    def _wake_pending(self, engine: Engine) -> int:
        """Wake every instance that waits for something, at once: leases of the stopped
        process are released, and each replay finds what it waits for (an event that
        arrived before the stop, a deadline) or suspends again until it comes."""
        services = engine.services
        sent: list[Wakeup] = []
        for listed in services.journal.list_due(1 << 62, 10_000):
            if listed.due_at is None or (listed.finished_at is not None and not listed.watchers):
                continue  # a finished instance's expiry is the sweeper's
            meta = services.journal.get_meta(listed.workflow, listed.instance_id)
            if meta is None:
                continue
            if meta.lease_owner is not None:
                try:
                    meta = (
                        services.journal.update_meta(
                            meta.workflow,
                            meta.instance_id,
                            {"lease_owner": None, "lease_until": None},
                            MetaCondition(generation=meta.generation, lease_owner=meta.lease_owner),
                            return_new=True,
                        )
                        or meta
                    )
                except MetaConditionFailedError:
                    continue
            sent.append(Wakeup(meta.workflow, meta.instance_id, meta.generation, meta.epoch))
        if sent:
            services.wakeups.send_now(sent)
        return len(sent)

    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError("not a state file lwf dev wrote")
            if state.get("clock") is not None:
                datetime.fromisoformat(str(state["clock"]))
            if not isinstance(state.get("tables", {}), dict) or not isinstance(
                state.get("buckets", {}), dict
            ):
                raise ValueError("its tables or buckets are not objects")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise PersistError(
                f"{self.path} cannot be loaded ({exc}); move it away to start afresh"
            ) from None
        return state

    def lock(self) -> None:
        """Hold `PATH/.lock` while this process runs: a second `lwf dev` on the same
        folder would overwrite what the first saves."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.folder / ".lock").open("w")
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise PersistError(
                f"{self.folder} is in use by another lwf dev; pass another --persist folder"
            ) from None
