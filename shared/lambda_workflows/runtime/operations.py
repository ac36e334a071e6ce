"""One function per durable operation: do, sleep, wait_for_event, wait_for_workflow.

Each follows the same shape: claim a position; if the journal resolved it, wait for its
replay turn and return what it returned; otherwise wait for the replay to drain and
continue live from whatever state the journal holds (retrying, sleeping, waiting).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from lambda_workflows.api import StepContext
from lambda_workflows.clock import from_ms
from lambda_workflows.config import StepConfig
from lambda_workflows.errors import (
    NonRetryableError,
    StepError,
    StepTimeoutError,
    WaitTimeoutError,
)
from lambda_workflows.instances import OPEN, child_done_event
from lambda_workflows.journal.base import ConditionFailedError
from lambda_workflows.journal.records import (
    FINISHED,
    RESOLVED,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    StepKind,
    StepRecord,
    StepStatus,
    watcher_key,
)
from lambda_workflows.payloads import NotJsonError, OutputTooLargeError
from lambda_workflows.runtime.executor import IN_STEP, Claim, ReplayExecutor, error_info
from lambda_workflows.runtime.interception import AttemptOverride

logger = Logger(service="lambda-workflows", child=True)


def _new_record(ex: ReplayExecutor, claim: Claim, status: StepStatus, **fields: Any) -> StepRecord:
    return StepRecord(
        name=claim.name,
        occurrence=claim.occurrence,
        kind=claim.kind,
        position=claim.position,
        status=status,
        generation=ex.meta.generation,
        **fields,
    )


async def _save(
    ex: ReplayExecutor, claim: Claim, previous: StepRecord | None, status: StepStatus, **fields: Any
) -> StepRecord:
    """Write the next state of a step (one conditional write).

    A completion then waits for its turn to be handed back, as on replay.
    """
    done = None
    if status in RESOLVED:
        fields.setdefault("finished_at", ex.now())
        done = fields["done"] = ex.next_done()
    if previous is None:
        fields.setdefault("started_at", ex.now())
        record = ex.write(_new_record(ex, claim, status, **fields), None)
    else:
        update = dataclasses.replace(
            previous, status=status, version=previous.version + 1, **fields
        )
        record = ex.write(update, previous.version)
    if done is not None:
        await ex.turn(done)
    return record


async def _replay(ex: ReplayExecutor, record: StepRecord) -> Any:
    """A journaled resolution: wait for its turn, then return (or raise) what it did."""
    assert record.done is not None
    await ex.turn(record.done)
    return _replayed_value(ex, record)


def _replayed_value(ex: ReplayExecutor, record: StepRecord) -> Any:
    if record.status == StepStatus.SUCCEEDED:
        return ex.infra(lambda: ex.services.payloads.unpack(record.result, record.result_ref))
    error = record.error or {}
    if record.status == StepStatus.TIMED_OUT:
        raise WaitTimeoutError(record.name, record.event_type or "")
    raise StepError(record.name, str(error.get("name", "Error")), str(error.get("message", "")))


def _wants_context(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "ctx"
        or (p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)
        for p in parameters
    )


def _overridden(override: AttemptOverride, context: StepContext) -> tuple[bool, Any]:
    if override.timeout:
        timeout = context.config.timeout
        return False, StepTimeoutError(f"attempt {context.attempt} exceeded {timeout}")
    if override.error is not None:
        return False, override.error
    return True, override.value


async def _attempt(
    ex: ReplayExecutor, claim: Claim, fn: Callable[..., Any], context: StepContext
) -> tuple[bool, Any]:
    """Run one attempt; return (True, value) or (False, exception)."""
    interceptor = ex.services.interceptor
    if interceptor is not None:
        override = interceptor.attempt(claim.target(ex.meta), context.attempt)
        if override is not None:
            return _overridden(override, context)
    args = (context,) if _wants_context(fn) else ()
    timeout = context.config.timeout
    real_timeout: float | None = None
    if not ex.clock.is_virtual:
        real_timeout = timeout.total_seconds()
        budget = ex.policy.attempt_budget_ms()
        if budget is not None:
            real_timeout = min(real_timeout, budget / 1000)
    started = ex.now()
    token = IN_STEP.set(True)
    ex.begin_work()
    try:
        if inspect.iscoroutinefunction(fn):
            value = await asyncio.wait_for(fn(*args), real_timeout)
        else:
            loop = asyncio.get_running_loop()
            call = contextvars.copy_context().run
            future = loop.run_in_executor(ex.pool, call, fn, *args)
            value = await asyncio.wait_for(future, real_timeout)
            if inspect.isawaitable(value):
                value = await asyncio.wait_for(value, real_timeout)
    except TimeoutError:
        return False, StepTimeoutError(f"attempt {context.attempt} exceeded {timeout}")
    except Exception as exc:  # a step's failure, reported to the retry policy
        return False, exc
    finally:
        ex.end_work()
        IN_STEP.reset(token)
    if ex.now() - started > timeout / timedelta(milliseconds=1):
        return False, StepTimeoutError(f"attempt {context.attempt} exceeded {timeout}")
    return True, value


async def do(ex: ReplayExecutor, name: str, fn: Callable[..., Any], config: StepConfig) -> Any:
    claim = ex.claim(name, StepKind.DO)
    record = claim.record
    if record is not None and record.resolved:
        return await _replay(ex, record)
    await ex.live_turn()
    attempts: list[dict[str, Any]] = list(record.attempts) if record else []
    while True:
        if record is not None and record.status == StepStatus.RETRYING:
            wake_at = record.wake_at or 0
            if ex.now() < wake_at:
                await ex.block(wake_at)
                continue
        await ex.check_stop()
        number = len(attempts) + 1
        started = ex.now()
        context = StepContext(name, claim.occurrence, number, config)
        ok, value = await _attempt(ex, claim, fn, context)
        entry: dict[str, Any] = {"attempt": number, "started_at": started, "finished_at": ex.now()}
        retryable = True
        if ok:
            try:
                inline, ref, value = ex.infra(
                    functools.partial(
                        ex.services.payloads.pack,
                        value,
                        owner=f"{ex.meta.workflow}/{ex.meta.instance_id}/{claim.key}",
                    )
                )
            except (NotJsonError, OutputTooLargeError) as exc:
                ok, retryable = False, False
                value = type(exc)(f"step {name!r} returned a value that cannot be stored: {exc}")
        if ok:
            attempts.append(entry)
            await _save(
                ex,
                claim,
                record,
                StepStatus.SUCCEEDED,
                result=inline,
                result_ref=ref,
                attempts=attempts,
                wake_at=None,
                error=None,
            )
            return value
        error = error_info(value)
        entry["error"] = error
        attempts.append(entry)
        logger.warning(
            "step attempt failed", extra={"step": name, "attempt": number, "error": error}
        )
        if isinstance(value, NonRetryableError):
            retryable = False
        if not retryable or number >= config.retries.max_attempts:
            await _save(
                ex, claim, record, StepStatus.FAILED, error=error, attempts=attempts, wake_at=None
            )
            raise StepError(name, error["name"], error["message"])
        delay = config.retries.delay_after(number)
        if delay <= timedelta(0):
            continue
        record = await _save(
            ex,
            claim,
            record,
            StepStatus.RETRYING,
            error=error,
            attempts=attempts,
            wake_at=ex.now() + int(delay / timedelta(milliseconds=1)),
        )


async def sleep_until(ex: ReplayExecutor, name: str, wake_at: int | None, duration_ms: int) -> None:
    """Sleep until `wake_at`, or for `duration_ms` from the first call when it is None."""
    claim = ex.claim(name, StepKind.SLEEP)
    record = claim.record
    if record is not None and record.resolved:
        await _replay(ex, record)
        return
    await ex.live_turn()
    interceptor = ex.services.interceptor
    if interceptor is not None and interceptor.skip_sleep(claim.target(ex.meta)):
        await _save(ex, claim, record, StepStatus.SUCCEEDED, wake_at=ex.now())
        return
    if record is None:
        target = wake_at if wake_at is not None else ex.now() + duration_ms
        if target <= ex.now():
            await _save(ex, claim, None, StepStatus.SUCCEEDED, wake_at=target)
            return
        record = await _save(ex, claim, None, StepStatus.SLEEPING, wake_at=target)
    target = record.wake_at or 0
    while ex.now() < target:
        await ex.block(target)
    await _save(ex, claim, record, StepStatus.SUCCEEDED)


def _take_event(ex: ReplayExecutor, event_type: str) -> EventRecord | None:
    for event in ex.snapshot.events:
        if event.type == event_type and event.seq not in ex.consumed_events:
            return event
    return None


def _event_value(event: EventRecord) -> dict[str, Any]:
    return {
        "payload": event.payload,
        "timestamp": from_ms(event.timestamp).isoformat(),
        "type": event.type,
    }


async def wait_for_event(
    ex: ReplayExecutor, name: str, event_type: str, timeout_ms: int
) -> dict[str, Any]:
    claim = ex.claim(name, StepKind.WAIT_FOR_EVENT)
    record = claim.record
    if record is not None and record.resolved:
        value: dict[str, Any] = await _replay(ex, record)
        return value
    await ex.live_turn()
    interceptor = ex.services.interceptor
    if interceptor is not None and interceptor.force_event_timeout(claim.target(ex.meta)):
        await _save(ex, claim, record, StepStatus.TIMED_OUT, event_type=event_type)
        raise WaitTimeoutError(name, event_type)
    while True:
        event = _take_event(ex, event_type)
        if event is not None:
            value = _event_value(event)
            await _save(
                ex,
                claim,
                record,
                StepStatus.SUCCEEDED,
                result=value,
                event_seq=event.seq,
                event_type=event_type,
            )
            return value
        if record is None:
            record = await _save(
                ex,
                claim,
                None,
                StepStatus.WAITING,
                wake_at=ex.now() + timeout_ms,
                event_type=event_type,
            )
        deadline = record.wake_at or 0
        if ex.now() >= deadline:
            await _save(ex, claim, record, StepStatus.TIMED_OUT)
            raise WaitTimeoutError(name, event_type)
        await ex.block(deadline)


def _child_outcome(
    ex: ReplayExecutor, child: InstanceMeta | None, workflow: str, instance_id: str
) -> tuple[StepStatus, dict[str, Any]] | None:
    """How a wait for `child` resolves now, or None if not yet: (status, record fields,
    plus `value`, the output as replay will return it, when the child completed)."""
    if child is None:
        error = {
            "name": "InstanceNotFoundError",
            "message": f"no instance {workflow}/{instance_id}",
        }
        return StepStatus.FAILED, {"error": error}
    if child.status not in FINISHED:
        return None
    if child.status == InstanceStatus.COMPLETE:
        output = ex.infra(lambda: ex.services.payloads.unpack(child.output, child.output_ref))
        inline, ref, value = ex.infra(
            functools.partial(
                ex.services.payloads.pack,
                output,
                owner=f"{ex.meta.workflow}/{ex.meta.instance_id}/{workflow}-{instance_id}",
            )
        )
        return StepStatus.SUCCEEDED, {"result": inline, "result_ref": ref, "value": value}
    cause = child.error or {}
    detail = f": {cause.get('name')}: {cause.get('message')}" if cause else ""
    error = {
        "name": f"Workflow{str(child.status).capitalize()}",
        "message": f"{workflow}/{instance_id} {child.status}{detail}",
    }
    return StepStatus.FAILED, {"error": error}


async def wait_for_workflow(
    ex: ReplayExecutor, name: str, workflow: str, instance_id: str, timeout_ms: int
) -> Any:
    """Suspend until another instance ends; return its output (its failure: `StepError`).

    The waiter registers itself in the child's `watchers`; the child's end delivers an
    internal event that wakes the waiter, which then reads the child's outcome. Every
    pass reads the child first, so a lost notification only delays the waiter until its
    deadline, never hides the outcome.
    """
    claim = ex.claim(name, StepKind.WAIT_FOR_WORKFLOW)
    record = claim.record
    if record is not None and record.resolved:
        return await _replay(ex, record)
    await ex.live_turn()
    journal = ex.services.journal
    me = watcher_key(ex.meta.workflow, ex.meta.instance_id)
    kind = child_done_event(workflow, instance_id)
    while True:
        child = ex.infra(lambda: journal.get_meta(workflow, instance_id))
        outcome = _child_outcome(ex, child, workflow, instance_id)
        if outcome is not None:
            status, fields = outcome
            value = fields.pop("value", None)
            resolved = await _save(ex, claim, record, status, event_type=kind, **fields)
            return value if status == StepStatus.SUCCEEDED else _replayed_value(ex, resolved)
        try:  # every pass: a restarted child has forgotten earlier registrations
            ex.infra(lambda: journal.add_watcher(workflow, instance_id, me, OPEN))
        except ConditionFailedError:
            continue
        if record is None:
            record = await _save(
                ex, claim, None, StepStatus.WAITING, wake_at=ex.now() + timeout_ms, event_type=kind
            )
        deadline = record.wake_at or 0
        if ex.now() >= deadline:
            await _save(ex, claim, record, StepStatus.TIMED_OUT)
            raise WaitTimeoutError(name, kind)
        await ex.block(deadline)
