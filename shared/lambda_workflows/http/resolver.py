"""The API resolver: routes, OpenAPI and Swagger UI, and one error body for every failure."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import Server

from lambda_workflows.engine import Engine
from lambda_workflows.errors import WorkflowError, capped
from lambda_workflows.http.models import ErrorDetail, ErrorResponse
from lambda_workflows.http.openapi import InstanceApiResolver
from lambda_workflows.http.routes import instance_routes

TITLE = "lambda-workflows instance API"
logger = Logger(service="lambda-workflows", child=True)


def _version() -> str:
    try:
        return version("lambda-workflows")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _error_body(
    code: str, message: str, details: list[dict[str, Any]] | None, request_id: str | None = None
) -> str:
    error = ErrorDetail(code=code, message=message, details=details, request_id=request_id)
    return ErrorResponse(error=error).model_dump_json(exclude_none=True)


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> Response[str]:
    """The one error body: `{"error": {"code", "message", "details"?}}`."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=_error_body(code, message, details, request_id),
    )


def error_proxy_response(exc: WorkflowError) -> dict[str, Any]:
    """The same error body as a proxy response, for errors raised before the resolver runs."""
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": "application/json"},
        "body": _error_body(exc.code, str(exc), getattr(exc, "details", None) or None),
        "isBase64Encoded": False,
    }


def _field_errors(
    exc: RequestValidationError | RequestUnsupportedContentType,
) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]


def build_api(engine: Engine) -> APIGatewayRestResolver:
    """The resolver for API Gateway REST proxy events on `engine`'s app."""
    api = InstanceApiResolver(enable_validation=True)
    api.include_router(instance_routes(engine))
    api.enable_swagger(path="/docs", title=TITLE, version=_version())

    @api.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        # The server Swagger UI (`/docs`) names: `/<stage>` when the request came through
        # the stage's own URL, `/` through a custom domain or the local server.
        server = Server(url=api._get_base_path() or "/")
        return Response(
            status_code=200,
            content_type="application/json",
            body=api.get_openapi_json_schema(title=TITLE, version=_version(), servers=[server]),
        )

    def internal_error(exc: Exception) -> Response[str]:
        request_id = api.current_event.request_context.request_id
        logger.exception("unexpected error", extra={"request_id": request_id})
        return error_response(
            500, "internal_error", "internal error; quote the request id", request_id=request_id
        )

    @api.exception_handler(WorkflowError)  # type: ignore[untyped-decorator]
    def workflow_error(exc: WorkflowError) -> Response[str]:
        if exc.status >= 500:
            return internal_error(exc)
        details = getattr(exc, "details", None) or None
        return error_response(exc.status, exc.code, str(exc), details)

    @api.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        details, more = capped(_field_errors(exc))
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        where = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details)
        return error_response(400, "bad_request", f"invalid request: {where}{more}", details)

    @api.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def unsupported(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(
            400, "unsupported_media_type", "send JSON (Content-Type: application/json)"
        )

    @api.not_found
    def no_route(exc: NotFoundError) -> Response[str]:
        event = api.current_event
        return error_response(
            404, "route_not_found", f"no route {event.http_method} {event.path}; see /docs"
        )

    api.exception_handler(Exception)(internal_error)

    return api
