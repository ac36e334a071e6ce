"""Step operations that are called but never awaited (a forgotten `await`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Coroutine
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
    """A step operation's coroutine, where it was called, and whether asyncio took it."""

    coro: Coroutine[Any, Any, Any]
    what: str
    name: str
    branch: str
    where: str
    scheduled: bool = False

    def error(self) -> NotAwaitedError:
        return NotAwaitedError(
            f"{self.what}({self.name!r}) at {self.where} was never awaited, so it would not "
            f"run: write `await {self.what}(...)` (or pass it to asyncio.gather / "
            "asyncio.create_task) where you call it"
        )
