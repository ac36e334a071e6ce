"""`lwf replay-check` and `lwf instances export` through the API handler on moto, and the
version-1 → version-2 story of DESIGN section 10: a step inserted before steps sleeping
instances journaled breaks them (replay-check says so before the worker does); guarded
by `step.patched`, replay-check passes and they complete without it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.testing import WorkflowTestEnv

from tests.functional.cli_support import Lwf
from tests.functional.helpers import Calls

calls = Calls()
APP_PATH = "tests.functional.test_replay_check:APP"


class Shipping(WorkflowEntrypoint[Any]):
    """Version 1: a, sleep, b, sleep, c. Version 2 inserts "fraud check" before b."""

    version: ClassVar[str] = "v1"

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: calls.hit("a") and "a")
        await step.sleep("first nap", "1 day")
        if self.version == "unguarded" or (
            self.version == "patched" and step.patched("fraud-check")
        ):
            await step.do("fraud check", lambda: calls.hit("fraud") and "ok")
        await step.do("b", lambda: calls.hit("b") and "b")
        await step.sleep("second nap", "1 day")
        return await step.do("c", lambda: calls.hit("c") and "c")


class Other(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("only", lambda: 1)


class Big(WorkflowEntrypoint[Any]):
    """Values too large for their journal items: they live in S3."""

    async def run(self, event: Any, step: Any) -> Any:
        blob = await step.do("big", lambda: "x" * 300_000)
        received = await step.wait_for_event("wait", type="go")
        await step.sleep("nap", "1 hour")
        return len(blob) + len(received["payload"])


APP = WorkflowApp([Workflow("shipping", Shipping), Workflow("other", Other), Workflow("big", Big)])


@pytest.fixture
def lwf(make_env: Any, tmp_path: Path) -> Iterator[Lwf]:
    calls.reset()
    Shipping.version = "v1"
    env: WorkflowTestEnv = make_env(APP)
    with serve(ApiHandler(lambda: env.engine)) as url:
        yield Lwf(env, url, tmp_path)


def _at_second_nap(env: WorkflowTestEnv, *ids: str) -> None:
    for instance_id in ids:
        env.binding("shipping").create(id=instance_id)

    def asleep_again() -> bool | None:
        for instance_id in ids:
            steps = env.binding("shipping").get(instance_id).status().steps
            if not any(s.name == "second nap" for s in steps):
                return None
        return True

    env.run_until(asleep_again, "shipping", ids[-1], "the second nap")
    env.run_until_idle()


def _check(lwf: Lwf, *args: str) -> tuple[int, dict[str, Any]]:
    result = lwf("replay-check", "--app", APP_PATH, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_an_inserted_step_is_reported_before_the_worker_breaks_on_it(lwf: Lwf) -> None:
    env = lwf.env
    _at_second_nap(env, "old-1", "old-2")
    env.binding("other").create(id="o")
    env.wait_for_status("other", "o", "complete")
    exported = lwf.tmp_path / "journals"
    exported.mkdir()
    for instance_id in ("old-1", "old-2"):
        result = lwf(
            "instances", "export", "shipping", instance_id, "-o", str(exported / instance_id)
        )
        assert result.exit_code == 0, result.output
        assert f"Exported shipping instance {instance_id} (4 steps) to " in result.stdout
    (exported / "old-1").rename(exported / "old-1.json")
    (exported / "old-2").rename(exported / "old-2.json")
    before = dict(calls.count)

    assert _check(lwf)[0] == 0  # version 1 replays its own journals
    Shipping.version = "unguarded"
    code, report = _check(lwf)
    assert code == 1
    assert report["counts"] == {"ok": 1, "diverged": 2, "failed": 0, "unchecked": 0}
    broken = {v["id"]: v for v in report["instances"] if v["verdict"] == "diverged"}
    assert set(broken) == {"old-1", "old-2"}
    assert broken["old-1"]["position"] == "0:2"
    assert broken["old-1"]["journaled"] == {"type": "do", "name": "b"}
    assert broken["old-1"]["called"] == {"type": "do", "name": "fraud check"}
    assert broken["old-1"]["status"] == "waiting"

    table = lwf("replay-check", "--app", APP_PATH)
    assert table.exit_code == 1
    assert "diverged" in table.stdout
    assert "the journal has do 'b', the code now calls do 'fraud check'" in table.stdout
    assert "3 checked: 1 ok, 2 diverged. 2 would not replay under this code" in table.stdout

    from_files, files_report = _check(lwf, "--from-file", str(exported))
    assert from_files == 1
    assert files_report["instances"] == [broken["old-1"], broken["old-2"]]
    assert dict(calls.count) == before  # nothing ran, nothing was sent
    assert env.binding("shipping").get("old-1").status().status == "waiting"

    status = env.wait_for_status("shipping", "old-1", "errored")  # what it foretold
    assert status.error is not None
    assert status.error.name == "NondeterminismError"
    assert "'fraud check'" in status.error.message
    assert calls.count["fraud"] == 0


def test_guarded_by_patched_replay_check_passes_and_old_instances_skip_the_step(
    lwf: Lwf,
) -> None:
    env = lwf.env
    _at_second_nap(env, "old-1", "old-2")
    Shipping.version = "patched"
    code, report = _check(lwf, "shipping")
    assert code == 0, report
    assert [v["verdict"] for v in report["instances"]] == ["ok", "ok"]
    assert "sleep 'second nap'" in report["instances"][0]["message"]
    env.binding("shipping").create(id="new")
    for instance_id in ("old-1", "old-2", "new"):
        assert env.wait_for_status("shipping", instance_id, "complete").output == "c"
    assert calls.count["fraud"] == 1  # the new instance's only
    code, report = _check(lwf, "shipping")  # finished journals replay to their end
    assert code == 0
    assert {v["verdict"] for v in report["instances"]} == {"ok"}


def test_limit_picks_running_instances_first_then_the_newest_finished(lwf: Lwf) -> None:
    env = lwf.env
    for instance_id in ("done-1", "done-2"):
        env.binding("other").create(id=instance_id)
        env.wait_for_status("other", instance_id, "complete")
        env.advance("1 minute")
    _at_second_nap(env, "asleep")
    code, report = _check(lwf, "--limit", "1")
    assert code == 0
    assert [(v["workflow"], v["id"]) for v in report["instances"]] == [
        ("shipping", "asleep"),
        ("other", "done-2"),
    ]
    code, report = _check(lwf, "other", "--limit", "5")
    assert sorted(v["id"] for v in report["instances"]) == ["done-1", "done-2"]


def test_export_to_stdout_is_the_journal_document(lwf: Lwf) -> None:
    _at_second_nap(lwf.env, "s")
    result = lwf("instances", "export", "shipping", "s", "-o", "-")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format"] == "lambda-workflows/journal"
    assert document["version"] == 1
    assert (document["workflow"], document["id"]) == ("shipping", "s")
    assert document["meta"]["status"] == "waiting"
    assert [(s["type"], s["name"], s["position"]) for s in document["steps"]] == [
        ("do", "a", "0:0"),
        ("sleep", "first nap", "0:1"),
        ("do", "b", "0:2"),
        ("sleep", "second nap", "0:3"),
    ]
    assert document["steps"][3]["status"] == "sleeping"
    assert document["steps"][3]["wake_at"] is not None
    assert lwf("instances", "export", "shipping", "nope").exit_code == 1


def test_usage_errors_and_an_unreachable_api(lwf: Lwf, tmp_path: Path) -> None:
    both = lwf("replay-check", "--app", APP_PATH, "--from-file", str(tmp_path), "--url", lwf.url)
    assert both.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    result = lwf("replay-check", "--app", APP_PATH, "--from-file", str(bad))
    assert result.exit_code == 2
    assert "is not a journal document" in " ".join(result.output.replace("│", " ").split())
    missing = lwf("replay-check", "--app", "no_such_module:app")
    assert missing.exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = lwf("replay-check", "--app", APP_PATH, "--from-file", str(empty))
    assert result.exit_code == 0
    assert "No journals to check" in result.stdout
    result = lwf("replay-check", "--app", APP_PATH, env={"LWF_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 3


def test_values_stored_in_s3_are_inline_and_a_left_out_one_is_flagged(lwf: Lwf) -> None:
    env = lwf.env
    instance = env.binding("big").create(id="b", params={"note": "y" * 200_000})
    env.run_until_idle()
    instance.send_event("go", "z" * 290_000)
    env.run_until_idle()
    document = json.loads(lwf("instances", "export", "big", "b", "-o", "-").stdout)
    assert document["meta"]["params"] == {"note": "y" * 200_000}
    big, wait, nap = document["steps"]
    assert big["result"] == "x" * 300_000
    assert not big["result_omitted"]
    assert (wait["status"], wait["event_seq"]) == ("succeeded", document["events"][0]["seq"])
    assert document["events"][0]["payload"] == "z" * 290_000
    assert nap["status"] == "sleeping"
    assert _check(lwf, "big")[0] == 0

    small = instance.journal(max_bytes=250_000)  # the params fit, the rest does not
    assert not small.meta.params_omitted
    assert small.steps[0].result_omitted
    assert small.events[0].payload_omitted
    folder = lwf.tmp_path / "small"
    folder.mkdir()
    (folder / "b.json").write_text(small.model_dump_json())
    code, report = _check(lwf, "--from-file", str(folder))
    assert code == 0
    assert report["instances"][0]["verdict"] == "unchecked"
    assert "the result of do 'big' (index 0)" in report["instances"][0]["message"]
    assert env.wait_for_status("big", "b", "complete").output == 590_000
