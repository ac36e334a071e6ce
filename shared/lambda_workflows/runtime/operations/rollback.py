"""Saga rollback: the undo of a completed `step.do`, run as a durable step of its own.

An undo is registered when its step succeeds (on the first run and on every replay
alike); the executor runs the registered undos in reverse completion order once `run()`
has ended in an error, or when the instance is terminated with rollback. Each undo is a
`rollback` record with the name and occurrence of the step it undoes, retried like a step
under its own config.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lambda_workflows.api import RollbackContext, StepContext, UndoFunction
from lambda_workflows.config import StepConfig
from lambda_workflows.journal.records import ErrorInfo, StepKind, StepRecord
from lambda_workflows.runtime.operations.do import Do


@dataclass(frozen=True)
class Undo:
    """A registered undo: the succeeded step's record, the undo and both configs."""

    record: StepRecord
    fn: UndoFunction
    config: StepConfig
    step_config: StepConfig

    @property
    def done(self) -> int:
        assert self.record.done is not None
        return self.record.done


def _context_passing(fn: Callable[..., Any]) -> str | None:
    """How `fn` takes the rollback context: "positional" (a second positional parameter,
    or `*args`), "keyword" (a keyword-only `ctx`), or None."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 2:
        return "positional"
    if any(p.name == "ctx" and p.kind == p.KEYWORD_ONLY for p in parameters):
        return "keyword"
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return "positional"
    return None


async def _discard(result: Awaitable[Any]) -> None:
    await result


def _runner(undo: Undo, value: Any, error: ErrorInfo | None) -> Callable[[StepContext], Any]:
    """The undo as a step function: it gets the step's result, and the rollback context
    if it asks for one; what it returns is not kept (an undo's result need not be JSON)."""
    record = undo.record
    passing = _context_passing(undo.fn)
    fn: Callable[..., Any] = undo.fn

    def call(attempt: StepContext) -> Any:
        if passing is None:
            return fn(value)
        step = StepContext(record.name, record.occurrence, record.attempt_count, undo.step_config)
        context = RollbackContext(step, attempt.attempt, error)
        return fn(value, context) if passing == "positional" else fn(value, ctx=context)

    if inspect.iscoroutinefunction(undo.fn):

        async def run_async(attempt: StepContext) -> None:
            await call(attempt)

        return run_async

    def run_sync(attempt: StepContext) -> Any:
        result = call(attempt)
        return _discard(result) if inspect.isawaitable(result) else None

    return run_sync


class Rollback(Do):
    """One undo of the rollback chain."""

    kind = StepKind.ROLLBACK

    def __init__(self, ctx: Any, undo: Undo, value: Any, error: ErrorInfo | None) -> None:
        super().__init__(ctx, undo.record.name, _runner(undo, value, error), undo.config)
        self.occurrence = undo.record.occurrence
