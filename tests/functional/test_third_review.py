"""What a third adversarial review of the HTTP API and `lwf` found, one test each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lambda_workflows.cli import main
from lambda_workflows.metrics import RecordingMetrics
from lambda_workflows.testing import WorkflowTestEnv
from rich.console import Console

from functions.app import app
from tests.functional.cli_support import Lwf
from tests.functional.test_cli_hardening import SIGNING, raw_server, run, status_only
from tests.functional.test_http_api import Api, stored


@pytest.fixture
def api() -> Iterator[Api]:
    metrics = RecordingMetrics()
    with WorkflowTestEnv(app, metrics=metrics) as env:
        yield Api(env, metrics)


def test_a_list_sent_where_one_object_goes_is_a_400_that_writes_nothing(api: Api) -> None:
    """Powertools would take a list's first element for an object body: a batch posted to
    the single-create route silently lost every entry after the first."""
    assert api.call("POST", "/workflows/race/instances", {"id": "r0"})[0] == 201
    api.env.binding("race").get("r0").terminate()
    before = stored(api.env)
    for path, body in (
        ("/workflows/race/instances", [{"id": "a"}, {"id": "b"}]),
        ("/workflows/race/instances", [None, 1]),
        ("/workflows/race/instances/r0/events/go", [{"payload": 1}, {"payload": 2}]),
        ("/workflows/race/instances/r0/restart", [None, None]),
    ):
        status, answer = api.call("POST", path, body)
        assert status == 400, (path, answer)
        assert answer["error"]["code"] == "bad_request"
        assert "must be a JSON object" in answer["error"]["message"]
    assert stored(api.env) == before
    assert api.call("POST", "/workflows/race/instances/batch", [{"id": "b1"}])[0] == 201


def test_every_bad_batch_entry_is_named_at_once(api: Api) -> None:
    entries = [{"id": f"c{n}", "params": {}} for n in range(3)]
    status, answer = api.call("POST", "/workflows/child-task/instances/batch", entries)
    assert status == 422
    error = answer["error"]
    assert all(f"entry {n}:" in error["message"] for n in range(3))
    assert sorted({d["index"] for d in error["details"]}) == [0, 1, 2]


def test_aws_region_is_the_region_to_sign_for() -> None:
    with raw_server(status_only(404)) as (url, asked):
        result = run(
            ["workflows", "list", "--url", url], env={**SIGNING, "AWS_REGION": "eu-west-1"}
        )
    assert result.exit_code == 1, result.output  # the API's 404: it was signed and sent
    assert "/eu-west-1/execute-api/aws4_request" in asked[0].headers["Authorization"]


@pytest.mark.parametrize("name", ["pytest", "boto3", "pydantic"])
def test_init_refuses_a_name_an_installed_package_has(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / name)]) == 2
    assert "an installed package already has" in capsys.readouterr().err
    assert not (tmp_path / name).exists()


def test_a_command_to_run_next_is_never_broken_across_lines(lwf: Lwf) -> None:
    lwf.env.binding("approval")  # the app is served
    from lambda_workflows.cli import app as cli
    from lambda_workflows.cli.session import CliState
    from typer.testing import CliRunner

    state = CliState(stdout=Console(width=40), stderr=Console(width=40, stderr=True))
    result = CliRunner().invoke(
        cli,
        ["trigger", "approval", json.dumps({"user_id": "n"}), "--id", "narrow-terminal-1"],
        env={"LWF_URL": lwf.url},
        obj=state,
    )
    assert result.exit_code == 0, result.output
    assert "lwf instances describe approval narrow-terminal-1 --watch" in result.stdout


def test_restart_from_a_step_of_another_kind_says_which_type_to_pass(api: Api) -> None:
    api.call("POST", "/workflows/approval/instances", {"id": "a1", "params": {"user_id": "u"}})
    api.env.wait_for_status("approval", "a1", "waiting")
    api.env.binding("approval").get("a1").send_event("approval-response", {"approved": True})
    api.env.wait_for_status("approval", "a1", "complete")
    status, answer = api.call(
        "POST", "/workflows/approval/instances/a1/restart", {"from_step": "wait for approval"}
    )
    assert status == 400
    assert "pass type='wait_for_event' (lwf: --type wait_for_event)" in answer["error"]["message"]
