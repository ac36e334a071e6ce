"""The worker Lambda: SQS batch in, partial batch failures out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from lambda_workflows.engine import Engine
from lambda_workflows.runtime.worker import log_keys, logger
from lambda_workflows.wakeups import Wakeup


class EngineHandler:
    """A Lambda handler whose engine is built on first use (the cold start), then kept."""

    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._factory = engine_factory
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    def flush_metrics(self) -> None:
        """Write out the metrics buffered so far, if the services' metrics buffer them
        (EMF on AWS); a failure is logged, never raised: the work is done already."""
        flush = getattr(self.engine.services.metrics, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except Exception:
            logger.exception("could not flush the metrics")


class WorkerHandler(EngineHandler):
    """The worker: an SQS batch of wake-ups in, partial batch failures out.

    Log lines carry the invocation's `request_id`; the metrics are flushed after each
    batch."""

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        engine = self.engine
        remaining: Callable[[], int] = context.get_remaining_time_in_millis
        request_id = getattr(context, "aws_request_id", None)
        keys = {"request_id": request_id} if isinstance(request_id, str) and request_id else {}

        def handle(record: SQSRecord) -> str:
            return engine.worker.process(Wakeup.from_json(record.body), remaining)

        processor = BatchProcessor(event_type=EventType.SQS)
        try:
            with log_keys(**keys):
                response = process_partial_response(
                    event=event, record_handler=handle, processor=processor, context=context
                )
        finally:
            self.flush_metrics()
        return dict(response)
