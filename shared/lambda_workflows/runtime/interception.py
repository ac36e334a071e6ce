"""The engine's one injection point for tests: overriding what a step would do.

In production no interceptor is installed and none of this runs. The test harness
(`lambda_workflows.testing`) installs one to mock step results and errors, force
timeouts and skip sleeps, without any other code path in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class StepTarget:
    """Which step occurrence of which instance an operation is about to run."""

    workflow: str
    instance_id: str
    name: str
    occurrence: int
    event_type: str | None = None
    """The type a `step.wait_for_event` waits for."""


@dataclass(frozen=True)
class AttemptOverride:
    """What one attempt of a `step.do` does instead of calling its function.

    Exactly one of: `value` (the attempt succeeds with it), `error` (it fails with it),
    `timeout` (it fails as an attempt that ran past its timeout).
    """

    value: Any = None
    error: BaseException | None = None
    timeout: bool = False


class Interceptor(Protocol):
    """Consulted by the operations before they act; `None` answers mean "as usual"."""

    def attempt(self, target: StepTarget, attempt: int) -> AttemptOverride | None:
        """Override attempt number `attempt` (1-based) of a `step.do`."""

    def skip_sleep(self, target: StepTarget) -> bool:
        """End a `step.sleep`/`sleep_until` at once, without moving the clock."""

    def force_event_timeout(self, target: StepTarget) -> bool:
        """Time a `step.wait_for_event` out at once, even if an event is waiting."""
