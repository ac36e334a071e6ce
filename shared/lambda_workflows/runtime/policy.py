"""When an invocation must stop starting steps: Lambda time, pause requests, a lost lease."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from lambda_workflows.clock import Clock, now_ms
from lambda_workflows.errors import MetaConditionFailedError
from lambda_workflows.journal.base import Journal, MetaCondition
from lambda_workflows.journal.records import InstanceStatus
from lambda_workflows.runtime.suspension import StopReason


class StopPolicy(Protocol):
    def check(self, needed_ms: int) -> StopReason | None:
        """Called before every new step attempt that may run `needed_ms`; a reason stops
        the invocation there."""

    def attempt_budget_ms(self) -> int | None:
        """How long an attempt may run before Lambda's own timeout would end it."""


def lease_length(lease_ms: int, remaining_ms: int, margin_ms: int) -> int:
    """A lease lasts `lease_ms`, but never past the invocation's end plus `margin_ms`, so a
    worker that dies (timeout, out of memory) frees its instances soon after."""
    return min(lease_ms, max(0, remaining_ms) + margin_ms)


class LeasePolicy:
    """Heartbeats: renews the lease every `heartbeat_ms` of work, at a step boundary.

    The renewal is conditional on the instance still being `running` and ours, so a
    failed one reveals a pause request or a lost lease; between heartbeats no request
    is made.
    """

    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        *,
        workflow: str,
        instance_id: str,
        generation: int,
        owner: str,
        lease_ms: int,
        lease_margin_ms: int,
        heartbeat_ms: int,
        remaining_ms: Callable[[], int],
        reserve_ms: int,
        terminating: bool = False,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._workflow = workflow
        self._instance_id = instance_id
        self._generation = generation
        self._owner = owner
        self._lease_ms = lease_ms
        self._lease_margin_ms = lease_margin_ms
        self._remaining_ms = remaining_ms
        self._reserve_ms = reserve_ms
        self._heartbeat_ms = heartbeat_ms
        self._renew_at = now_ms(clock) + heartbeat_ms
        self._terminating = terminating

    def check(self, needed_ms: int) -> StopReason | None:
        if self._remaining_ms() - self._reserve_ms < needed_ms:
            return StopReason.YIELD
        now = now_ms(self._clock)
        if now < self._renew_at:
            return None
        until = now + lease_length(self._lease_ms, self._remaining_ms(), self._lease_margin_ms)
        try:
            self._journal.update_meta(
                self._workflow,
                self._instance_id,
                {"lease_until": until, "due_at": until},
                MetaCondition(
                    status_in=frozenset({InstanceStatus.RUNNING}),
                    generation=self._generation,
                    lease_owner=self._owner,
                    terminating=self._terminating,
                ),
            )
        except MetaConditionFailedError as exc:
            current = exc.current
            if current is None or current.lease_owner != self._owner:
                return StopReason.LOST
            if current.terminating and not self._terminating:
                self._terminating = True  # later renewals expect it
                return StopReason.TERMINATE
            if current.status == InstanceStatus.WAITING_FOR_PAUSE:
                return StopReason.PAUSE
            return StopReason.LOST
        self._renew_at = now + self._heartbeat_ms
        return None

    def attempt_budget_ms(self) -> int | None:
        return max(0, self._remaining_ms() - self._reserve_ms // 2)
