"""Retention: a finished instance is deleted, with its journal, events and stored values,
once the app's retention has passed since it ended (Cloudflare's retention); running and
waiting instances never are, and waiting parents are told before their child goes."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_workflows import (
    NonRetryableError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.errors import InstanceNotFoundError, ValidationError
from lambda_workflows.journal.records import InstanceStatus
from lambda_workflows.testing import WorkflowTestEnv

BIG = "x" * 500_000  # past the inline limit: params and output go to S3


class Finishes(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("one", lambda: 1)
        return {"echo": event.payload}


class Fails(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def boom() -> None:
            raise NonRetryableError("no")

        await step.do("boom", boom)


class Sleeps(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("long", "60 days")
        return "woke"


class Parent(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        child = await step.do("start", lambda: self.env.CHILD.create(id="kid").id)
        return await step.wait_for_workflow("child", ("finishes", child))


WORKFLOWS = [
    Workflow("finishes", Finishes, binding="CHILD"),
    Workflow("fails", Fails),
    Workflow("sleeps", Sleeps),
    Workflow("parent", Parent),
]


def _app(retention: Any = "30 days") -> WorkflowApp:
    return WorkflowApp(WORKFLOWS, retention=retention)


def _items(env: WorkflowTestEnv, workflow: str, instance_id: str) -> int:
    ddb = env.cloud.client("dynamodb")
    assert env.cloud.settings is not None
    found = ddb.query(
        TableName=env.cloud.settings.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{workflow}#{instance_id}"}},
    )
    return int(found["Count"])


def _objects(env: WorkflowTestEnv) -> list[str]:
    s3 = env.cloud.client("s3")
    assert env.cloud.settings is not None
    listed = s3.list_objects_v2(Bucket=env.cloud.settings.bucket_name)
    return [o["Key"] for o in listed.get("Contents", [])]


def _gone(env: WorkflowTestEnv, workflow: str, instance_id: str) -> bool:
    try:
        env.binding(workflow).get(instance_id).status()
    except InstanceNotFoundError:
        return True
    return False


def test_a_finished_instance_is_deleted_when_its_retention_ends(make_env: Any) -> None:
    env = make_env(_app())
    env.binding("finishes").create(id="f1", params={"big": BIG})
    assert env.wait_for_status("finishes", "f1", "complete").output["echo"]["big"] == BIG
    assert _objects(env), "the large params and output are in S3"
    assert env.skip_to_next() is False  # time-skipping never jumps to an expiry

    env.advance("29 days")
    assert not _gone(env, "finishes", "f1")
    env.advance("1 day")
    env.advance("2 minutes")  # the sweeper's grace period
    assert _gone(env, "finishes", "f1")
    assert _items(env, "finishes", "f1") == 0
    assert _objects(env) == []


def test_errored_and_terminated_instances_expire_too(make_env: Any) -> None:
    env = make_env(_app("1 hour"))
    env.binding("fails").create(id="e1")
    env.wait_for_status("fails", "e1", "errored")
    sleeper = env.binding("sleeps").create(id="t1")
    env.wait_for_status("sleeps", "t1", "waiting")
    sleeper.terminate()
    env.advance("62 minutes")
    assert _gone(env, "fails", "e1")
    assert _gone(env, "sleeps", "t1")
    assert _items(env, "sleeps", "t1") == 0


def test_running_and_waiting_instances_are_never_deleted(make_env: Any) -> None:
    env = make_env(_app("1 hour"))
    env.binding("sleeps").create(id="s1")
    env.wait_for_status("sleeps", "s1", "waiting")
    env.advance("59 days")
    assert env.binding("sleeps").get("s1").status().status == InstanceStatus.WAITING
    assert env.wait_for_status("sleeps", "s1", "complete").output == "woke"


def test_without_retention_finished_instances_are_kept(make_env: Any) -> None:
    env = make_env(_app(None))
    env.binding("finishes").create(id="k1")
    env.wait_for_status("finishes", "k1", "complete")
    env.advance("400 days")
    assert env.binding("finishes").get("k1").status().status == InstanceStatus.COMPLETE


def test_a_parent_is_told_before_its_child_expires(make_env: Any) -> None:
    env = make_env(_app("1 hour"))
    env.binding("parent").create(id="p1")
    parent = env.wait_for_status("parent", "p1", "complete")
    assert parent.output == {"echo": None}
    env.advance("2 hours")
    assert _gone(env, "finishes", "kid")
    assert _gone(env, "parent", "p1")


def test_a_restart_before_expiry_keeps_the_instance(make_env: Any) -> None:
    env = make_env(_app("1 hour"))
    env.binding("sleeps").create(id="r1")
    env.wait_for_status("sleeps", "r1", "waiting")
    env.binding("sleeps").get("r1").terminate()
    env.advance("30 minutes")
    env.binding("sleeps").get("r1").restart()
    env.wait_for_status("sleeps", "r1", "waiting")
    env.advance("2 hours")
    assert env.binding("sleeps").get("r1").status().status == InstanceStatus.WAITING


def test_a_longer_retention_after_a_redeploy_re_dates_instances_that_ended_before(
    make_env: Any,
) -> None:
    """An instance keeps the expiry it was given when it ended; when that comes under a
    longer retention, the sweeper moves it to the new one instead of deleting."""
    env = make_env(_app("1 hour"))
    env.binding("finishes").create(id="c1")
    env.wait_for_status("finishes", "c1", "complete")
    env.engine.services = env.engine.sweeper.services = _with_retention(env, 30 * 86_400_000)
    env.advance("2 hours")
    assert not _gone(env, "finishes", "c1")
    env.advance("30 days")
    assert _gone(env, "finishes", "c1")


def _with_retention(env: WorkflowTestEnv, retention_ms: int) -> Any:
    from dataclasses import replace

    return replace(env.engine.services, retention_ms=retention_ms)


@pytest.mark.parametrize("retention", ["30 seconds", "banana", -5, True])
def test_a_bad_retention_is_refused_at_declaration(retention: Any) -> None:
    with pytest.raises(ValidationError, match="retention"):
        WorkflowApp(WORKFLOWS, retention=retention)


def test_an_interrupted_expiry_is_finished_by_the_next_sweep(make_env: Any) -> None:
    """The meta item goes last: a crash while the partition is deleted leaves the instance
    finished, listed and due, and the sweeper's next pass removes every item."""
    env = make_env(_app("1 hour"))
    env.binding("finishes").create(id="x1", params={"big": BIG})
    env.wait_for_status("finishes", "x1", "complete")
    ddb = env.engine.services.journal._ddb
    crashes = {"left": 1}

    def crash_once(**_: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise ConnectionError("the sweeper Lambda timed out mid-delete")

    ddb.meta.events.register("before-call.dynamodb.BatchWriteItem", crash_once)
    with pytest.raises(ConnectionError):
        env.advance("62 minutes")
    assert not _gone(env, "finishes", "x1")  # still there, still due
    assert _items(env, "finishes", "x1") > 1
    env.advance("5 minutes")
    assert _gone(env, "finishes", "x1")
    assert _items(env, "finishes", "x1") == 0
    assert _objects(env) == []
