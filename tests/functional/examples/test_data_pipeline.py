"""Example 3, data pipeline: patient extract retries, references to bucket data, batches."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from lambda_workflows.testing import WorkflowTestEnv

RECORDS = [{"id": n, "name": f"  item   number {n} ", "value": n * 1.5} for n in range(245)] + [
    {"name": "no id"}
] * 5


def _offsets(step: dict[str, object], start: datetime) -> list[float]:
    log = step["attempt_log"]
    assert isinstance(log, list)
    return [(datetime.fromisoformat(a["started_at"]) - start).total_seconds() for a in log]


def test_records_are_transformed_stored_and_loaded_in_batches(workflows: WorkflowTestEnv) -> None:
    workflows.env.BUCKET.put("incoming/records.json", RECORDS)
    with workflows.introspect("data-pipeline", "run-1") as i:
        workflows.binding("data-pipeline").create(
            id="run-1", params={"source": "incoming/records.json"}
        )
        assert i.wait_for_step_result("extract") == {
            "key": "pipeline/run-1/raw.json",
            "records": 250,
        }
        output = i.wait_for_status("complete").output
        steps = [s["name"] for s in i.steps()]
    assert output == {
        "source": "incoming/records.json",
        "rows": 245,
        "skipped": 5,
        "batches": 3,
        "data": "pipeline/run-1/rows.json",
    }
    assert steps == ["extract", "transform", "load batch 0", "load batch 1", "load batch 2"]
    assert workflows.env.DB.get({"pk": "record#244", "sk": "v1"}) == {
        "pk": "record#244",
        "sk": "v1",
        "id": "244",
        "name": "Item Number 244",
        "value": 366.0,
    }
    assert len(workflows.env.BUCKET.get("pipeline/run-1/rows.json").json()) == 245


def test_extract_retries_back_off_exponentially_from_30_seconds(
    workflows: WorkflowTestEnv,
) -> None:
    workflows.env.BUCKET.put("incoming/records.json", RECORDS[:10])
    start = workflows.now()
    with workflows.introspect("data-pipeline", "run-2") as i:
        i.mock_step_error("extract", ConnectionError("source unreachable"), times=3)
        workflows.binding("data-pipeline").create(
            id="run-2", params={"source": "incoming/records.json"}
        )
        assert i.wait_for_status("complete").output["rows"] == 10
        assert _offsets(i.steps()[0], start) == [0, 30, 90, 210]


def test_a_source_that_arrives_late_is_picked_up_by_a_retry(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    workflows.binding("data-pipeline").create(id="late", params={"source": "incoming/late.json"})
    workflows.run_until_idle()
    workflows.advance("30 seconds")  # the second attempt fails too
    workflows.env.BUCKET.put("incoming/late.json", RECORDS[:3])
    status = workflows.wait_for_status("data-pipeline", "late", "complete").to_dict()
    assert _offsets(status["steps"][0], start) == [0, 30, 90]
    assert status["output"]["rows"] == 3


def test_retries_run_out_after_eleven_attempts(workflows: WorkflowTestEnv) -> None:
    start = workflows.now()
    with workflows.introspect("data-pipeline", "gone") as i:
        workflows.binding("data-pipeline").create(id="gone", params={"source": "missing.json"})
        status = i.wait_for_status("errored").to_dict()
    extract = status["steps"][0]
    assert extract["attempts"] == 11
    assert _offsets(extract, start)[-1] == 30 * (2**10 - 1)  # 8.5 hours of backoff
    assert "FileNotFoundError" in status["error"]["message"]


def test_a_slow_batch_times_out_and_is_retried(workflows: WorkflowTestEnv) -> None:
    workflows.env.BUCKET.put("incoming/records.json", RECORDS)
    with workflows.introspect("data-pipeline", "slow") as i:
        i.force_step_timeout("load batch 1", times=1)
        workflows.binding("data-pipeline").create(
            id="slow", params={"source": "incoming/records.json"}
        )
        assert i.wait_for_step_result("load batch 1") == 100
        batch = i.steps()[3]
    assert batch["attempts"] == 2
    assert batch["attempt_log"][0]["error"]["name"] == "StepTimeoutError"


def test_a_source_that_is_not_a_list_fails_without_retrying(workflows: WorkflowTestEnv) -> None:
    workflows.env.BUCKET.put("incoming/object.json", {"not": "a list"})
    workflows.binding("data-pipeline").create(id="bad", params={"source": "incoming/object.json"})
    status = workflows.wait_for_status("data-pipeline", "bad", "errored").to_dict()
    assert status["steps"][0]["attempts"] == 1
    assert "not a list" in status["error"]["message"]


@pytest.fixture
def http_source() -> Iterator[str]:
    """A JSON document served on the loopback interface (nothing leaves the machine)."""
    body = json.dumps(RECORDS[:7]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/records.json"
    server.shutdown()
    thread.join()


def test_a_url_source(workflows: WorkflowTestEnv, http_source: str) -> None:
    workflows.binding("data-pipeline").create(id="url", params={"source": http_source})
    status = workflows.wait_for_status("data-pipeline", "url", "complete").to_dict()
    assert status["output"]["rows"] == 7
    assert status["output"]["batches"] == 1
    assert workflows.now() - datetime.fromisoformat(status["created_at"]) < timedelta(seconds=1)
