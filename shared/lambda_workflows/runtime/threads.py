"""Where sync step functions run: threads that serve one attempt at a time.

A fixed pool would let a step that ignores its timeout keep a slot for good: enough of
them and every later step of every instance on that worker waits behind them. Here a
thread goes back to the idle list only when its attempt has returned; a hung one holds
only itself (and dies with the Lambda execution environment). New threads start when no
idle one is free, so nothing ever waits for a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import threading
from collections.abc import Callable
from typing import Any

_Job = Callable[[], None]


class _Worker:
    """A daemon thread running the jobs handed to it, one at a time."""

    def __init__(self, name: str, threads: StepThreads) -> None:
        self._job: _Job | None = None
        self._ready = threading.Event()
        self._threads = threads
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def start(self, job: _Job) -> None:
        self._job = job
        self._ready.set()

    def _serve(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            job, self._job = self._job, None
            assert job is not None
            job()
            if not self._threads.give_back(self):
                return


class StepThreads:
    """Runs sync step functions off the event loop."""

    max_idle = 32
    """Idle threads kept for reuse; more end when their attempt does."""

    def __init__(self, name_prefix: str = "lwf-step") -> None:
        self._prefix = name_prefix
        self._numbers = itertools.count()
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Start `fn(*args)` on an idle or a new thread (in a copy of the current
        context); the future resolves with its result. Cancelling the future abandons
        the attempt: its thread is reused only once the function returns."""
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

        def job() -> None:
            try:
                outcome: tuple[bool, Any] = (True, context.run(fn, *args))
            except BaseException as exc:  # handed to the awaiting attempt
                outcome = (False, exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, *outcome)

        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(f"{self._prefix}-{next(self._numbers)}", self)
        worker.start(job)
        return future

    def give_back(self, worker: _Worker) -> bool:
        """A thread finished its attempt: keep it for reuse (True) or let it end."""
        with self._lock:
            if len(self._idle) >= self.max_idle:
                return False
            self._idle.append(worker)
            return True
