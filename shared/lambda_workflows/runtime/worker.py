"""Processing one wake-up: lease, load, replay, then finish or suspend the instance."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from lambda_workflows.api import Env
from lambda_workflows.app import WorkflowApp
from lambda_workflows.clock import now_ms
from lambda_workflows.errors import (
    ItemTooLargeError,
    MetaConditionFailedError,
    NotJsonError,
    OutputTooLargeError,
)
from lambda_workflows.journal.base import MetaCondition, SlotRelease
from lambda_workflows.journal.records import (
    FINISHED,
    RUNNABLE,
    ErrorInfo,
    InstanceMeta,
    InstanceStatus,
)
from lambda_workflows.metrics import Suspensions, WakeupLagMs
from lambda_workflows.payloads import META_VALUES_BYTES, size_of
from lambda_workflows.runtime.admission import admit, enroll
from lambda_workflows.runtime.delivery import notify_watchers
from lambda_workflows.runtime.executor import Outcome, ReplayExecutor
from lambda_workflows.runtime.policy import LeasePolicy, lease_length
from lambda_workflows.runtime.step import DurableStep
from lambda_workflows.runtime.threads import StepThreads
from lambda_workflows.services import Services
from lambda_workflows.wakeups import Wakeup

logger = Logger(service="lambda-workflows")

_RUNNING = frozenset({InstanceStatus.RUNNING})
_FINISHING = frozenset({InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE})


@contextlib.contextmanager
def log_keys(**keys: str) -> Iterator[None]:
    """Add `keys` to every Powertools log line of this thread, and of the steps it runs,
    until the block ends. The keys live in a context variable (`thread_safe_*`), unlike
    `append_keys`, whose keys every thread shares."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(keys))


@dataclass(frozen=True)
class WorkerSettings:
    """Tuning of the worker (see docs/decisions.md)."""

    lease_ms: int = 16 * 60 * 1000
    """Longer than the longest Lambda invocation, so a live worker never loses it. A lease
    never outlives the invocation's own time by more than `lease_margin_ms`."""
    lease_margin_ms: int = 60_000
    heartbeat_ms: int = 1_000
    """Renew the lease (and notice pause requests) after this much step time; 0: at every
    step boundary (`LWF_HEARTBEAT_MS`)."""
    reserve_ms: int = 10_000
    """Stop starting steps when less Lambda time than this is left."""
    max_rounds: int = 8
    """Replays in one invocation when events keep arriving during suspension."""
    prompt_retries: int = 5
    """After a transient error (a throttled or failed AWS call), how many times the worker
    re-sends the wake-up itself, with backoff; after that the message is left to SQS
    (visibility timeout, then the DLQ)."""


def _overdue(wakeup: Wakeup, current: InstanceMeta | None, now: int) -> bool:
    """A wake-up of an earlier epoch that finds its instance waiting past its due time
    with no lease: the current epoch's wake-up was lost (a crash between the suspension's
    write and its send), so this one runs the instance instead of the sweeper, later."""
    return (
        current is not None
        and current.generation == wakeup.generation
        and current.epoch != wakeup.epoch
        and current.status in RUNNABLE
        and current.due_at is not None
        and current.due_at <= now
        and (current.lease_owner is None or (current.lease_until or 0) < now)
    )


def _from_before_the_cap(wakeup: Wakeup, current: InstanceMeta | None, now: int) -> bool:
    """The wake-up's instance can run but holds no slot and is in no queue: it began
    before its workflow had a cap (a deploy added one)."""
    return (
        current is not None
        and current.status in RUNNABLE
        and not current.holds_slot
        and current.queue is None
        and current.generation == wakeup.generation
        and current.epoch == wakeup.epoch
        and (current.lease_owner is None or (current.lease_until or 0) < now)
    )


def _waits_for_a_slot(wakeup: Wakeup, current: InstanceMeta | None) -> bool:
    """The wake-up is the instance's, which is queued without a concurrency slot."""
    return (
        current is not None
        and current.status == InstanceStatus.QUEUED
        and not current.holds_slot
        and current.generation == wakeup.generation
        and current.epoch == wakeup.epoch
    )


def retry_delay_ms(retry: int) -> int:
    """Backoff of the `retry`-th prompt retry: 1, 2, 4, ... seconds, at most a minute."""
    delay: int = 1000 * 2 ** max(0, retry - 1)
    return min(60_000, delay)


class Worker:
    """Runs instances of an app when their wake-ups arrive."""

    def __init__(
        self,
        app: WorkflowApp,
        services: Services,
        env: Env,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.app = app
        self.services = services
        self.env = env
        self.settings = settings or WorkerSettings()
        self.threads = StepThreads()

    def process(self, wakeup: Wakeup, remaining_ms: Callable[[], int]) -> str:
        """Handle one wake-up; returns what happened (for logs and tests).

        A transient error releases the lease and re-sends the wake-up with backoff, so the
        instance resumes in seconds; past `prompt_retries` it is raised (the message is
        redelivered by SQS, then dead-lettered). Every line logged meanwhile carries the
        keys `workflow` and `instance_id`.
        """
        with log_keys(workflow=wakeup.workflow, instance_id=wakeup.instance_id):
            return self._process(wakeup, remaining_ms)

    def _process(self, wakeup: Wakeup, remaining_ms: Callable[[], int]) -> str:
        workflow = self.app.workflow(wakeup.workflow)  # unknown: redelivered, then the DLQ
        cap = workflow.concurrency
        journal = self.services.journal
        owner = uuid.uuid4().hex
        now = now_ms(self.services.clock)
        lease_until = now + lease_length(
            self.settings.lease_ms, remaining_ms(), self.settings.lease_margin_ms
        )
        try:
            before = journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {
                    "status": InstanceStatus.RUNNING,
                    "lease_owner": owner,
                    "lease_until": lease_until,
                    "due_at": lease_until,
                },
                MetaCondition(
                    status_in=RUNNABLE,
                    generation=wakeup.generation,
                    epoch=wakeup.epoch,
                    lease_free_at=now,
                    holds_slot=None if cap is None else True,
                ),
                set_if_missing={"started_at": now},
                return_old=True,
            )
        except MetaConditionFailedError as exc:
            current = exc.current
            if cap is not None and _from_before_the_cap(wakeup, current, now):
                assert current is not None
                if enroll(self.services, current):  # its turn for a slot comes in order
                    current = dataclasses.replace(
                        current, status=InstanceStatus.QUEUED, queue=wakeup.workflow
                    )
            if cap is not None and _waits_for_a_slot(wakeup, current):
                # Its first start (or a restart, or a resume): slots go oldest first.
                admitted = admit(self.services, wakeup.workflow, cap, keep=wakeup.instance_id)
                if all(w.instance_id != wakeup.instance_id for w in admitted):
                    return "queued"  # an older one got the slot; a freed slot wakes it
                return self._process(wakeup, remaining_ms)
            if _overdue(wakeup, current, now):  # its own wake-up was lost: act as it
                assert current is not None
                wakeup = dataclasses.replace(wakeup, epoch=current.epoch)
                return self._process(wakeup, remaining_ms)
            return self._not_leased(wakeup, current, now)
        due = before.due_at if before is not None else None
        if due is not None and due <= now:
            self.services.metrics.observe_ms(WakeupLagMs, now - due, workflow=wakeup.workflow)
        try:
            result = self._run(wakeup, owner, workflow, remaining_ms)
        except ItemTooLargeError as exc:  # a bug, not a transient error: never a crash loop
            logger.exception("a journal item is over the size limit")
            error = ErrorInfo("ItemTooLargeError", f"the instance's state cannot be stored: {exc}")
            return self._finish(wakeup, owner, None, Outcome("errored", error=error))
        except Exception:
            if wakeup.retry >= self.settings.prompt_retries:
                raise
            logger.exception("invocation failed; retrying", extra={"retry": wakeup.retry + 1})
            return self._retry_soon(wakeup, owner)
        logger.info("invocation ended", extra={"result": result})
        return result

    def _run(
        self, wakeup: Wakeup, owner: str, workflow: Any, remaining_ms: Callable[[], int]
    ) -> str:
        journal = self.services.journal
        for _ in range(self.settings.max_rounds):
            snapshot = journal.load(wakeup.workflow, wakeup.instance_id)
            if snapshot is None or snapshot.meta.lease_owner != owner:
                return "lost"
            policy = LeasePolicy(
                journal,
                self.services.clock,
                workflow=wakeup.workflow,
                instance_id=wakeup.instance_id,
                generation=wakeup.generation,
                owner=owner,
                lease_ms=self.settings.lease_ms,
                lease_margin_ms=self.settings.lease_margin_ms,
                heartbeat_ms=self.settings.heartbeat_ms,
                remaining_ms=remaining_ms,
                reserve_ms=self.settings.reserve_ms,
                terminating=bool(snapshot.meta.terminating),
            )
            executor = ReplayExecutor(
                workflow, snapshot, self.services, self.env, policy, self.threads
            )
            outcome = executor.run(DurableStep(executor))
            result = self._settle(wakeup, owner, snapshot.meta, outcome)
            if result != "again":
                return result
        now = now_ms(self.services.clock)
        return self._suspend(wakeup, owner, now, inbox=None, terminating=None)

    def _retry_soon(self, wakeup: Wakeup, owner: str) -> str:
        """Release the lease (best effort) and re-send the wake-up after a backoff."""
        now = now_ms(self.services.clock)
        at = now + retry_delay_ms(wakeup.retry + 1)
        try:
            self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {"lease_owner": None, "lease_until": None, "due_at": at},
                MetaCondition(generation=wakeup.generation, lease_owner=owner),
            )
            epoch = wakeup.epoch
        except MetaConditionFailedError as exc:
            current = exc.current
            if current is None or current.generation != wakeup.generation:
                return "lost"  # deleted or restarted: nothing to retry
            # released already (it suspended, or ended and was telling its parents)
            epoch = current.epoch
        except Exception:  # the store is failing too: the lease expires with the invocation
            logger.exception("could not release the lease")
            epoch = wakeup.epoch
        retry = Wakeup(
            wakeup.workflow, wakeup.instance_id, wakeup.generation, epoch, wakeup.retry + 1
        )
        self._send(retry, at)
        return "retry"

    def _not_leased(self, wakeup: Wakeup, current: InstanceMeta | None, now: int) -> str:
        if current is not None and current.status in FINISHED:
            notify_watchers(self.services, current)  # if a crash cut the notification short
            self._refill(wakeup.workflow)  # likewise, the admission after its slot freed
            return "stale"
        if (
            current is not None
            and current.status == InstanceStatus.WAITING_FOR_PAUSE
            and current.generation == wakeup.generation
            and (current.lease_until or 0) < now
        ):
            return self._pause_orphan(wakeup, current, now)
        if (
            current is None
            or current.generation != wakeup.generation
            or current.epoch != wakeup.epoch
            or current.status not in RUNNABLE
        ):
            return "stale"
        # Another worker holds the lease: it sends the next wake-up when it suspends, and
        # if it dies, its lease's end is the instance's `due_at`, so the sweeper wakes it.
        return "busy"

    def _pause_orphan(self, wakeup: Wakeup, current: InstanceMeta, now: int) -> str:
        """A pause was requested and the worker that should have honoured it is gone."""
        try:
            self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {
                    "status": InstanceStatus.PAUSED,
                    "lease_owner": None,
                    "lease_until": None,
                    "due_at": None,
                },
                MetaCondition(
                    status_in=frozenset({InstanceStatus.WAITING_FOR_PAUSE}),
                    generation=wakeup.generation,
                    lease_free_at=now,
                ),
                slot=self._slot_release(wakeup.workflow),
            )
        except MetaConditionFailedError:
            return "stale"
        self._refill(wakeup.workflow)
        return str(InstanceStatus.PAUSED)

    def _slot_release(self, workflow: str) -> SlotRelease | None:
        """Give the slot back with the write that ends or pauses a capped instance."""
        return None if self.app.workflow(workflow).concurrency is None else SlotRelease()

    def _refill(self, workflow: str) -> None:
        """After a slot of a capped workflow may have been freed: admit the next ones."""
        cap = self.app.workflow(workflow).concurrency
        if cap is not None:
            admit(self.services, workflow, cap)

    def _send(self, wakeup: Wakeup, at_ms: int) -> None:
        self.services.wakeups.send(wakeup, at_ms=at_ms, now_ms=now_ms(self.services.clock))

    def _settle(self, wakeup: Wakeup, owner: str, seen: InstanceMeta, outcome: Outcome) -> str:
        if outcome.kind == "abandoned":
            return "lost"
        if outcome.kind == "again":
            return "again"
        if outcome.kind in ("complete", "errored", "terminated"):
            return self._finish(wakeup, owner, seen, outcome)
        if outcome.kind == "paused":
            return self._release(wakeup, owner, InstanceStatus.PAUSED)
        return self._suspend(
            wakeup, owner, outcome.wake_at, inbox=seen.inbox, terminating=bool(seen.terminating)
        )

    def _suspend(
        self,
        wakeup: Wakeup,
        owner: str,
        wake_at: int | None,
        inbox: int | None,
        terminating: bool | None,
    ) -> str:
        """Release the instance as `waiting` in a new epoch, then send the new epoch's one
        wake-up (older ones become no-ops). With `inbox`, only if no event came since;
        with `terminating` False, only if no terminate with rollback came since."""
        try:
            updated = self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {
                    "status": InstanceStatus.WAITING,
                    "epoch": wakeup.epoch + 1,
                    "lease_owner": None,
                    "lease_until": None,
                    "due_at": wake_at,
                },
                MetaCondition(
                    status_in=_RUNNING,
                    generation=wakeup.generation,
                    lease_owner=owner,
                    inbox=inbox,
                    terminating=terminating,
                ),
                return_new=True,
            )
        except MetaConditionFailedError as exc:
            current = exc.current
            if current is None or current.lease_owner != owner:
                return "lost"
            if current.status == InstanceStatus.WAITING_FOR_PAUSE:
                return self._release(wakeup, owner, InstanceStatus.PAUSED)
            return "again"
        assert updated is not None
        self.services.metrics.count(Suspensions, workflow=wakeup.workflow)
        if wake_at is not None:
            woken = Wakeup(wakeup.workflow, wakeup.instance_id, updated.generation, updated.epoch)
            self._send(woken, wake_at)
        return "suspended"

    def _release(self, wakeup: Wakeup, owner: str, status: InstanceStatus) -> str:
        try:
            self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {"status": status, "lease_owner": None, "lease_until": None, "due_at": None},
                MetaCondition(
                    status_in=_FINISHING, generation=wakeup.generation, lease_owner=owner
                ),
                slot=self._slot_release(wakeup.workflow),
            )
        except MetaConditionFailedError:
            return "lost"
        self._refill(wakeup.workflow)
        return str(status)

    def _finish(
        self, wakeup: Wakeup, owner: str, seen: InstanceMeta | None, outcome: Outcome
    ) -> str:
        finished_at = now_ms(self.services.clock)
        retention = self.services.retention_ms
        due_at = None if retention is None else finished_at + retention
        if seen is not None and seen.watchers:
            due_at = finished_at  # the sweeper's reminder until the parents are told
        changes: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "due_at": due_at,
            "finished_at": finished_at,
        }
        if outcome.kind == "complete":
            assert seen is not None
            params_inline = size_of(seen.params) if seen.params_ref is None else 0
            try:
                packed = self.services.payloads.pack(
                    outcome.output,
                    owner=f"{wakeup.workflow}/{wakeup.instance_id}/output",
                    inline_limit=META_VALUES_BYTES - params_inline,
                )
            except (NotJsonError, OutputTooLargeError) as exc:
                error = ErrorInfo(type(exc).__name__, f"run() returned: {exc}")
                outcome = Outcome("errored", error=error)
            else:
                changes.update(
                    status=InstanceStatus.COMPLETE, output=packed.inline, output_ref=packed.ref
                )
        if outcome.kind == "errored":
            changes.update(status=InstanceStatus.ERRORED, error=outcome.error)
        if outcome.kind == "terminated":
            changes.update(status=InstanceStatus.TERMINATED)
        asked = seen is not None and bool(seen.terminating)
        if asked:
            changes.update(terminating=None)
        try:
            ended = self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                changes,
                MetaCondition(
                    status_in=_FINISHING,
                    generation=wakeup.generation,
                    lease_owner=owner,
                    terminating=None if asked or seen is None else False,
                ),
                return_new=True,
                slot=self._slot_release(wakeup.workflow),
            )
        except MetaConditionFailedError as exc:
            current = exc.current
            if current is not None and current.lease_owner == owner and current.terminating:
                return "again"  # a terminate with rollback came: replay in that mode
            return "lost"
        if ended is not None:
            notify_watchers(self.services, ended)
        self._refill(wakeup.workflow)
        return str(changes["status"])
