"""`step.do`: run a function as a durable step, with retries and a timeout per attempt."""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from lambda_workflows.api import StepContext, UndoFunction
from lambda_workflows.config import DEFAULT_STEP_CONFIG, StepConfig
from lambda_workflows.errors import (
    NonRetryableError,
    NotJsonError,
    OutputTooLargeError,
    StepTimeoutError,
    ValidationError,
)
from lambda_workflows.journal.records import (
    Attempt,
    ErrorInfo,
    StepKind,
    StepRecord,
    StepStatus,
    bounded_log,
)
from lambda_workflows.metrics import StepFailures, StepRetries, StepsCompleted
from lambda_workflows.payloads import Packed
from lambda_workflows.runtime.context import IN_STEP
from lambda_workflows.runtime.interception import AttemptOverride
from lambda_workflows.runtime.operations.base import Operation

logger = Logger(service="lambda-workflows", child=True)

_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class _Result:
    """How one attempt ended: a value, an error, or cut short by the invocation's end."""

    ok: bool
    value: Any = None
    error: BaseException | None = None
    cut: bool = False


def _wants_context(fn: Callable[..., Any]) -> bool:
    """Whether `fn` takes the step context: a parameter named `ctx`, or any required
    positional one."""
    code = getattr(fn, "__code__", None)
    if isinstance(fn, types.FunctionType) and code is not None and not hasattr(fn, "__wrapped__"):
        positional = code.co_argcount
        names = code.co_varnames[: positional + code.co_kwonlyargcount]
        return "ctx" in names or positional > len(fn.__defaults__ or ())
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "ctx"
        or (p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)
        for p in parameters
    )


def _timed_out(context: StepContext) -> StepTimeoutError:
    return StepTimeoutError(
        f"step {context.step_name!r}: attempt {context.attempt} exceeded {context.config.timeout}"
    )


class Do(Operation):
    kind = StepKind.DO

    def __init__(
        self,
        ctx: Any,
        name: str,
        fn: Callable[..., Any],
        config: StepConfig,
        undo: UndoFunction | None = None,
        undo_config: StepConfig = DEFAULT_STEP_CONFIG,
    ) -> None:
        super().__init__(ctx, name)
        self.fn = fn
        self.config = config
        self.undo = undo
        self.undo_config = undo_config

    async def __call__(self) -> Any:
        try:
            return await super().__call__()
        finally:
            record = self.record
            if (
                self.undo is not None
                and record is not None
                and record.status == StepStatus.SUCCEEDED
            ):
                self.ctx.register_undo(record, self.undo, self.undo_config, self.config)

    async def execute(self) -> Any:
        ctx = self.ctx
        config = self.config
        timeout_ms = int(config.timeout / _MS)
        attempts = list(self.record.attempts) if self.record else []
        number = self.record.attempt_count if self.record else 0
        while True:
            record = self.record
            if record is not None and record.status == StepStatus.RETRYING:
                wake_at = record.wake_at or 0
                if ctx.now() < wake_at:
                    await ctx.block(wake_at)
                    continue
            await ctx.before_attempt(timeout_ms)
            number += 1
            started = ctx.now()
            first_of_invocation = ctx.attempts_started == 1
            result = await self._attempt(StepContext(self.name, self._occurrence, number, config))
            error = result.error
            if result.cut and not first_of_invocation:
                await ctx.yield_invocation()  # a new invocation has the time it needs
            elif result.cut:  # it had a whole invocation: it can never finish in one
                error = StepTimeoutError(
                    f"step {self.name!r}: attempt {number} ran out of Lambda time; a step "
                    "must finish within one invocation (at most 15 minutes)"
                )
            if result.ok:
                try:
                    packed = ctx.infra(functools.partial(self._pack, result.value))
                except (NotJsonError, OutputTooLargeError) as exc:
                    error = type(exc)(
                        f"step {self.name!r} returned a value that cannot be stored: {exc} "
                        "(return JSON data: dict, list, str, number, bool, None, or a "
                        "pydantic model)"
                    )
                else:
                    return await self.resolve(
                        StepStatus.SUCCEEDED,
                        packed.value,
                        result=packed.inline,
                        result_ref=packed.ref,
                        attempts=bounded_log(attempts, Attempt(number, started, ctx.now())),
                        wake_at=None,
                        error=None,
                    )
            assert error is not None
            info = ErrorInfo.of(error)
            attempts = bounded_log(attempts, Attempt(number, started, ctx.now(), info))
            logger.warning(
                "step attempt failed",
                extra={"step": self.name, "attempt": number, "error": info.to_dict()},
            )
            final = isinstance(error, NonRetryableError | NotJsonError | OutputTooLargeError)
            if final or number >= config.retries.max_attempts:
                return await self.resolve(
                    StepStatus.FAILED, error=info, attempts=attempts, wake_at=None
                )
            try:
                delay = config.retries.delay_after(number)
            except ValidationError as exc:
                error = ValidationError(f"step {self.name!r}: {exc}")
                return await self.resolve(
                    StepStatus.FAILED, error=ErrorInfo.of(error), attempts=attempts, wake_at=None
                )
            if delay <= timedelta(0) and not result.cut:
                self._count(StepRetries)
                continue  # a cut attempt is journaled: the next one needs a new invocation
            await self.save(
                StepStatus.RETRYING,
                error=info,
                attempts=attempts,
                wake_at=ctx.now() + int(delay / _MS),
            )
            if self.adopted:
                assert self.record is not None
                return self.replayed(self.record)

    def journaled(self, record: StepRecord) -> None:
        if record.status == StepStatus.SUCCEEDED:
            self._count(StepsCompleted)
        elif record.status == StepStatus.FAILED:
            self._count(StepFailures)
        elif record.status == StepStatus.RETRYING:
            self._count(StepRetries)

    def _count(self, name: str) -> None:
        self.ctx.services.metrics.count(name, workflow=self.ctx.meta.workflow)

    @property
    def _occurrence(self) -> int:
        assert self.claim is not None
        return self.claim.occurrence

    def _pack(self, value: Any) -> Packed:
        assert self.claim is not None
        meta = self.ctx.meta
        owner = f"{meta.workflow}/{meta.instance_id}/{self.claim.key}"
        return self.ctx.services.payloads.pack(value, owner=owner)

    async def _attempt(self, context: StepContext) -> _Result:
        """Run one attempt. A step's own `TimeoutError` is its error; only the attempt's
        timeout is a `StepTimeoutError`; the invocation's end cuts it (`cut`)."""
        ctx = self.ctx
        interceptor = ctx.services.interceptor
        if interceptor is not None and self.kind == StepKind.DO:
            assert self.claim is not None
            override = interceptor.attempt(self.claim.target(ctx.meta), context.attempt)
            if override is not None:
                return _overridden(override, context)
        args = (context,) if _wants_context(self.fn) else ()
        limit_s: float | None = None
        cut_s: float | None = None
        if not ctx.clock.is_virtual:
            limit_s = context.config.timeout.total_seconds()
            budget = ctx.attempt_budget_ms()
            if budget is not None and budget / 1000 < limit_s:
                limit_s = cut_s = budget / 1000
        started = ctx.now()
        token = IN_STEP.set(True)
        ctx.begin_work()
        try:
            async with asyncio.timeout(limit_s) as scope:
                value = await self._call(args)
        except TimeoutError as exc:
            if not scope.expired():
                return _Result(False, error=exc)
            if cut_s is not None:
                return _Result(False, cut=True)
            return _Result(False, error=_timed_out(context))
        except Exception as exc:  # the step's failure, for the retry policy
            return _Result(False, error=exc)
        finally:
            ctx.end_work()
            IN_STEP.reset(token)
        if ctx.now() - started > context.config.timeout / _MS:
            return _Result(False, error=_timed_out(context))
        return _Result(True, value)

    async def _call(self, args: tuple[Any, ...]) -> Any:
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(*args)
        value = await self.ctx.threads.run(self.fn, *args)
        if inspect.isawaitable(value):
            value = await value
        return value


def _overridden(override: AttemptOverride, context: StepContext) -> _Result:
    if override.timeout:
        return _Result(False, error=_timed_out(context))
    if override.error is not None:
        return _Result(False, error=override.error)
    return _Result(True, override.value)
