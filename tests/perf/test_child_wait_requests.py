"""AWS requests of `step.wait_for_workflow` (counts, never times)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.testing import WorkflowTestEnv


class Child(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")
        return "done"


class Parent(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return await step.wait_for_workflow("wait", ("child", "c"))


APP = WorkflowApp([Workflow("child", Child), Workflow("parent", Parent)])


def _requests_by_instance() -> dict[str, Counter[str]]:
    """Requests made by worker invocations, per instance the invocation ran."""
    with WorkflowTestEnv(APP) as env:
        env.binding("child").create(id="c")
        env.run_until_idle()  # the child is asleep before the parent starts
        env.binding("parent").create(id="p")
        current: list[str | None] = [None]
        counts: dict[str, Counter[str]] = {"child": Counter(), "parent": Counter()}

        def count(event_name: str, **_: Any) -> None:
            if current[0] is not None:
                counts[current[0]].update([event_name.split(".", 1)[1]])

        services = env.engine.services
        for client in (services.journal._ddb, services.wakeups._sqs):  # type: ignore[attr-defined]
            client.meta.events.register("before-call", count)
        handler = env.pump.handler

        def counted(event: Any, context: Any) -> Any:
            body = event["Records"][0]["body"]
            current[0] = "parent" if '"w": "parent"' in body else "child"
            try:
                return handler(event, context)
            finally:
                current[0] = None

        env.pump.handler = counted
        assert env.wait_for_status("parent", "p", "complete").output == "done"
        return counts


def test_a_child_wait_costs_a_fixed_handful_of_requests_and_no_polling() -> None:
    counts = _requests_by_instance()
    parent, child = counts["parent"], counts["child"]
    # first invocation: lease, load, read child, register, journal the wait, suspend;
    # second (woken by the child): lease, load, read child (ended), journal, finish
    assert parent == Counter(
        {
            "dynamodb.UpdateItem": 5,
            "dynamodb.Query": 2,
            "dynamodb.GetItem": 2,
            "dynamodb.PutItem": 2,
        }
    )
    # the child's waking invocation: lease, load, sleep end, finish (returning watchers),
    # then per watcher: read its meta, store the event, read it again, wake it; settle
    assert child == Counter(
        {
            "dynamodb.UpdateItem": 3,
            "dynamodb.Query": 1,
            "dynamodb.PutItem": 1,
            "dynamodb.GetItem": 2,
            "dynamodb.TransactWriteItems": 1,
            "sqs.SendMessageBatch": 1,
        }
    )
