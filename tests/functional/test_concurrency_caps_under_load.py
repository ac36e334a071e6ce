"""`Workflow(concurrency=3)` under concurrency: 100 instances, four pump threads, every
SQS message delivered twice.

Each pump thread does what Lambda's SQS poller does (receive a batch, invoke the worker
handler, delete what succeeded); before invoking, it re-sends each original message once
(a second copy, as an SQS standard queue may deliver), so two workers race for the same
instance. Time is virtual: when all four threads are idle, one of them fires due
schedules, runs the sweeper and moves the clock to the next due time (as the load tier,
tests/load, does; its moto patches make each moto request atomic, as AWS requests are).

The journal is the witness: from each instance's `started_at` (its admission, when it took
a slot) and `finished_at` (it gave the slot back), never more than 3 overlap, and starts
follow creation order (ties broken by id).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import from_ms, now_ms
from lambda_workflows.local.pump import FakeLambdaContext, sqs_record
from lambda_workflows.testing import WorkflowTestEnv
from lambda_workflows.wakeups import Wakeup

from tests.functional.caps import most_at_once, spans, started_in_creation_order
from tests.load.test_load import load_ready_moto

INSTANCES = 100
CAP = 3
THREADS = 4
WALL_LIMIT_S = 300.0
COPY = "lwf-caps-copy"


class Ledger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def call(self, instance_id: str) -> int:
        with self.lock:
            self.calls[instance_id] += 1
            return self.calls[instance_id]


LEDGER = Ledger()


class Job(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        n = int(event.payload["n"])
        await step.do("work", lambda: LEDGER.call(event.instance_id))
        if n % 3:  # a third finish at once; the others sleep (and hold their slot) 1 or 2 s
            await step.sleep("nap", f"{n % 3} seconds")
        return n


APP = WorkflowApp([Workflow("job", Job, concurrency=CAP)])


class Driver:
    """Four pump threads on one env; the last one to go idle alone moves time along."""

    def __init__(self, env: WorkflowTestEnv) -> None:
        self.env = env
        self.sqs = env.pump.sqs
        settings = env.cloud.settings
        assert settings is not None
        self.queue_url = settings.queue_url
        self.queue_arn = settings.queue_arn
        self.cond = threading.Condition()
        self.idle = 0
        self.generation = 0
        self.stopped = False
        self.error: str | None = None
        self.deadline = 0.0
        self.copies = 0
        self.stats = threading.Lock()

    def run(self) -> None:
        self.deadline = time.perf_counter() + WALL_LIMIT_S
        threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WALL_LIMIT_S + 30)
        assert not any(t.is_alive() for t in threads), "pump threads still running"
        assert self.error is None, self.error

    def _loop(self) -> None:
        try:
            while not self.stopped:
                seen = self.generation
                if self._deliver_once():
                    with self.cond:
                        self.generation += 1
                        self.cond.notify_all()
                elif not self._wait_while_idle(seen):
                    return
        except BaseException:
            with self.cond:
                self.error = self.error or traceback.format_exc()
                self.stopped = True
                self.cond.notify_all()

    def _wait_while_idle(self, seen: int) -> bool:
        with self.cond:
            self.idle += 1
            try:
                while not self.stopped:
                    if self.generation != seen:
                        return True
                    if self.idle == THREADS:  # nobody is inside a handler: time may move
                        if not self._housekeep():
                            self.stopped = True
                        self.generation += 1
                        self.cond.notify_all()
                        return not self.stopped
                    if time.perf_counter() > self.deadline:
                        raise AssertionError(f"gave up after {WALL_LIMIT_S} s")
                    self.cond.wait(timeout=1.0)
                return False
            finally:
                self.idle -= 1

    def _housekeep(self) -> bool:
        pump = self.env.pump
        busy = [bool(hook()) for hook in pump.idle_hooks]  # every hook runs: the sweeper too
        if pump.fire_due_schedules() or True in busy:
            return True
        due = pump.next_due_ms()
        if due is None:
            return False
        if due > now_ms(self.env.clock):
            self.env.clock.advance_to(from_ms(due))
        return True

    def _deliver_once(self) -> int:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        originals = [m for m in messages if COPY not in m.get("MessageAttributes", {})]
        if originals:  # a second copy of each, handed to whichever poller comes next
            self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": m["Body"],
                        "MessageAttributes": {COPY: {"DataType": "String", "StringValue": "1"}},
                    }
                    for i, m in enumerate(originals)
                ],
            )
            with self.stats:
                self.copies += len(originals)
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        answer = self.env.pump.handler(event, FakeLambdaContext())
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        assert not failed, failed
        self.sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        return len(messages)


def test_a_cap_of_3_holds_for_100_instances_under_4_threads_and_duplicates() -> None:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    with pytest.MonkeyPatch.context() as mp, WorkflowTestEnv(APP) as env:
        load_ready_moto(mp)
        worker = env.engine.worker
        process = worker.process

        def counted(wakeup: Wakeup, remaining_ms: Callable[[], int]) -> str:
            outcome = process(wakeup, remaining_ms)
            with lock:
                outcomes[outcome] += 1
            return outcome

        mp.setattr(worker, "process", counted)
        ids = [f"job-{n:03d}" for n in range(INSTANCES)]
        binding = env.binding("job")
        # two batches a millisecond apart, each out of id order: ties are broken by id
        for half in (ids[:50], ids[50:]):
            binding.create_batch([{"id": i, "params": {"n": int(i[-3:])}} for i in reversed(half)])
            env.clock.advance_to(from_ms(now_ms(env.clock) + 1))
        driver = Driver(env)
        driver.run()

        journal = env.engine.services.journal
        found = spans(journal, "job")
        statuses = Counter(str(binding.get(i).summary().status) for i in ids)
        assert statuses == {"complete": INSTANCES}
        assert [s.id for s in found] == ids
        assert most_at_once(found) == CAP  # never more than 3, and the 3 were used
        assert started_in_creation_order(found)
        assert LEDGER.calls == dict.fromkeys(ids, 1)  # each instance's step ran once
        assert journal.slot_holders("job") == frozenset()
        assert journal.queued("job", 10) == []
        assert driver.copies >= 2 * INSTANCES  # every start and every nap's wake-up, twice
        assert outcomes["queued"] > 0  # wake-ups of queued instances that found no slot
        assert outcomes["complete"] == INSTANCES
