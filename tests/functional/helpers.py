"""Shared bits of the functional tests."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any


class Calls:
    """Counts step-function calls and the virtual time of each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self, clock: Any = None) -> None:
        """Forget earlier calls; stamp new ones with `clock` (a test env's clock)."""
        self.count: Counter[str] = Counter()
        self.times: dict[str, list[datetime]] = {}
        self.clock = clock

    def hit(self, name: str) -> int:
        with self._lock:
            self.count[name] += 1
            if self.clock is not None:
                self.times.setdefault(name, []).append(self.clock.now())
            return self.count[name]

    def seconds(self, name: str) -> list[float]:
        start = self.times[name][0]
        return [(t - start).total_seconds() for t in self.times[name]]
