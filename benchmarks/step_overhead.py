"""Per-step cost of the engine against a raw conditional PutItem loop, in the same run.

For N sequential steps (N = 1, 10, 100, 1000) it runs one instance through the real
worker handler on moto (in-process) and prints, per step: the engine's time, the AWS
requests it made (counted with botocore event hooks on the engine's clients), and the
time of one raw conditional PutItem of a same-sized item on the same table. The ratio
is the figure to watch; absolute times depend on the machine. "marginal ratio" leaves
out the fixed cost of an invocation (lease, load, finish): (T(N) - T(1)) / (N - 1)
against one raw PutItem.

    python -m benchmarks.step_overhead [--sizes 1,10,100,1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from typing import Any

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.runtime.worker import WorkerSettings
from lambda_workflows.testing import WorkflowTestEnv
from pydantic import BaseModel

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


class Params(BaseModel):
    n: int


class Sequential(WorkflowEntrypoint[Params]):
    async def run(self, event: Any, step: Any) -> Any:
        total = 0
        for i in range(event.payload.n):
            total += await step.do(f"step {i}", lambda i=i: i)
        return total


APP = WorkflowApp([Workflow("bench", Sequential, step_limit=25_000)])
DEPLOYED = WorkerSettings()
"""The worker as deployed (heartbeat every 1,000 ms of step time), not the test env's
look-at-every-boundary setting."""


def _count_requests(env: WorkflowTestEnv, active: list[bool]) -> Counter[str]:
    """Count the engine's requests made while `active[0]` is true."""
    counter: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        if active[0]:
            counter.update([event_name.split(".", 1)[1]])

    services = env.engine.services
    clients = [
        services.journal._ddb,  # type: ignore[attr-defined]
        services.payloads._blobs._s3,  # type: ignore[attr-defined]
        services.wakeups._sqs,  # type: ignore[attr-defined]
        services.wakeups._scheduler,  # type: ignore[attr-defined]
    ]
    for client in clients:
        client.meta.events.register("before-call", count)
    return counter


def engine_run(n: int) -> tuple[float, Counter[str]]:
    """Seconds the worker handler spent on an n-step instance, and the requests it made.

    Only the handler is timed: the pump's polling stands in for Lambda's event source
    mapping, which AWS runs outside the function.
    """
    with WorkflowTestEnv(APP, worker_settings=DEPLOYED) as env:
        active = [False]
        counter = _count_requests(env, active)
        env.binding("bench").create(id="bench", params={"n": n})
        handler = env.pump.handler
        spent = [0.0]

        def timed(event: Any, context: Any) -> Any:
            active[0] = True
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                spent[0] += time.perf_counter() - started
                active[0] = False

        env.pump.handler = timed
        env.run_until_idle()
        requests = Counter(counter)
        status = env.binding("bench").get("bench").status()
        assert status.status == "complete", status
        assert status.output == n * (n - 1) // 2
        return spent[0], requests


def raw_put_loop(n: int) -> float:
    """Seconds for n conditional PutItem calls of step-record-sized items, same table."""
    with WorkflowTestEnv(APP) as env:
        ddb = env.cloud.client("dynamodb")
        table = env.cloud.settings.table_name  # type: ignore[union-attr]
        record = json.dumps({"name": "step 0", "kind": "do", "status": "succeeded", "result": 0})
        started = time.perf_counter()
        for i in range(n):
            ddb.put_item(
                TableName=table,
                Item={
                    "pk": {"S": "bench#bench"},
                    "sk": {"S": f"s#step {i}#0"},
                    "d": {"S": record},
                    "g": {"N": "0"},
                    "v": {"N": "1"},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    engine_run(10)  # warm imports and moto
    print(
        f"{'N':>6} {'engine ms/step':>15} {'raw put ms/step':>16} {'ratio':>7} "
        f"{'marginal ratio':>15} {'writes/step':>12} {'reads/step':>11} {'requests':>9}"
    )
    base_engine = statistics.median(engine_run(1)[0] for _ in range(args.repeat))
    for n in sizes:
        engine_times, raw_times = [], []
        counter: Counter[str] = Counter()
        for _ in range(args.repeat):
            elapsed, counter = engine_run(n)
            engine_times.append(elapsed)
            raw_times.append(raw_put_loop(n))
        engine = statistics.median(engine_times) / n * 1000
        raw = statistics.median(raw_times) / n * 1000
        marginal = (
            (statistics.median(engine_times) - base_engine) / (n - 1) * 1000 / raw
            if n > 1
            else float("nan")
        )
        writes = sum(v for k, v in counter.items() if k.split(".")[1] in WRITES)
        reads = sum(v for k, v in counter.items() if k.split(".")[1] in READS)
        print(
            f"{n:>6} {engine:>15.3f} {raw:>16.3f} {engine / raw:>7.2f} "
            f"{marginal:>15.2f} {writes / n:>12.3f} {reads / n:>11.3f} {sum(counter.values()):>9}"
        )
        print(f"{'':>6} requests: {dict(sorted(counter.items()))}")


if __name__ == "__main__":
    main()
