"""The API Lambda: API Gateway REST proxy events in, proxy responses out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from lambda_workflows.engine import Engine
from lambda_workflows.handlers.worker import EngineHandler
from lambda_workflows.http.resolver import build_api
from lambda_workflows.metrics import ClientErrors, ServerErrors

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body the API takes (params up to 32 MiB go through the Python API)."""

logger = Logger(service="lambda-workflows", child=True)
_LOG_KEYS = ("request_id", "workflow", "instance_id")


def _body_bytes(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode()) if isinstance(body, str) else 0


def _path_keys(path: str) -> dict[str, str]:
    parts = path.strip("/").split("/")
    keys: dict[str, str] = {}
    if len(parts) >= 2 and parts[0] == "workflows":
        keys["workflow"] = parts[1][:64]
    if len(parts) >= 4 and parts[2] == "instances" and parts[3] != "batch":
        keys["instance_id"] = parts[3][:100]
    return keys


def too_large(max_bytes: int) -> dict[str, Any]:
    """The 413 proxy response (sent before the body is parsed)."""
    body = {
        "error": {
            "code": "payload_too_large",
            "message": f"the request body is over {max_bytes} bytes; pass large data by "
            "reference (e.g. a bucket key)",
        }
    }
    return {
        "statusCode": 413,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


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

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        api = self.api
        request_id = (event.get("requestContext") or {}).get("requestId") or getattr(
            context, "aws_request_id", None
        )
        logger.thread_safe_append_keys(
            request_id=request_id, **_path_keys(str(event.get("path") or ""))
        )
        try:
            if _body_bytes(event) > self.max_body_bytes:
                response = too_large(self.max_body_bytes)
            else:
                response = api.resolve(event, context)
            status = int(response.get("statusCode", 500))
            metrics = self.engine.services.metrics
            if status >= 500:
                metrics.count(ServerErrors)
            elif status >= 400:
                metrics.count(ClientErrors)
            logger.info(
                "request",
                extra={
                    "method": event.get("httpMethod"),
                    "path": event.get("path"),
                    "status": status,
                },
            )
            return response
        finally:
            logger.thread_safe_remove_keys(_LOG_KEYS)
            self.flush_metrics()
