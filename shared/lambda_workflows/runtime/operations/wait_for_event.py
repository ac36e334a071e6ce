"""`step.wait_for_event`: consume the oldest unconsumed event of a type, or time out."""

from __future__ import annotations

import dataclasses
from typing import Any

from lambda_workflows.journal.records import EventRecord, StepKind, StepRecord, StepStatus
from lambda_workflows.payloads import Payloads
from lambda_workflows.runtime.context import ReplayContext
from lambda_workflows.runtime.operations.base import Operation


def event_value(event: EventRecord, payloads: Payloads) -> dict[str, Any]:
    """What `step.wait_for_event` returns for an inbox event."""
    return event.as_received(payloads.unpack(event.payload, event.payload_ref))


class WaitForEvent(Operation):
    """The record of a received event keeps only the event's number: the value is the
    inbox event itself, so a large payload is stored once (and offloaded once)."""

    kind = StepKind.WAIT_FOR_EVENT

    def __init__(self, ctx: ReplayContext, name: str, event_type: str, timeout_ms: int) -> None:
        super().__init__(ctx, name)
        self.event_type = event_type
        self.timeout_ms = timeout_ms

    def replayed(self, record: StepRecord) -> Any:
        if record.status != StepStatus.SUCCEEDED:
            return super().replayed(record)
        if record.event_seq is None or record.result is not None:
            return super().replayed(record)  # journaled before events were referenced
        return self._value(self.ctx.event(record.event_seq))

    def _value(self, event: EventRecord) -> dict[str, Any]:
        return self.ctx.infra(lambda: event_value(event, self.ctx.services.payloads))

    async def execute(self) -> Any:
        ctx = self.ctx
        interceptor = ctx.services.interceptor
        assert self.claim is not None
        target = dataclasses.replace(self.claim.target(ctx.meta), event_type=self.event_type)
        if interceptor is not None and interceptor.force_event_timeout(target):
            return await self.resolve(StepStatus.TIMED_OUT, event_type=self.event_type)
        while True:
            event = ctx.next_event(self.event_type)
            if event is not None:
                return await self.resolve(
                    StepStatus.SUCCEEDED,
                    self._value(event),
                    event_seq=event.seq,
                    event_type=self.event_type,
                    wake_at=None,
                )
            resolved = await self.wait_pass(self.timeout_ms, self.event_type)
            if resolved is not None:
                return resolved[0]
