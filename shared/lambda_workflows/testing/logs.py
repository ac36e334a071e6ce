"""While a test env is open, every log record carries its virtual time (`created`), so a
line logged after a 7-day sleep says so: the engine's lines, the workflow's own, and what
pytest's `caplog` captures. The wall clock of a test run means nothing to a workflow."""

from __future__ import annotations

import logging
from typing import Any

from lambda_workflows.clock import Clock, now_ms


class VirtualLogTime:
    """Installs a log record factory that stamps records with `clock`'s time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._previous: Any = None

    def __enter__(self) -> VirtualLogTime:
        previous = self._previous = logging.getLogRecordFactory()
        clock = self._clock

        def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record: logging.LogRecord = previous(*args, **kwargs)
            ms = now_ms(clock)
            record.created = ms / 1000
            record.msecs = ms % 1000
            return record

        logging.setLogRecordFactory(stamped)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            logging.setLogRecordFactory(self._previous)
            self._previous = None
