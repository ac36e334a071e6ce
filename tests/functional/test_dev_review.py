"""What the adversarial review of `lwf dev` found, one test each: paused waits hold
`--skip-sleeps` back, `--persist` wakes everything at once and refuses bad or shared
state, the local server refuses cross-origin changes, status lines stay one safe line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import to_ms
from lambda_workflows.errors import PersistError
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.local.dev import one_line, wait_deadline_ms
from lambda_workflows.local.persist import Persistence
from lambda_workflows.testing import WorkflowTestEnv


class Waiter(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("wait", type="go", timeout="1 hour")
        return got["payload"]


APP = WorkflowApp([Workflow("waiter", Waiter)])


def test_a_paused_instances_wait_holds_skip_sleeps_back(make_env: Any) -> None:
    env: WorkflowTestEnv = make_env(APP)
    instance = env.binding("waiter").create(id="p1")
    env.wait_for_status("waiter", "p1", "waiting")
    deadline = to_ms(env.now()) + 3_600_000
    assert wait_deadline_ms(env.engine) == deadline
    instance.pause()
    assert instance.status().status == "paused"
    assert wait_deadline_ms(env.engine) == deadline  # still pending: no jump past it


def test_persist_wakes_waiting_instances_at_once_after_a_restart(tmp_path: Path) -> None:
    """An event accepted just before the stop (its wake-up lost with the queue) is seen
    at the restart, not at the wait's deadline."""
    folder = tmp_path / "state"
    with WorkflowTestEnv(APP) as first:
        instance = first.binding("waiter").create(id="e1")
        first.wait_for_status("waiter", "e1", "waiting")
        wakeups: Any = first.engine.services.wakeups
        wakeups.send_now = lambda _wakeups: None  # the wake-up is lost with the stop
        instance.send_event("go", {"ok": True})
        Persistence(folder).save(first.cloud, first.engine)
    with WorkflowTestEnv(APP) as second:
        restored = Persistence(folder).load(second.cloud, second.engine)
        assert restored is not None
        assert restored.wakeups == 1
        second.run_until_idle()  # no clock movement: woken at once
        assert second.binding("waiter").get("e1").status().output == {"ok": True}


@pytest.mark.parametrize(
    "content",
    ["", "{trunc", '{"hello": "world"}', '{"format": 1, "clock": "not a date"}', "[1]"],
    ids=["empty", "truncated", "foreign", "bad-clock", "list"],
)
def test_a_state_file_that_cannot_be_read_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "state.json").write_text(content)
    with pytest.raises(PersistError, match=r"cannot be loaded .*move it away"):
        Persistence(tmp_path).saved_clock()


def test_a_second_process_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    holder = Persistence(tmp_path)
    holder.lock()
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path\n"
        "from lambda_workflows.local.persist import Persistence\n"
        "from lambda_workflows.errors import PersistError\n"
        f"try: Persistence(Path({str(tmp_path)!r})).lock()\n"
        "except PersistError as e: print(e); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 3, result.stderr
    assert "in use by another lwf dev" in result.stdout


def _post(url: str, origin: str | None) -> int:
    headers = {"Content-Type": "application/json"} | ({"Origin": origin} if origin else {})
    request = Request(url, data=b"{}", method="POST", headers=headers)
    try:
        with urlopen(request) as response:
            return int(response.status)
    except HTTPError as error:
        body = json.loads(error.read())
        if error.code == 403:
            assert body["error"]["code"] == "cross_origin"
        return int(error.code)


def test_the_local_server_refuses_changes_from_another_origin(make_env: Any) -> None:
    env: WorkflowTestEnv = make_env(APP)
    with serve(ApiHandler(lambda: env.engine)) as url:
        create = f"{url}/workflows/waiter/instances"
        assert _post(create, "http://evil.example") == 403
        assert _post(create, "null") == 403
        assert env.engine.services.journal.list_instances("waiter").instances == []
        assert _post(create, url) == 201  # the page itself
        assert _post(create, None) == 201  # curl, lwf: no Origin


def test_a_status_line_cannot_fake_another_or_drive_the_terminal() -> None:
    evil = "boom\n07:00:00 [approval] FAKE: complete\x1b]0;pwned\x07\x1b[2J" + "x" * 5000
    line = one_line(evil)
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\\x0a07:00:00" in line
    assert len(line) == 200
