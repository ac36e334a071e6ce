"""The API Lambda: API Gateway REST proxy events in, proxy responses out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from lambda_workflows.engine import Engine
from lambda_workflows.errors import ValidationError
from lambda_workflows.handlers.worker import EngineHandler
from lambda_workflows.http.resolver import build_api, error_proxy_response
from lambda_workflows.http.screening import printable, screen
from lambda_workflows.metrics import ClientErrors, ServerErrors

MAX_BODY_BYTES = 1024 * 1024
TIME_HEADER = "X-Workflows-Time"
"""Every answer carries the engine clock's time (ISO 8601 UTC): a client sees when the
clock is not the wall clock (`lwf dev --time-scale`, `--skip-sleeps`)."""
"""Largest request body the API takes (params up to 32 MiB go through the Python API)."""

logger = Logger(service="lambda-workflows", child=True)
_LOG_KEYS = ("request_id", "workflow", "instance_id", "instance_ids")


def _path_keys(path: str) -> dict[str, str]:
    parts = printable(path).strip("/").split("/")
    keys: dict[str, str] = {}
    if len(parts) >= 2 and parts[0] == "workflows":
        keys["workflow"] = parts[1][:64]
    if len(parts) >= 4 and parts[2] == "instances" and parts[3] != "batch":
        keys["instance_id"] = parts[3][:100]
    return keys


class ApiHandler(EngineHandler):
    """The instance API: routes, validation, OpenAPI at `/openapi.json`, Swagger at `/docs`."""

    def __init__(
        self, engine_factory: Callable[[], Engine], max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        super().__init__(engine_factory)
        self.max_body_bytes = max_body_bytes
        self._api: APIGatewayRestResolver | None = None

    @property
    def api(self) -> APIGatewayRestResolver:
        if self._api is None:
            self._api = build_api(self.engine)
        return self._api

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        api = self.api
        # A direct invocation can send any JSON: read the log keys without trusting it
        # (`screen` answers 400 to an event of the wrong shape).
        raw: dict[str, Any] = event if isinstance(event, dict) else {}
        request_context = raw.get("requestContext")
        request_id = (
            request_context.get("requestId") if isinstance(request_context, dict) else None
        ) or getattr(context, "aws_request_id", None)
        path = raw.get("path") if isinstance(raw.get("path"), str) else ""
        method = raw.get("httpMethod")
        logger.thread_safe_append_keys(
            request_id=None if request_id is None else printable(str(request_id)),
            **_path_keys(str(path)),
        )
        try:
            try:
                response = api.resolve(screen(event, self.max_body_bytes), context)
            except ValidationError as rejected:
                response = error_proxy_response(rejected)
            status = int(response.get("statusCode", 500))
            headers = response.get("headers")
            if not isinstance(headers, dict):
                headers = response["headers"] = {}
            headers[TIME_HEADER] = self.engine.services.clock.now().isoformat()
            metrics = self.engine.services.metrics
            if status >= 500:
                metrics.count(ServerErrors)
            elif status >= 400:
                metrics.count(ClientErrors)
            logger.info(
                "request",
                extra={
                    "method": printable(method) if isinstance(method, str) else None,
                    "path": printable(str(path)),
                    "status": status,
                },
            )
            return response
        finally:
            logger.thread_safe_remove_keys(_LOG_KEYS)
            self.flush_metrics()
