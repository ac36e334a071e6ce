"""Data pipeline: extract records (bucket key or URL) with patient retries, transform them,
keep the data in the bucket (steps return only references), load in batches of 100."""

from __future__ import annotations

import json
import math
import urllib.request
from typing import Any

from lambda_workflows import NonRetryableError, WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from pydantic import BaseModel

BATCH_ROWS = 100


class PipelineParams(BaseModel):
    source: str
    """A key in the `BUCKET` binding, or an http(s) URL, holding a JSON list of records."""


def normalize(record: Any) -> dict[str, Any] | None:
    """One cleaned row for the `DB` table, or None for a record without an id."""
    if not isinstance(record, dict) or record.get("id") in (None, ""):
        return None
    name = str(record.get("name", "")).strip()
    return {
        "pk": f"record#{record['id']}",
        "sk": "v1",
        "id": str(record["id"]),
        "name": " ".join(name.split()).title(),
        "value": record.get("value"),
    }


class DataPipelineWorkflow(WorkflowEntrypoint[PipelineParams]):
    async def run(self, event: WorkflowEvent[PipelineParams], step: WorkflowStep) -> Any:
        source = event.payload.source
        bucket = self.env.BUCKET
        prefix = f"pipeline/{event.instance_id}"

        def extract() -> dict[str, Any]:
            if source.startswith(("http://", "https://")):
                with urllib.request.urlopen(source, timeout=30) as response:
                    data = response.read()
            else:
                found = bucket.get(source)
                if found is None:
                    raise FileNotFoundError(f"no object {source!r} in the bucket (yet)")
                data = found.body
            records = json.loads(data)
            if not isinstance(records, list):
                raise NonRetryableError(f"{source!r} holds {type(records).__name__}, not a list")
            bucket.put(f"{prefix}/raw.json", records)
            return {"key": f"{prefix}/raw.json", "records": len(records)}

        raw = await step.do(
            "extract",
            extract,
            retries={"limit": 10, "delay": "30 seconds", "backoff": "exponential"},
        )

        def transform() -> dict[str, Any]:
            rows = [normalize(r) for r in bucket.get(raw["key"]).json()]
            kept = [r for r in rows if r is not None]
            bucket.put(f"{prefix}/rows.json", kept)
            return {
                "key": f"{prefix}/rows.json",
                "rows": len(kept),
                "skipped": len(rows) - len(kept),
            }

        rows = await step.do("transform", transform)

        batches = math.ceil(rows["rows"] / BATCH_ROWS)
        for n in range(batches):

            def load(n: int = n) -> int:
                data = bucket.get(rows["key"]).json()
                return int(self.env.DB.put_many(data[n * BATCH_ROWS : (n + 1) * BATCH_ROWS]))

            await step.do(f"load batch {n}", load)
        return {
            "source": source,
            "rows": rows["rows"],
            "skipped": rows["skipped"],
            "batches": batches,
            "data": rows["key"],
        }
