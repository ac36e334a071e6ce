"""Wake-up messages: "run instance X (generation g)", delivered now or later."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from lambda_workflows.errors import ValidationError

MAX_QUEUE_DELAY_MS = 15 * 60 * 1000
"""Delays up to this go through SQS DelaySeconds; longer ones through EventBridge Scheduler."""


@dataclass(frozen=True)
class Wakeup:
    """Body of a wake-up message.

    A stale `generation` (the instance was restarted or terminated) or `epoch` (it has
    suspended since this was sent, and sent its own wake-up then) makes it a no-op, so a
    duplicated message dies out instead of doubling every later wake-up. `retry` counts
    the prompt re-tries after transient errors."""

    workflow: str
    instance_id: str
    generation: int
    epoch: int = 0
    retry: int = 0

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "w": self.workflow,
            "i": self.instance_id,
            "g": self.generation,
            "e": self.epoch,
        }
        if self.retry:
            data["r"] = self.retry
        return json.dumps(data)

    @classmethod
    def from_json(cls, body: str) -> Wakeup:
        """Parse a message body; `ValidationError` when it is not a wake-up."""
        try:
            data: dict[str, Any] = json.loads(body)
            return cls(
                str(data["w"]),
                str(data["i"]),
                int(data["g"]),
                int(data.get("e", 0)),
                int(data.get("r", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"not a wake-up message: {body[:200]!r}") from exc


class WakeupSender(Protocol):
    """Sends wake-ups (SQS + EventBridge Scheduler on AWS)."""

    def send(self, wakeup: Wakeup, *, at_ms: int, now_ms: int) -> None:
        """Deliver `wakeup` at `at_ms` (at once when that is not in the future)."""

    def send_now(self, wakeups: list[Wakeup]) -> None:
        """Deliver several wake-ups at once (batched)."""


class MemoryWakeups:
    """Records wake-ups in a list (unit tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[Wakeup, int]] = []
        self._lock = threading.Lock()

    def send(self, wakeup: Wakeup, *, at_ms: int, now_ms: int) -> None:
        with self._lock:
            self.sent.append((wakeup, max(at_ms, now_ms)))

    def send_now(self, wakeups: list[Wakeup]) -> None:
        with self._lock:
            self.sent.extend((w, 0) for w in wakeups)
