"""Step operations that `run()` leaves behind: called but never awaited (a forgotten
`await`), or handed to asyncio as a task that never finished (a dangling task).

Checked when `run()` ends, never before: an operation may be awaited well after it is
called (`calls = [step.do(...) for ...]`, then each awaited in turn).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_workflows.errors import NotAwaitedError

_PACKAGE = str(Path(__file__).resolve().parents[1])


def call_site() -> str:
    """`file:line` of the nearest caller outside this package (the workflow's code)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "an unknown line"
    filename = frame.f_code.co_filename
    try:
        shown = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        shown = filename
    return f"{filename if shown.startswith('..') else shown}:{frame.f_lineno}"


@dataclass
class StepCall:
    """A step operation's coroutine, where it was called, and the task asyncio made of it."""

    coro: Coroutine[Any, Any, Any]
    what: str
    name: str
    where: str
    task: asyncio.Task[Any] | None = None

    @property
    def never_started(self) -> bool:
        return inspect.getcoroutinestate(self.coro) == inspect.CORO_CREATED

    @property
    def finished(self) -> bool:
        return self.task.done() if self.task is not None else not self.never_started

    def error(self) -> NotAwaitedError:
        shown = repr(self.name) if self.name else "..."
        call = f"{self.what}({shown}) at {self.where}"
        if self.task is None:
            return NotAwaitedError(
                f"{call} was never awaited, so it did not run: write `await {self.what}(...)` "
                "(or pass it to asyncio.gather / asyncio.create_task and await that)"
            )
        return NotAwaitedError(
            f"{call} was made a task that never ran before run() returned: await the task "
            "(a task run() does not wait for can be cut off when run() ends)"
        )


def left_behind(calls: Iterable[StepCall], *, tasks_too: bool) -> StepCall | None:
    """The first operation that never started: never awaited (and, with `tasks_too`, made
    a task that never ran). One that started and did not finish is not reported: a race's
    loser that `run()` did not cancel is cut off on purpose."""
    for call in calls:
        if call.never_started and (tasks_too or call.task is None):
            return call
    return None


def forget_finished(calls: dict[int, StepCall]) -> None:
    """Drop the operations that have run, so long runs keep few entries."""
    for key, call in list(calls.items()):
        if call.finished:
            del calls[key]
