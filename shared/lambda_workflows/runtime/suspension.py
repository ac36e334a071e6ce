"""Control flow that user code must not swallow."""

from __future__ import annotations

from enum import StrEnum


class Suspended(BaseException):
    """Thrown into blocked operations when the invocation stops.

    A BaseException, so `except Exception` in a workflow cannot catch it.
    """


class StopReason(StrEnum):
    YIELD = "yield"
    """Lambda time is short: stop starting steps, continue in a new invocation."""
    PAUSE = "pause"
    """A pause was requested: stop at this step boundary."""
    TERMINATE = "terminate"
    """`terminate(rollback=True)` was asked: stop `run()`, roll back, end terminated."""
    LOST = "lost"
    """Another worker owns the instance now (lease expired, terminated, restarted)."""
