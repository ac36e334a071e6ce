"""`step.wait_for_workflow`: a parent suspends until a child ends and gets its output."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_workflows import (
    StepError,
    WaitTimeoutError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.testing import WorkflowTestEnv
from pydantic import BaseModel

START = datetime(2026, 6, 1, tzinfo=UTC)


class ChildParams(BaseModel):
    item: str
    nap: str = "1 day"
    fail: bool = False


class Child(WorkflowEntrypoint[ChildParams]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", event.payload.nap)

        def work() -> dict[str, str]:
            if event.payload.fail:
                raise ValueError(f"cannot process {event.payload.item}")
            return {"item": event.payload.item.upper()}

        return await step.do("work", work, retries={"limit": 0})


class ParentParams(BaseModel):
    items: list[str]
    timeout: str = "30 days"
    nap: str = "1 day"


class Parent(WorkflowEntrypoint[ParentParams]):
    async def run(self, event: Any, step: Any) -> Any:
        payload = event.payload

        def start() -> list[str]:
            return [
                self.env.CHILD.create(
                    id=f"{event.instance_id}-{n}", params={"item": item, "nap": payload.nap}
                ).id
                for n, item in enumerate(payload.items)
            ]

        ids = await step.do("start children", start)
        outcomes = await asyncio.gather(
            *(
                step.wait_for_workflow(f"wait {i}", ("child", i), timeout=payload.timeout)
                for i in ids
            ),
            return_exceptions=True,
        )
        return [
            o if not isinstance(o, BaseException) else {"failed": type(o).__name__, "why": str(o)}
            for o in outcomes
        ]


class Direct(WorkflowEntrypoint[Any]):
    """Waits on an Instance handle of a child created outside any step."""

    async def run(self, event: Any, step: Any) -> Any:
        child = self.env.CHILD.get(event.payload["child"])
        try:
            return await step.wait_for_workflow("wait", child, timeout=event.payload["timeout"])
        except WaitTimeoutError as exc:
            return {"timed_out": exc.step}
        except StepError as exc:
            return {"error_type": exc.error_type, "message": exc.message}


APP = WorkflowApp(
    [
        Workflow("child", Child, binding="CHILD"),
        Workflow("parent", Parent),
        Workflow("direct", Direct),
    ]
)


@pytest.fixture
def env(make_env: Any) -> WorkflowTestEnv:
    environment: WorkflowTestEnv = make_env(APP, start=START)
    return environment


def test_parent_suspends_until_its_children_end(env: WorkflowTestEnv) -> None:
    parent = env.binding("parent").create(id="p", params={"items": ["a", "b", "c"]})
    env.run_until_idle()
    assert parent.status().status == "waiting"
    assert [s["status"] for s in parent.status().to_dict()["steps"][1:]] == ["waiting"] * 3
    invocations = env.pump.invocations
    status = env.wait_for_status("parent", "p", "complete").to_dict()
    assert status["output"] == [{"item": "A"}, {"item": "B"}, {"item": "C"}]
    assert env.now() - START < timedelta(days=1, minutes=1)
    # no polling: the parent ran once per child's end (plus the batch that started it)
    assert env.pump.invocations - invocations <= 2 * 3
    assert all(s["type"] == "wait_for_workflow" for s in status["steps"][1:])
    assert [s["child"] for s in status["steps"][1:]] == [
        {"workflow": "child", "id": f"p-{n}"} for n in range(3)
    ]  # the page and lwf link each wait to the child it waits for
    assert "child" not in status["steps"][0]


def test_a_failed_child_raises_step_error_in_the_parent(env: WorkflowTestEnv) -> None:
    with env.introspect("child", "p-1") as i:
        i.mock_step_error("work", ValueError("bad item"))
        env.binding("parent").create(id="p", params={"items": ["ok", "bad"]})
        status = env.wait_for_status("parent", "p", "complete").to_dict()
    ok, bad = status["output"]
    assert ok == {"item": "OK"}
    assert bad["failed"] == "StepError"
    assert "WorkflowErrored" in bad["why"]
    assert "bad item" in bad["why"]


def test_child_already_ended_terminated_missing_or_late(env: WorkflowTestEnv) -> None:
    children = env.binding("child")
    children.create(id="done", params={"item": "x", "nap": "1 second"})
    env.wait_for_status("child", "done", "complete")
    env.binding("direct").create(id="d1", params={"child": "done", "timeout": "1 hour"})
    assert env.wait_for_status("direct", "d1", "complete").output == {"item": "X"}

    slow = children.create(id="slow", params={"item": "y", "nap": "7 days"})
    env.binding("direct").create(id="d2", params={"child": "slow", "timeout": "1 hour"})
    env.binding("direct").create(id="d3", params={"child": "slow", "timeout": "30 days"})
    assert env.wait_for_status("direct", "d2", "complete").output == {"timed_out": "wait"}
    slow.terminate()
    output = env.wait_for_status("direct", "d3", "complete").output
    assert output["error_type"] == "WorkflowTerminated"
    assert env.now() - START < timedelta(days=1)


def test_wait_for_a_missing_instance_or_a_bad_reference(make_env: Any) -> None:
    class Missing(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            try:
                await step.wait_for_workflow("wait", ("child", "nobody"))
            except StepError as exc:
                return exc.error_type
            return None

    class BadRef(WorkflowEntrypoint[Any]):
        async def run(self, event: Any, step: Any) -> Any:
            return await step.wait_for_workflow("wait", "child/nobody")

    app = WorkflowApp(
        [Workflow("child", Child), Workflow("missing", Missing), Workflow("bad-ref", BadRef)]
    )
    other = make_env(app)
    other.binding("missing").create(id="m")
    assert other.wait_for_status("missing", "m", "complete").output == "InstanceNotFoundError"
    other.binding("bad-ref").create(id="b")
    error = other.wait_for_status("bad-ref", "b", "errored").to_dict()["error"]
    assert error["name"] == "ValidationError"
    assert "(workflow, id) pair" in error["message"]


def test_a_crash_between_the_childs_end_and_the_notification(env: WorkflowTestEnv) -> None:
    ddb = env.engine.services.journal._ddb  # type: ignore[attr-defined]
    crashes = {"left": 1}

    def crash_once(**_: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise ConnectionError("worker died before telling the parent")

    env.binding("parent").create(id="p", params={"items": ["a"], "nap": "1 hour"})
    env.run_until_idle()
    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", crash_once)
    status = env.wait_for_status("parent", "p", "complete").to_dict()
    assert crashes["left"] == 0
    assert status["output"] == [{"item": "A"}]
    # the child's message came back after its visibility timeout and finished the job
    assert timedelta(hours=1) < env.now() - START < timedelta(hours=1, minutes=5)
    assert env.binding("child").get("p-0").status().status == "complete"


class EventChild(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_event("go", type="go", timeout="365 days")
        return {"got": got["payload"]}


class Waiting(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        try:
            return await step.wait_for_workflow("wait", ("kid", "c"), timeout="30 days")
        except StepError as exc:
            return exc.error_type


KIDS = WorkflowApp([Workflow("kid", EventChild), Workflow("waiting", Waiting)])


def test_a_child_restarted_after_notifying_still_tells_its_parent(make_env: Any) -> None:
    env: WorkflowTestEnv = make_env(KIDS, start=START)
    child = env.binding("kid").create(id="c")
    env.binding("waiting").create(id="p")
    env.run_until_idle()
    child.send_event("go", 1)
    env.pump.deliver_once()  # only the child runs: it ends and tells the parent
    assert child.status().status == "complete"
    child.restart()  # an operator re-runs it before the parent has looked
    env.run_until_idle()
    assert env.binding("waiting").get("p").status().status == "waiting"
    child.send_event("go", 2)
    status = env.wait_for_status("waiting", "p", "complete").to_dict()
    assert status["output"] == {"got": 2}
    assert env.now() - START < timedelta(minutes=1)


def test_a_crash_inside_terminate_is_finished_by_the_sweeper(make_env: Any) -> None:
    env: WorkflowTestEnv = make_env(KIDS, start=START)
    child = env.binding("kid").create(id="c")
    env.binding("waiting").create(id="p")
    env.run_until_idle()
    ddb = env.engine.services.journal._ddb  # type: ignore[attr-defined]
    crashes = {"left": 1}

    def crash_once(**_: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise ConnectionError("the API Lambda died after the terminate write")

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", crash_once)
    with pytest.raises(ConnectionError):
        child.terminate()
    assert child.status().status == "terminated"
    status = env.wait_for_status("waiting", "p", "complete").to_dict()
    assert status["output"] == "WorkflowTerminated"
    assert env.now() - START < timedelta(minutes=5)  # the sweeper's grace, not 30 days
    meta = env.engine.services.journal.get_meta("kid", "c")
    assert meta is not None
    assert meta.finished_at is not None
    expiry = meta.finished_at + int(timedelta(days=30).total_seconds() * 1000)
    assert (meta.watchers, meta.due_at) == ([], expiry)  # told; next due: its retention end


class BigChild(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 minute")
        return {"blob": "x" * 400_000}


class BigParent(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        got = await step.wait_for_workflow("wait", ("big-child", "b"))
        await step.sleep("replay after", "1 hour")  # the rest runs on a replay
        return await step.do("measure", lambda: len(got["blob"]))


def test_a_large_child_output_reaches_the_parent_and_its_replays(make_env: Any) -> None:
    env: WorkflowTestEnv = make_env(
        WorkflowApp([Workflow("big-child", BigChild), Workflow("big-parent", BigParent)])
    )
    env.binding("big-child").create(id="b")
    env.binding("big-parent").create(id="p")
    assert env.wait_for_status("big-parent", "p", "complete").output == 400_000
    keys = [
        o["Key"] for o in env.cloud.client("s3").list_objects_v2(Bucket="lwf-results")["Contents"]
    ]
    assert any(k.startswith("lwf-results/big-parent/p/") for k in keys), keys
