"""Per-step cost of the engine against a raw conditional PutItem loop, in the same run.

It runs one instance of an N-step workflow (default N = 200) through the real worker
handler on moto (in-process), fixed costs included (lease, load, finish), and divides
its time by that of a loop of N conditional PutItem calls writing the same items on the
same backend. Runs are interleaved and the medians printed: the ratio is the figure to
watch (target <= 1.5); absolute times depend on the machine. It also prints the AWS
requests per completed step beyond the run's fixed ones (counted with botocore event
hooks on the engine's clients): exactly 1 write and 0 reads.

    python -m benchmarks.step_overhead [--steps 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.aws.dynamodb.items import partition_key, step_item
from lambda_workflows.journal.records import Attempt, StepKind, StepRecord, StepStatus
from lambda_workflows.runtime.worker import WorkerSettings
from lambda_workflows.testing import WorkflowTestEnv
from pydantic import BaseModel

T = TypeVar("T")
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


def engine_run(n: int) -> tuple[tuple[float, float], Counter[str]]:
    """Seconds (wall, CPU) the worker handler spent on an n-step instance, and the
    requests it made.

    Only the handler is timed: the pump's polling stands in for Lambda's event source
    mapping, which AWS runs outside the function.
    """
    with WorkflowTestEnv(APP, worker_settings=DEPLOYED) as env:
        active = [False]
        counter = _count_requests(env, active)
        env.binding("bench").create(id="bench", params={"n": n})
        handler = env.pump.handler
        spent = [0.0, 0.0]

        def timed(event: Any, context: Any) -> Any:
            active[0] = True
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return handler(event, context)
            finally:
                spent[0] += time.perf_counter() - started
                spent[1] += time.process_time() - cpu
                active[0] = False

        env.pump.handler = timed
        env.run_until_idle()
        requests = Counter(counter)
        status = env.binding("bench").get("bench").status()
        assert status.status == "complete", status
        assert status.output == n * (n - 1) // 2
        return (spent[0], spent[1]), requests


def raw_put_loop(n: int) -> tuple[float, float]:
    """Seconds for n conditional PutItem calls of the items the engine writes for these
    steps (same encoding, same condition), on the same kind of table."""
    with WorkflowTestEnv(APP, worker_settings=DEPLOYED) as env:
        ddb = env.cloud.client("dynamodb")
        table = env.cloud.settings.table_name  # type: ignore[union-attr]
        pk = partition_key("bench", "bench")
        items = [
            step_item(
                pk,
                StepRecord(
                    name=f"step {i}",
                    occurrence=0,
                    kind=StepKind.DO,
                    position=f"0:{i}",
                    status=StepStatus.SUCCEEDED,
                    generation=0,
                    result=i,
                    attempts=[Attempt(1, 1_780_000_000_000, 1_780_000_000_001)],
                    started_at=1_780_000_000_000,
                    finished_at=1_780_000_000_001,
                    done=i,
                ),
            )
            for i in range(n)
        ]
        started, cpu = time.perf_counter(), time.process_time()
        for item in items:
            ddb.put_item(
                TableName=table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        return time.perf_counter() - started, time.process_time() - cpu


def _without_gc(run: Callable[[], T]) -> T:
    """`run()` with the garbage collector off: a full collection (0.2-0.4 s here) landing
    in one timed section or the other is the largest source of noise."""
    gc.collect()
    gc.disable()
    try:
        return run()
    finally:
        gc.enable()


def _kinds(counter: Counter[str], kinds: set[str]) -> int:
    return sum(v for k, v in counter.items() if k.split(".", 1)[1] in kinds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.steps
    engine_run(10)  # warm imports and moto
    raw_put_loop(10)
    walls: list[float] = []
    cpus: list[float] = []
    engine_ms: list[float] = []
    raw_ms: list[float] = []
    counter: Counter[str] = Counter()
    for _ in range(args.repeat):  # interleaved, so both see the same machine load
        (wall, cpu), counter = _without_gc(lambda: engine_run(n))
        raw_wall, raw_cpu = _without_gc(lambda: raw_put_loop(n))
        engine_ms.append(wall / n * 1000)
        raw_ms.append(raw_wall / n * 1000)
        walls.append(wall / raw_wall)
        cpus.append(cpu / raw_cpu)
    _, single = engine_run(1)
    writes = (_kinds(counter, WRITES) - _kinds(single, WRITES)) / (n - 1)
    reads = (_kinds(counter, READS) - _kinds(single, READS)) / (n - 1)
    runs = ", ".join(f"{r:.2f}" for r in walls)
    print(f"N = {n} steps, {args.repeat} interleaved runs (medians)")
    print(f"  engine, whole run through the handler: {statistics.median(engine_ms):.3f} ms/step")
    print(f"  raw conditional PutItem, same items:   {statistics.median(raw_ms):.3f} ms/step")
    print(f"  ratio engine / raw, wall time: {statistics.median(walls):.2f} (runs: {runs})")
    print(f"  ratio engine / raw, CPU time:  {statistics.median(cpus):.2f}")
    print(f"  per completed step: {writes:.3f} writes, {reads:.3f} reads beyond the fixed ones")
    print(f"  requests of one {n}-step run: {dict(sorted(counter.items()))}")


if __name__ == "__main__":
    main()
