"""Load tier: 200 instances, four concurrent pump threads, every SQS message delivered twice.

Each instance runs three `step.do` steps, one `step.sleep` (SQS DelaySeconds) and one
`step.wait_for_event` (its timeout goes through EventBridge Scheduler). One
`WorkflowTestEnv` serves four pump threads; time stays virtual: when every thread is
idle, exactly one of them (the others are parked on a condition, inside no handler) fires
due schedules, runs the sweeper, hands out the events of instances that wait for one, or
moves the clock to the next due time (`Pump.next_due_ms`, as `skip_to_next` does).

The same scenario runs twice, once with single delivery and once duplicated, and the
tests compare them: every instance completes with its output, every step function ran
once per journaled step, no step record was rewritten, each epoch's wake-up ran the
instance once, and duplicates add less than 5 % wake-ups.

How duplicates are made, and why: when a pump thread receives an original message
(`ApproximateReceiveCount == 1`, not itself a copy), it re-sends its body once to the
queue, immediately visible, before invoking the worker. That is what an SQS standard queue
does on at-least-once delivery: a second copy of the message, held by another server, is
handed out by a separate `ReceiveMessage` - possibly to another poller while the first
copy is still being processed, possibly before it (the copy's batch runs first), possibly
after the first copy was deleted. All three orders happen here: moto hands out the oldest
visible messages first, so the copies of a burst (the 200 creations, the 200 sleeps ending
at once) come after their originals ran, while those of the events, sent one by one, race
their originals on another thread. Invoking the handler a second time with the same
records would model only the last order (a retried invocation, strictly after the first
one finished); the engine answers that with a "stale" no-op, and the overlapping case,
where two workers race for the lease, would never be exercised. A copy is never copied
again, so each message is delivered exactly twice (more only if a handler reports a
failure, which the tests count).

Moto is not thread-safe: a `DeleteMessage` rebuilds the queue's message list and loses a
message appended meanwhile by another thread, and a DynamoDB condition check and its write
are not atomic. Real AWS applies each request atomically, so every moto request runs under
one lock here (`BotocoreStubber.process_request`); requests of different threads still
interleave freely, which is where the engine's races are. Three moto requests also cost
time in proportion to everything stored (a `Query` sorts the whole table, a
`TransactWriteItems` deep-copies it, a `ReceiveMessage` counts the queue per message), which
makes a run quadratic in the number of instances; `load_ready_moto` gives them the same
answers at a cost independent of the other instances
(`test_the_moto_speed_ups_change_no_answer`). Even so, moto's own per-request cost
(5-15 ms of pure Python per request; ~31 engine requests per instance, plus the pump's)
is nearly all of the wall time: the throughput printed measures moto more than the
engine, whose own cost shows in the request counts printed beside it.
`LWF_LOAD_INSTANCES` runs fewer (or more) instances than the 200 of the tier.

Run with `pytest tests/load -s` to see the throughput of both runs side by side.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pytest
from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.clock import from_ms, now_ms
from lambda_workflows.journal.records import InstanceStatus, StepKind, StepStatus
from lambda_workflows.local.pump import FakeLambdaContext, sqs_record
from lambda_workflows.testing import WorkflowTestEnv
from lambda_workflows.wakeups import Wakeup
from moto.core import utils as moto_utils
from moto.core.botocore_stubber import BotocoreStubber
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.sqs.models import SQSBackend

MOTO_QUERY = Table.query
MOTO_TRANSACT = DynamoDBBackend.transact_write_items
MOTO_RETENTION = SQSBackend.is_message_valid_based_on_retention_period

INSTANCES = int(os.environ.get("LWF_LOAD_INSTANCES", "200"))
THREADS = 4
WORKFLOW = "load"
SLEEP = "10 minutes"
EVENT_TIMEOUT = "1 day"
MAX_EXTRA_WAKEUPS = 0.05
WALL_LIMIT_S = 600.0
"""Per run: the driver gives up (and the tests fail) after this much real time."""
EVENTS_PER_TURN = 5
COPY_ATTRIBUTE = "lwf-load-copy"
DO_STEPS = ("fetch", "enrich", "settle")
EXPECTED_RECORDS = {
    "fetch#0": (StepKind.DO, 1),
    "enrich#0": (StepKind.DO, 1),
    "cool-off#0": (StepKind.SLEEP, 2),  # written sleeping, then resolved
    "approval#0": (StepKind.WAIT_FOR_EVENT, 2),  # written waiting, then resolved
    "settle#0": (StepKind.DO, 1),
}
"""Journal key -> (kind, version): the version each record has when written once per state."""
SENDERS = {
    "create": "create",
    "create_batch": "create",
    "deliver_event": "event",
    "_suspend": "suspend",
    "_not_leased": "busy",
    "_retry_soon": "retry",
    "sweep": "sweeper",
    "_wake": "resume",
}
"""Who sent a wake-up (the calling function) -> the name it is reported under."""


class Ledger:
    """Every step-function call, per (instance, step), and who reached the event wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.returned: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.reached: set[str] = set()
        self._tokens = itertools.count(1)

    def call(self, instance_id: str, step: str, value: dict[str, Any]) -> dict[str, Any]:
        """Count a call; its value carries a token unique to the call."""
        with self._lock:
            result = {**value, "call": next(self._tokens)}
            self.returned.setdefault((instance_id, step), []).append(result)
            return result

    def reach(self, instance_id: str) -> None:
        with self._lock:
            self.reached.add(instance_id)

    def reached_ids(self) -> set[str]:
        with self._lock:
            return set(self.reached)

    def snapshot(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        with self._lock:
            return {key: list(values) for key, values in self.returned.items()}


LEDGER = Ledger()


def bonus(n: int) -> int:
    return n % 7 + 1


def expected_output(instance_id: str, n: int) -> dict[str, Any]:
    return {"id": instance_id, "total": 3 * n + 1 + bonus(n)}


def number_of(instance_id: str) -> int:
    return int(instance_id.rsplit("-", 1)[1])


class Load(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        iid = event.instance_id
        n = int(event.payload["n"])
        fetched = await step.do("fetch", lambda: LEDGER.call(iid, "fetch", {"x": 3 * n}))
        enriched = await step.do(
            "enrich", lambda: LEDGER.call(iid, "enrich", {"y": fetched["x"] + 1})
        )
        await step.sleep("cool-off", SLEEP)
        LEDGER.reach(iid)
        approval = await step.wait_for_event("approval", type="approve", timeout=EVENT_TIMEOUT)
        extra = int(approval["payload"]["bonus"])
        settled = await step.do(
            "settle", lambda: LEDGER.call(iid, "settle", {"total": enriched["y"] + extra})
        )
        return {"id": iid, "total": settled["total"]}


APP = WorkflowApp([Workflow(WORKFLOW, Load)])


class RecordView(NamedTuple):
    kind: str
    status: str
    version: int
    attempts: list[int]
    value: Any
    """The unpacked result of a succeeded `step.do`, else None."""


@dataclass
class RunResult:
    mode: str
    duplicate: bool
    to_complete_s: float | None = None
    """Real seconds from the first create until the last instance completed."""
    total_s: float = 0.0
    """Real seconds until nothing was left to run (stale wake-ups drained too)."""
    virtual_s: float = 0.0
    wakeups: Counter[str] = field(default_factory=Counter)
    wakeups_at_complete: int | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    by_wakeup: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    """Worker outcomes per (instance, epoch) of the wake-up, in order."""
    requests: Counter[str] = field(default_factory=Counter)
    """AWS requests the engine made (its own clients), by operation."""
    completed: set[str] = field(default_factory=set)
    deliveries: int = 0
    copies: int = 0
    invocations: int = 0
    failed_records: int = 0
    handler_errors: list[str] = field(default_factory=list)
    events_sent: int = 0
    clock_jumps: int = 0
    housekeeping_rounds: int = 0
    dead_letters: int = 0
    error: str | None = None
    statuses: dict[str, tuple[str, Any, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, RecordView]] = field(default_factory=dict)
    returned: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def wakeups_total(self) -> int:
        return sum(self.wakeups.values())

    @property
    def journaled_steps(self) -> int:
        return sum(len(steps) for steps in self.records.values())

    @property
    def step_calls(self) -> int:
        return sum(len(values) for values in self.returned.values())

    def per_second(self, amount: int) -> float:
        seconds = self.to_complete_s or self.total_s
        return amount / seconds if seconds else 0.0


def _sender() -> str:
    """Name the engine function that sent a wake-up (called from the counting wrapper)."""
    frame = sys._getframe(2)
    name = frame.f_code.co_name
    if name == "_send" and frame.f_back is not None:  # Worker._send: one level up
        name = frame.f_back.f_code.co_name
    return SENDERS.get(name, name)


class LoadDriver:
    """Four pump threads on one env; the last one to go idle alone moves time along."""

    def __init__(self, env: WorkflowTestEnv, result: RunResult, threads: int) -> None:
        self.env = env
        self.result = result
        self.threads = threads
        self.sqs = env.pump.sqs
        settings = env.cloud.settings
        assert settings is not None
        self.queue_url = settings.queue_url
        self.queue_arn = settings.queue_arn
        self._cond = threading.Condition()
        self._idle = 0
        self._generation = 0
        self._stopped = False
        self._stalls = 0
        self._deadline = 0.0
        self._events: deque[str] = deque()
        self._offered: set[str] = set()
        self._stats = threading.Lock()

    # -- the threads -----------------------------------------------------------------

    def run(self) -> None:
        self._deadline = time.perf_counter() + WALL_LIMIT_S
        workers = [
            threading.Thread(target=self._loop, name=f"load-pump-{k}", daemon=True)
            for k in range(self.threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(WALL_LIMIT_S + 30)
        hung = [w.name for w in workers if w.is_alive()]
        if hung and self.result.error is None:
            self.result.error = f"pump threads still running after the limit: {hung}"

    def _loop(self) -> None:
        try:
            while not self._stopped:
                seen = self._generation  # anything done after this wakes an idle thread
                worked = self._send_events() + self._deliver_once()
                if worked:
                    with self._cond:
                        self._generation += 1
                        self._cond.notify_all()
                elif not self._wait_while_idle(seen):
                    return
        except BaseException:
            self._fail(f"{threading.current_thread().name}: {traceback.format_exc()}")

    def _wait_while_idle(self, seen: int) -> bool:
        """Park until someone works; the last thread to go idle does the housekeeping.

        Every thread's last receive began after the last piece of work ended, so nothing
        is visible in the queue and no handler runs: the clock may move.
        """
        with self._cond:
            self._idle += 1
            try:
                while not self._stopped:
                    if self._generation != seen:
                        return True
                    if self._idle == self.threads:
                        self.result.housekeeping_rounds += 1
                        if not self._housekeep():
                            self._stopped = True
                        self._generation += 1
                        self._cond.notify_all()
                        return not self._stopped
                    if time.perf_counter() > self._deadline:
                        self._fail(f"gave up after {WALL_LIMIT_S} s of real time")
                        return False
                    self._cond.wait(timeout=1.0)
                return False
            finally:
                self._idle -= 1

    def _fail(self, message: str) -> None:
        with self._cond:
            if self.result.error is None:
                self.result.error = message
            self._stopped = True
            self._cond.notify_all()

    # -- housekeeping (one thread, all others idle) -----------------------------------

    def _housekeep(self) -> bool:
        """Do the one next thing: fire, sweep, offer events, or move the clock. False when
        nothing at all is left."""
        pump = self.env.pump
        if pump.fire_due_schedules():
            return True
        busy = False
        for hook in pump.idle_hooks:  # the sweeper, mocked events
            busy = bool(hook()) or busy
        if busy:
            return True
        ready = self._waiting_for_the_event()
        if ready:
            self._events.extend(ready)
            return True
        if len(self.result.completed) == INSTANCES and self.result.wakeups_at_complete is None:
            self.result.wakeups_at_complete = self.result.wakeups_total
        due = pump.next_due_ms()
        if due is None:
            return False
        now = now_ms(self.env.clock)
        if due <= now:
            self._stalls += 1
            if self._stalls > 3:
                raise AssertionError(f"next due at {due} <= now {now}, yet nothing ran")
            return True
        self._stalls = 0
        self.env.clock.advance_to(from_ms(due))
        self.result.clock_jumps += 1
        return True

    def _waiting_for_the_event(self) -> list[str]:
        journal = self.env.engine.services.journal
        ready: list[str] = []
        for iid in sorted(LEDGER.reached_ids() - self._offered):
            snapshot = journal.load(WORKFLOW, iid)
            if snapshot is None or snapshot.meta.status != InstanceStatus.WAITING:
                continue
            record = snapshot.steps.get("approval#0")
            if record is not None and record.status == StepStatus.WAITING:
                ready.append(iid)
                self._offered.add(iid)
        return ready

    # -- work (any thread) -----------------------------------------------------------

    def _send_events(self) -> int:
        binding = self.env.binding(WORKFLOW)
        sent = 0
        for _ in range(EVENTS_PER_TURN):
            try:
                iid = self._events.popleft()
            except IndexError:
                break
            binding.get(iid).send_event(
                "approve", {"bonus": bonus(number_of(iid))}, event_id=f"approve-{iid}"
            )
            sent += 1
        with self._stats:
            self.result.events_sent += sent
        return sent

    def _deliver_once(self) -> int:
        """What Lambda's SQS poller does: receive a batch, invoke, delete what succeeded."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        if not messages:
            return 0
        copies = self._duplicate(messages) if self.result.duplicate else 0
        event = {"Records": [sqs_record(m, self.queue_arn) for m in messages]}
        error: str | None = None
        try:
            answer = self.env.pump.handler(event, FakeLambdaContext())
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception as exc:
            failed = {m["MessageId"] for m in messages}
            error = repr(exc)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if entries:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        with self._stats:
            self.result.invocations += 1
            self.result.deliveries += len(messages)
            self.result.copies += copies
            self.result.failed_records += len(failed)
            if error is not None:
                self.result.handler_errors.append(error)
        return len(messages)

    def _duplicate(self, messages: list[dict[str, Any]]) -> int:
        originals = [
            m
            for m in messages
            if COPY_ATTRIBUTE not in m.get("MessageAttributes", {})
            and m.get("Attributes", {}).get("ApproximateReceiveCount") == "1"
        ]
        if originals:
            self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "MessageBody": m["Body"],
                        "MessageAttributes": {
                            COPY_ATTRIBUTE: {"DataType": "String", "StringValue": m["MessageId"]}
                        },
                    }
                    for i, m in enumerate(originals)
                ],
            )
        return len(originals)


def _instrument(mp: pytest.MonkeyPatch, env: WorkflowTestEnv, result: RunResult) -> None:
    """Count wake-ups by sender and worker outcomes; note when the last instance completes."""
    lock = threading.Lock()
    began = time.perf_counter()
    wakeups = env.engine.services.wakeups
    send, send_now = wakeups.send, wakeups.send_now

    def counting_send(wakeup: Wakeup, *, at_ms: int, now_ms: int) -> None:
        sender = _sender()
        with lock:
            result.wakeups[sender] += 1
        send(wakeup, at_ms=at_ms, now_ms=now_ms)

    def counting_send_now(batch: list[Wakeup]) -> None:
        sender = _sender()
        with lock:
            result.wakeups[sender] += len(batch)
        send_now(batch)

    mp.setattr(wakeups, "send", counting_send)
    mp.setattr(wakeups, "send_now", counting_send_now)

    worker = env.engine.worker
    process = worker.process
    nested = threading.local()

    def counting_process(wakeup: Wakeup, remaining_ms: Callable[[], int]) -> str:
        nested.inner = False
        try:
            outcome = process(wakeup, remaining_ms)
        except Exception:
            with lock:
                result.outcomes["raised"] += 1
            raise
        # an overdue instance ran within this call, counted there as its current epoch
        outcome_here = "overdue" if nested.inner else outcome
        nested.inner = True
        with lock:
            result.outcomes[outcome_here] += 1
            key = (wakeup.instance_id, wakeup.epoch)
            result.by_wakeup.setdefault(key, []).append(outcome_here)
            if outcome == InstanceStatus.COMPLETE:
                result.completed.add(wakeup.instance_id)
                if len(result.completed) == INSTANCES:
                    result.to_complete_s = time.perf_counter() - began
        return outcome

    mp.setattr(worker, "process", counting_process)

    def count_request(event_name: str, **_: Any) -> None:
        with lock:
            result.requests[event_name.split(".", 1)[1]] += 1

    services = env.engine.services
    for client in (
        services.journal._ddb,  # type: ignore[attr-defined]
        services.payloads._blobs._s3,  # type: ignore[attr-defined]
        services.wakeups._sqs,  # type: ignore[attr-defined]
        services.wakeups._scheduler,  # type: ignore[attr-defined]
    ):
        client.meta.events.register("before-call", count_request)


def atomic_requests(mp: pytest.MonkeyPatch) -> None:
    """Each moto request applies atomically, as on AWS (see the module docstring)."""
    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    mp.setattr(BotocoreStubber, "process_request", process_request)


def partition_queries(mp: pytest.MonkeyPatch) -> None:
    """Stop moto's `Query` from sorting the whole table on every call.

    `Table.query` starts from `all_items()`, every item of the table sorted by key, then
    keeps those of the queried partition (or index key) and sorts them again. Each
    `journal.load` thus costs O(n log n) in the number of items of *all* instances, and a
    run of N instances O(N^2 log N): 200 instances take minutes, of which the engine is a
    small part. Here `all_items` yields the queried partition only (a table query) or the
    items unsorted (an index query): `query` filters and sorts them itself, so it returns
    the same pages (`test_partition_queries_return_what_moto_returns` checks).
    """
    original = Table.query

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes everything up to `consistent_read` positionally
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is None and hash_key is not None and self.range_key_attr:
            found = list(self.items.get(hash_key, {}).values())
        else:
            found = [item for bucket in self.items.values() for item in _items_of(bucket)]
        attributes = vars(self)
        attributes["all_items"] = lambda: found  # this table, this call (under the lock)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del attributes["all_items"]

    mp.setattr(Table, "query", query)


def _items_of(bucket: Any) -> list[Any]:
    return list(bucket.values()) if isinstance(bucket, dict) else [bucket]


class _TablesByReference:
    """`copy` for moto's DynamoDB backend, except that a `Table` is not copied."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def item_level_transactions(mp: pytest.MonkeyPatch) -> None:
    """Stop moto's `TransactWriteItems` from deep-copying whole tables.

    To roll back a cancelled transaction moto deep-copies every table it names, once per
    item of the transaction: O(items of all instances) per `send_event` and per
    `create_batch`. Here only the items the transaction names are saved, and restored if
    it is cancelled; nothing else can change within it (one moto request at a time).
    """
    original = DynamoDBBackend.transact_write_items
    by_reference = _TablesByReference()

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        saved: list[tuple[Table, Any, Any, Any]] = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            key = op.get("Item") or op.get("Key")
            if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = (
                DynamoType(key[table.range_key_attr])
                if table.range_key_attr and table.range_key_attr in key
                else None
            )
            bucket = table.items.get(hash_key)
            item = bucket.get(range_key) if isinstance(bucket, dict) else bucket
            saved.append((table, hash_key, range_key, copy.deepcopy(item)))
        module = vars(dynamodb_models)
        module["copy"] = by_reference
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            module["copy"] = copy

    mp.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)


def _restore(table: Table, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    bucket = table.items.get(hash_key)
    if item is not None:
        table.items[hash_key][range_key] = item
    elif bucket is not None:
        bucket.pop(range_key, None)
        if not bucket:
            del table.items[hash_key]


def cheap_retention_check(mp: pytest.MonkeyPatch) -> None:
    """moto checks the retention period of each received message by computing every
    attribute of the queue (counting its messages): O(queue) per message received."""

    def valid(self: SQSBackend, queue_name: str, message: Any) -> bool:
        period = int(vars(self.get_queue(queue_name))["message_retention_period"])
        return bool(period + message.sent_timestamp / 1000 > moto_utils.unix_time())

    mp.setattr(SQSBackend, "is_message_valid_based_on_retention_period", valid)


@pytest.fixture(scope="module", autouse=True)
def quiet_worker_logs() -> Iterator[None]:
    """The worker logs every invocation at INFO (printed under `-s`): thousands of lines.

    tests/conftest.py defaults `POWERTOOLS_LOG_LEVEL` to WARNING, but the pytest plugin of
    `lambda_workflows` imports the worker (and creates its logger) before conftest runs.
    """
    logger = logging.getLogger("lambda-workflows")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def load_ready_moto(mp: pytest.MonkeyPatch) -> None:
    """Atomic requests, and no request whose cost grows with the whole table or queue.

    The speed-ups change moto's state for the length of a request: they need the lock.
    """
    atomic_requests(mp)
    partition_queries(mp)
    item_level_transactions(mp)
    cheap_retention_check(mp)


@pytest.fixture(scope="module")
def fast_moto() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        load_ready_moto(mp)
        yield


def run_load(duplicate: bool) -> RunResult:
    LEDGER.reset()
    result = RunResult(mode="duplicated" if duplicate else "single", duplicate=duplicate)
    with pytest.MonkeyPatch.context() as mp, WorkflowTestEnv(APP) as env:
        start: datetime = env.now()
        began = time.perf_counter()
        _instrument(mp, env, result)
        binding = env.binding(WORKFLOW)
        ids = [f"load-{n:03d}" for n in range(INSTANCES)]
        for chunk in range(0, INSTANCES, 100):
            binding.create_batch(
                [{"id": iid, "params": {"n": number_of(iid)}} for iid in ids[chunk : chunk + 100]]
            )
        LoadDriver(env, result, THREADS).run()
        result.total_s = time.perf_counter() - began
        result.virtual_s = (env.now() - start).total_seconds()
        result.returned = LEDGER.snapshot()
        _collect(env, result, ids)
    return result


def _collect(env: WorkflowTestEnv, result: RunResult, ids: list[str]) -> None:
    services = env.engine.services
    binding = env.binding(WORKFLOW)
    for iid in ids:
        status = binding.get(iid).status()
        error = status.error.to_dict() if status.error else None
        result.statuses[iid] = (str(status.status), status.output, error)
        snapshot = services.journal.load(WORKFLOW, iid)
        assert snapshot is not None
        views: dict[str, RecordView] = {}
        for key, record in snapshot.steps.items():
            value = None
            if record.kind == StepKind.DO and record.status == StepStatus.SUCCEEDED:
                value = services.payloads.unpack(record.result, record.result_ref)
            views[key] = RecordView(
                str(record.kind),
                str(record.status),
                record.version,
                [a.number for a in record.attempts],
                value,
            )
        result.records[iid] = views
    assert env.cloud.settings is not None
    dead = env.cloud.client("sqs").get_queue_attributes(
        QueueUrl=env.cloud.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    result.dead_letters = int(dead["Attributes"]["ApproximateNumberOfMessages"])


def busy_by_epoch(result: RunResult) -> Counter[str]:
    return Counter(
        str(epoch) for (_, epoch), seen in result.by_wakeup.items() for o in seen if o == "busy"
    )


def report(single: RunResult, double: RunResult) -> str:
    def row(label: str, value: Callable[[RunResult], object]) -> str:
        return f"  {label:<34}{value(single)!s:>22}{value(double)!s:>22}"

    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.2f}"

    def kinds(counter: Counter[str]) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(counter.items()))

    lines = [
        f"load: {INSTANCES} instances, {THREADS} pump threads, one WorkflowTestEnv",
        f"  {'':<34}{'single delivery':>22}{'every message twice':>22}",
        row("wall s, create -> all complete", lambda r: seconds(r.to_complete_s)),
        row("wall s, incl. stale drain", lambda r: seconds(r.total_s)),
        row("instances/s", lambda r: f"{r.per_second(len(r.completed)):.1f}"),
        row("journaled steps/s", lambda r: f"{r.per_second(r.journaled_steps):.1f}"),
        row("step-function calls/s", lambda r: f"{r.per_second(r.step_calls):.1f}"),
        row("completed", lambda r: len(r.completed)),
        row("journaled steps", lambda r: r.journaled_steps),
        row("step-function calls", lambda r: r.step_calls),
        row("messages delivered", lambda r: r.deliveries),
        row("  of which harness copies", lambda r: r.copies),
        row("worker invocations (batches)", lambda r: r.invocations),
        row("engine AWS requests", lambda r: sum(r.requests.values())),
        row("  per instance", lambda r: f"{sum(r.requests.values()) / INSTANCES:.1f}"),
        row("failed records", lambda r: r.failed_records),
        row("wake-ups sent (total)", lambda r: r.wakeups_total),
        row("wake-ups sent at completion", lambda r: r.wakeups_at_complete),
        row("events sent", lambda r: r.events_sent),
        row("clock jumps", lambda r: r.clock_jumps),
        row("housekeeping rounds", lambda r: r.housekeeping_rounds),
        row("virtual time, hours", lambda r: f"{r.virtual_s / 3600:.2f}"),
        row("dead letters", lambda r: r.dead_letters),
        "  wake-ups by sender:",
        f"    single:     {kinds(single.wakeups)}",
        f"    duplicated: {kinds(double.wakeups)}",
        "  engine AWS requests by operation:",
        f"    single:     {kinds(single.requests)}",
        f"    duplicated: {kinds(double.requests)}",
        "  'busy' answers by epoch of the wake-up (0: start, 1: sleep over, 2: event):",
        f"    single:     {kinds(busy_by_epoch(single))}",
        f"    duplicated: {kinds(busy_by_epoch(double))}",
        "  worker outcomes:",
        f"    single:     {kinds(single.outcomes)}",
        f"    duplicated: {kinds(double.outcomes)}",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def runs(fast_moto: None) -> dict[str, RunResult]:
    single = run_load(duplicate=False)
    double = run_load(duplicate=True)
    return {"single": single, "duplicated": double}


MODES = ["single", "duplicated"]


@pytest.mark.parametrize("mode", MODES)
def test_every_instance_completes_with_its_output(runs: dict[str, RunResult], mode: str) -> None:
    result = runs[mode]
    assert result.error is None, result.error
    assert result.handler_errors == []
    assert result.failed_records == 0
    assert result.dead_letters == 0
    wrong = {
        iid: status
        for iid, status in result.statuses.items()
        if status != ("complete", expected_output(iid, number_of(iid)), None)
    }
    assert wrong == {}, f"{len(wrong)} of {INSTANCES} instances wrong, e.g. {_first(wrong)}"
    assert len(result.completed) == INSTANCES
    assert result.events_sent == INSTANCES


@pytest.mark.parametrize("mode", MODES)
def test_every_step_function_ran_once_per_journaled_step(
    runs: dict[str, RunResult], mode: str
) -> None:
    result = runs[mode]
    journaled = {
        (iid, view_key.split("#")[0])
        for iid, views in result.records.items()
        for view_key, view in views.items()
        if view.kind == StepKind.DO
    }
    called = {key: len(values) for key, values in result.returned.items()}
    assert set(called) == journaled, (
        f"calls without a journaled step: {sorted(set(called) - journaled)[:5]}; "
        f"journaled steps never called: {sorted(journaled - set(called))[:5]}"
    )
    twice = {key: n for key, n in called.items() if n != 1}
    assert twice == {}, f"{len(twice)} steps ran more than once, e.g. {_first(twice)}"
    assert len(journaled) == INSTANCES * len(DO_STEPS)


@pytest.mark.parametrize("mode", MODES)
def test_no_step_record_was_overwritten(runs: dict[str, RunResult], mode: str) -> None:
    result = runs[mode]
    problems: dict[str, str] = {}
    for iid, views in result.records.items():
        shape = {key: (view.kind, view.version) for key, view in views.items()}
        expected = {key: (str(kind), version) for key, (kind, version) in EXPECTED_RECORDS.items()}
        if shape != expected:
            problems[iid] = f"records {shape}"
            continue
        for key, view in views.items():
            if view.status != StepStatus.SUCCEEDED:
                problems[iid] = f"{key} is {view.status}"
            elif view.kind == StepKind.DO:
                returned = result.returned.get((iid, key.split("#")[0]), [])
                if view.attempts != [1]:
                    problems[iid] = f"{key} attempts {view.attempts}"
                elif returned[:1] != [view.value]:
                    problems[iid] = f"{key} journaled {view.value}, the calls returned {returned}"
    assert problems == {}, f"{len(problems)} instances, e.g. {_first(problems)}"


RAN = frozenset({"suspended", "complete", "errored", "paused", "retry"})
"""Worker outcomes of an invocation that leased the instance and ran it."""


@pytest.mark.parametrize("mode", MODES)
def test_each_wakeup_epoch_ran_exactly_once(runs: dict[str, RunResult], mode: str) -> None:
    """Of all deliveries of one epoch's wake-up (duplicates, `busy` re-sends, timeouts
    that fire after the event), one ran the instance; the others were no-ops."""
    result = runs[mode]
    ran = {key: sum(o in RAN for o in seen) for key, seen in result.by_wakeup.items()}
    wrong = {key: result.by_wakeup[key] for key, n in ran.items() if n > 1}
    assert wrong == {}, f"{len(wrong)} epochs ran twice, e.g. {_first(wrong)}"
    epochs = Counter(epoch for (_, epoch), n in ran.items() if n == 1)
    assert epochs == {0: INSTANCES, 1: INSTANCES, 2: INSTANCES}
    others = Counter(o for seen in result.by_wakeup.values() for o in seen if o not in RAN)
    assert set(others) <= {"stale", "busy", "overdue"}, others


def test_duplicates_add_under_5_percent_wakeups(runs: dict[str, RunResult]) -> None:
    single, double = runs["single"], runs["duplicated"]
    assert single.wakeups["busy"] == 0, "single delivery: no two workers ever meet"
    limit = single.wakeups_total * (1 + MAX_EXTRA_WAKEUPS)
    busy = {key: seen for key, seen in double.by_wakeup.items() if "busy" in seen}
    assert double.wakeups_total <= limit, (
        f"duplicated delivery sent {double.wakeups_total} wake-ups, single "
        f"{single.wakeups_total} (limit {limit:.0f}); by sender: duplicated "
        f"{dict(double.wakeups)}, single {dict(single.wakeups)}; worker outcomes: "
        f"duplicated {dict(double.outcomes)}; 'busy' by epoch of the wake-up (0: start, "
        f"1: end of the sleep, 2: the event) {dict(busy_by_epoch(double))}; outcomes of "
        f"such wake-ups, e.g. {sorted(busy.items())[:3]}"
    )


def test_throughput_of_both_runs(runs: dict[str, RunResult]) -> None:
    single, double = runs["single"], runs["duplicated"]
    print("\n" + report(single, double))
    for result in (single, double):
        assert result.to_complete_s is not None, f"{result.mode}: not every instance completed"
        assert result.journaled_steps == INSTANCES * len(EXPECTED_RECORDS)
    assert single.copies == 0
    assert double.copies >= single.deliveries
    if double.failed_records == 0:  # else a failed original is delivered a third time
        assert double.deliveries == 2 * double.copies, "every message is delivered twice"


def _first(mapping: dict[Any, Any]) -> Any:
    return next(iter(sorted(mapping.items(), key=str)), None)


def test_the_moto_speed_ups_change_no_answer() -> None:
    """`partition_queries`, `item_level_transactions` and `cheap_retention_check` make
    moto answer as it does without them (the runs above rely on it)."""
    LEDGER.reset()
    with pytest.MonkeyPatch.context() as mp, WorkflowTestEnv(APP) as env:
        mp.setattr(Table, "query", MOTO_QUERY)  # plain moto, even if the runs patched it
        mp.setattr(DynamoDBBackend, "transact_write_items", MOTO_TRANSACT)
        mp.setattr(SQSBackend, "is_message_valid_based_on_retention_period", MOTO_RETENTION)
        binding = env.binding(WORKFLOW)
        ids = [f"load-{n:03d}" for n in range(6)]
        binding.create_batch([{"id": iid, "params": {"n": number_of(iid)}} for iid in ids])
        env.run_until_idle()  # all asleep
        env.clock.advance(timedelta(minutes=10))
        env.run_until_idle()  # all waiting for the event
        binding.get(ids[1]).send_event("approve", {"bonus": 2})
        journal = env.engine.services.journal
        settings = env.cloud.settings
        assert settings is not None
        ddb = env.cloud.client("dynamodb")

        def answers() -> list[Any]:
            loads = [journal.load(WORKFLOW, iid) for iid in [*ids, "missing"]]
            due = journal.list_due(1 << 62, 100)
            listed = journal.list_instances(WORKFLOW, limit=4)
            second = journal.list_instances(WORKFLOW, limit=4, cursor=listed.cursor)
            waiting = journal.list_instances(WORKFLOW, InstanceStatus.WAITING)
            return [loads, due, listed, second, waiting]

        def table() -> list[dict[str, Any]]:
            items = ddb.scan(TableName=settings.table_name, ConsistentRead=True)["Items"]
            return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

        plain = answers()
        partition_queries(mp)
        item_level_transactions(mp)
        cheap_retention_check(mp)
        assert answers() == plain
        assert all(snapshot is not None for snapshot in plain[0][:-1])
        assert len(plain[1]) == len(ids)

        first = binding.get(ids[0])
        first.send_event("approve", {"bonus": 1}, event_id="approve-0")
        before = table()
        # the id's marker exists: the transaction (inbox, event, marker) is cancelled at
        # its last item, after moto applied the first two, and rolled back
        first.send_event("approve", {"bonus": 1}, event_id="approve-0")
        assert table() == before
        env.run_until_idle()  # messages are received as before
        assert first.status().output == expected_output(ids[0], 0)
