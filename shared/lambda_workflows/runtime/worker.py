"""Processing one wake-up: lease, load, replay, then finish or suspend the instance."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from lambda_workflows.api import Env
from lambda_workflows.app import WorkflowApp
from lambda_workflows.clock import now_ms
from lambda_workflows.instances import notify_watchers
from lambda_workflows.journal.base import ConditionFailedError, MetaCondition
from lambda_workflows.journal.records import FINISHED, RUNNABLE, InstanceMeta, InstanceStatus
from lambda_workflows.payloads import NotJsonError, OutputTooLargeError
from lambda_workflows.runtime.executor import Outcome, ReplayExecutor
from lambda_workflows.runtime.policy import LeasePolicy
from lambda_workflows.services import Services
from lambda_workflows.wakeups import MAX_QUEUE_DELAY_MS, Wakeup

logger = Logger(service="lambda-workflows")

_RUNNING = frozenset({InstanceStatus.RUNNING})
_FINISHING = frozenset({InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE})


@dataclass(frozen=True)
class WorkerSettings:
    """Tuning of the worker (see docs/decisions.md)."""

    lease_ms: int = 16 * 60 * 1000
    """Longer than the longest Lambda invocation, so a live worker never loses it."""
    heartbeat_ms: int = 5_000
    """Renew the lease (and notice pause requests) after this much step time."""
    reserve_ms: int = 10_000
    """Stop starting steps when less Lambda time than this is left."""
    max_rounds: int = 8
    """Replays in one invocation when events keep arriving during suspension."""


def _owned(wakeup: Wakeup, owner: str) -> MetaCondition:
    return MetaCondition(status_in=_FINISHING, generation=wakeup.generation, lease_owner=owner)


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
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lwf-step")

    def close(self) -> None:
        """Release the step thread pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def process(self, wakeup: Wakeup, remaining_ms: Callable[[], int]) -> str:
        """Handle one wake-up; returns what happened (for logs and tests)."""
        workflow = self.app.workflow(wakeup.workflow)  # unknown: redelivered, then the DLQ
        journal = self.services.journal
        owner = uuid.uuid4().hex
        now = now_ms(self.services.clock)
        try:
            journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {
                    "status": InstanceStatus.RUNNING,
                    "lease_owner": owner,
                    "lease_until": now + self.settings.lease_ms,
                    "due_at": now + self.settings.lease_ms,
                },
                MetaCondition(status_in=RUNNABLE, generation=wakeup.generation, lease_free_at=now),
                set_if_missing={"started_at": now},
            )
        except ConditionFailedError as exc:
            return self._not_leased(wakeup, exc.current, now)
        logger.append_keys(instance=f"{wakeup.workflow}/{wakeup.instance_id}")
        try:
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
                    heartbeat_ms=self.settings.heartbeat_ms,
                    remaining_ms=remaining_ms,
                    reserve_ms=self.settings.reserve_ms,
                )
                executor = ReplayExecutor(
                    workflow, snapshot, self.services, self.env, policy, self._pool
                )
                outcome = executor.run()
                result = self._settle(wakeup, owner, snapshot.meta, outcome)
                if result != "again":
                    logger.info("invocation ended", extra={"result": result})
                    return result
            now = now_ms(self.services.clock)
            self._send(wakeup, now)
            self._release(wakeup, owner, InstanceStatus.WAITING, due_at=now)
            return "suspended"
        finally:
            logger.remove_keys(["instance"])

    def _not_leased(self, wakeup: Wakeup, current: InstanceMeta | None, now: int) -> str:
        if current is not None and current.status in FINISHED:
            notify_watchers(self.services, current)  # if a crash cut the notification short
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
            or current.status not in RUNNABLE
        ):
            return "stale"
        wait = max(0, (current.lease_until or now) - now) + 1000
        self._send(wakeup, now + min(wait, MAX_QUEUE_DELAY_MS))
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
            )
        except ConditionFailedError:
            return "stale"
        return str(InstanceStatus.PAUSED)

    def _send(self, wakeup: Wakeup, at_ms: int) -> None:
        self.services.wakeups.send(wakeup, at_ms=at_ms, now_ms=now_ms(self.services.clock))

    def _settle(self, wakeup: Wakeup, owner: str, seen: InstanceMeta, outcome: Outcome) -> str:
        if outcome.kind == "abandoned":
            return "lost"
        if outcome.kind in ("complete", "errored"):
            return self._finish(wakeup, owner, outcome)
        if outcome.kind == "paused":
            return self._release(wakeup, owner, InstanceStatus.PAUSED)
        if outcome.wake_at is not None:
            self._send(wakeup, outcome.wake_at)
        try:
            self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {
                    "status": InstanceStatus.WAITING,
                    "lease_owner": None,
                    "lease_until": None,
                    "due_at": outcome.wake_at,
                },
                MetaCondition(
                    status_in=_RUNNING,
                    generation=wakeup.generation,
                    lease_owner=owner,
                    inbox=seen.inbox,
                ),
            )
        except ConditionFailedError as exc:
            current = exc.current
            if current is None or current.lease_owner != owner:
                return "lost"
            if current.status == InstanceStatus.WAITING_FOR_PAUSE:
                return self._release(wakeup, owner, InstanceStatus.PAUSED)
            return "again"
        return "suspended"

    def _release(
        self, wakeup: Wakeup, owner: str, status: InstanceStatus, due_at: int | None = None
    ) -> str:
        try:
            self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                {"status": status, "lease_owner": None, "lease_until": None, "due_at": due_at},
                _owned(wakeup, owner),
            )
        except ConditionFailedError:
            return "lost"
        return str(status)

    def _finish(self, wakeup: Wakeup, owner: str, outcome: Outcome) -> str:
        changes: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "due_at": None,
            "finished_at": now_ms(self.services.clock),
        }
        if outcome.kind == "complete":
            try:
                inline, ref, _ = self.services.payloads.pack(
                    outcome.output, owner=f"{wakeup.workflow}/{wakeup.instance_id}/output"
                )
            except (NotJsonError, OutputTooLargeError) as exc:
                outcome = Outcome(
                    "errored",
                    error={"name": type(exc).__name__, "message": f"run() returned: {exc}"},
                )
            else:
                changes.update(status=InstanceStatus.COMPLETE, output=inline, output_ref=ref)
        if outcome.kind == "errored":
            changes.update(status=InstanceStatus.ERRORED, error=outcome.error)
        try:
            ended = self.services.journal.update_meta(
                wakeup.workflow,
                wakeup.instance_id,
                changes,
                _owned(wakeup, owner),
                return_new=True,
            )
        except ConditionFailedError:
            return "lost"
        if ended is not None:
            notify_watchers(self.services, ended)
        return str(changes["status"])
