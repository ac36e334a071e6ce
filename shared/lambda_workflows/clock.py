"""The one source of time for the engine, the local cloud and the tests.

Nothing else in the project reads the wall clock: everything asks a `Clock`, so tests
can run a seven-day sleep in milliseconds on a `VirtualClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime.

    `is_virtual` clocks move only when told to: the engine then enforces step timeouts
    on the clock's time alone and never arms a real timer.
    """

    is_virtual: bool

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    is_virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """The wall clock run `scale` times faster from the moment it is made, and moved
    forward by `advance_to` (`lwf dev --time-scale`, `--skip-sleeps`). It moves by
    itself, so it is not virtual: step timeouts still arm real timers."""

    is_virtual = False

    def __init__(self, scale: float = 1.0, start: datetime | None = None) -> None:
        """`start`: the time it tells now (default: the wall clock's)."""
        if not scale > 0:
            raise ValueError("a time scale must be positive")
        self.scale = scale
        self._origin = start.timestamp() if start is not None else time.time()
        self._started = time.monotonic()
        self._jumped = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._started) * self.scale
            return datetime.fromtimestamp(self._origin + elapsed + self._jumped, UTC)

    def advance_to(self, when: datetime) -> datetime:
        """Jump to `when` if that is later than now."""
        with self._lock:
            elapsed = (time.monotonic() - self._started) * self.scale
            current = self._origin + elapsed + self._jumped
            self._jumped += max(0.0, when.timestamp() - current)
        return self.now()

    def real_seconds(self, clock_ms: float) -> float:
        """How long `clock_ms` of this clock's time takes on the wall clock."""
        return max(0.0, clock_ms) / 1000 / self.scale


class VirtualClock:
    """A clock that moves only when told to (thread-safe)."""

    is_virtual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` (never backwards)."""
        if delta < timedelta(0):
            raise ValueError("a clock cannot move backwards")
        with self._lock:
            self._now += delta
            return self._now

    def advance_to(self, when: datetime) -> datetime:
        """Move the clock to `when` if that is later than now."""
        with self._lock:
            self._now = max(self._now, when)
            return self._now


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def now_ms(clock: Clock) -> int:
    """The clock's current time in epoch milliseconds."""
    return to_ms(clock.now())


def wait_real(seconds: float, stop: threading.Event | None = None) -> bool:
    """Block for up to `seconds` of real time (the local dev loop only; never in tests).

    Returns True when `stop` was set.
    """
    event = stop or threading.Event()
    return event.wait(max(0.0, seconds))


def monotonic() -> float:
    """Seconds on a monotonic clock, for measuring durations (not for the engine's time)."""
    return time.monotonic()
