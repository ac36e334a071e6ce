"""The engine's log lines carry the test env's virtual time, so a line logged during a
7-day sleep says so (the wall clock of a test run means nothing to the workflow)."""

from __future__ import annotations

import logging

from lambda_workflows.clock import Clock, now_ms

ENGINE_LOGGER = "lambda-workflows"
"""The Powertools service every engine logger shares (its handlers format every line)."""


class VirtualTime(logging.Filter):
    """Stamps each record with the clock's time (`created`, `msecs`)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        ms = now_ms(self._clock)
        record.created = ms / 1000
        record.msecs = ms % 1000
        return True


class VirtualLogTime:
    """Adds `VirtualTime` to the engine logger's handlers while a test env is open."""

    def __init__(self, clock: Clock) -> None:
        self._filter = VirtualTime(clock)
        self._handlers: list[logging.Handler] = []

    def __enter__(self) -> VirtualLogTime:
        self._handlers = list(logging.getLogger(ENGINE_LOGGER).handlers)
        for handler in self._handlers:
            handler.addFilter(self._filter)
        return self

    def __exit__(self, *exc: object) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._filter)
        self._handlers = []
