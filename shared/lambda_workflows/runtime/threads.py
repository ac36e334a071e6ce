"""Where sync step functions run: one fresh daemon thread per attempt.

A pool would let a step that ignores its timeout keep a worker slot for good: enough of
them and every later step of every instance on that worker waits behind them. A fresh
thread costs tens of microseconds; a hung one holds only itself, and dies with the
Lambda execution environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import threading
from collections.abc import Callable
from typing import Any


class StepThreads:
    """Runs sync step functions off the event loop."""

    def __init__(self, name_prefix: str = "lwf-step") -> None:
        self._prefix = name_prefix
        self._numbers = itertools.count()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Start `fn(*args)` on a new thread (in a copy of the current context); the
        future resolves with its result. Cancelling the future abandons the thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()

        def settle(ok: bool, value: Any) -> None:
            if future.done():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def target() -> None:
            try:
                result = context.run(fn, *args)
            except BaseException as exc:  # handed to the awaiting attempt
                outcome: tuple[bool, Any] = (False, exc)
            else:
                outcome = (True, result)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, *outcome)

        thread = threading.Thread(
            target=target, name=f"{self._prefix}-{next(self._numbers)}", daemon=True
        )
        thread.start()
        return future
