"""AWS requests of concurrency caps: none for a workflow without a cap, a few per instance
for a capped one (counts, never times; see docs/performance.md)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.testing import WorkflowTestEnv

from benchmarks.step_overhead import _count_requests

INSTANCES = 6


class Nap(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("a", lambda: 1)
        await step.sleep("nap", "1 minute")
        await step.do("b", lambda: 2)
        return 1


APP = WorkflowApp([Workflow("free", Nap), Workflow("capped", Nap, concurrency=2)])
UNCAPPED = Counter(
    {"dynamodb.PutItem": 4, "dynamodb.UpdateItem": 6, "dynamodb.Query": 2, "sqs.SendMessage": 1}
)
"""The worker's requests per instance of `Nap` before caps existed (measured at 6978b56):
lease, load, step, sleep, suspend (+ its wake-up), lease, load, sleep's end, step, finish."""


def _worker_requests(workflow: str) -> Counter[str]:
    """The requests the worker handler made for `INSTANCES` instances of `workflow`."""
    with WorkflowTestEnv(APP) as env:
        active = [False]
        counter = _count_requests(env, active)
        handler = env.pump.handler

        def counted(event: Any, context: Any) -> Any:
            active[0] = True
            try:
                return handler(event, context)
            finally:
                active[0] = False

        env.pump.handler = counted
        binding = env.binding(workflow)
        for n in range(INSTANCES):
            binding.create(id=f"i{n}")
        env.wait_for_status(workflow, f"i{INSTANCES - 1}", "complete")
        assert {binding.get(f"i{n}").summary().status for n in range(INSTANCES)} == {"complete"}
    return counter


def test_a_workflow_without_a_cap_makes_the_requests_it_made_before() -> None:
    requests = _worker_requests("free")  # beside a capped workflow in the same app
    assert requests == Counter({k: v * INSTANCES for k, v in UNCAPPED.items()})


def test_a_capped_workflow_costs_a_few_requests_per_instance() -> None:
    requests = _worker_requests("capped")
    extra = (requests.total() - UNCAPPED.total() * INSTANCES) / INSTANCES
    print(f"capped at 2: {extra:.1f} extra requests per instance: {dict(requests)}")
    assert requests["dynamodb.TransactWriteItems"] == 2 * INSTANCES  # admission, end
    assert requests["dynamodb.PutItem"] == UNCAPPED["dynamodb.PutItem"] * INSTANCES
    assert extra <= 8
