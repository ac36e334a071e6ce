"""Serve a Lambda proxy handler over HTTP: WSGI requests become API Gateway REST proxy
events, proxy responses become WSGI responses. `lwf dev` and the tests serve the API
handler through this, so local and deployed requests take the same path."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

ProxyHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
StartResponse = Callable[..., Any]

STAGE = "$default"
_TEXT_TYPES = ("application/json", "text/", "application/javascript")


@dataclass(frozen=True)
class LocalContext:
    """The slice of a Lambda context the handlers read."""

    aws_request_id: str
    function_name: str = "lwf-local-api"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _wsgi_text(value: str) -> str:
    """WSGI hands paths over as latin-1 decoded bytes; undo that to get UTF-8 text."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def proxy_event(environ: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The API Gateway REST (v1) proxy event for one WSGI request."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    path = _wsgi_text(str(environ.get("PATH_INFO") or "/"))
    headers: dict[str, list[str]] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            headers.setdefault(name, []).append(str(value))
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = [str(environ[key])]
    query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        body: str | None = raw.decode("utf-8") if raw else None
        encoded = False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode(), True
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "stage": STAGE,
            "httpMethod": method,
            "path": path,
            "resourcePath": path,
            "identity": {"sourceIp": str(environ.get("REMOTE_ADDR") or "127.0.0.1")},
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


class ProxyWsgiApp:
    """A WSGI application calling a Lambda proxy handler once per request.

    Requests reach the handler one at a time, as they reach one Lambda execution
    environment: the resolver keeps the current request on itself, and moto is not
    thread-safe."""

    def __init__(self, handler: ProxyHandler) -> None:
        self.handler = handler
        self._one_at_a_time = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex
        event = proxy_event(environ, request_id)
        with self._one_at_a_time:
            response = self.handler(event, LocalContext(request_id))
        status = int(response.get("statusCode", 500))
        headers: list[tuple[str, str]] = []
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers += [(name, str(v)) for v in values]
        named = {name.lower() for name, _ in headers}
        for name, value in (response.get("headers") or {}).items():
            if name.lower() not in named:
                headers.append((name, str(value)))
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        start_response(f"{status} {reason}".strip(), headers)
        return [data]


@contextmanager
def serve(handler: ProxyHandler, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `handler` on `host:port` (0: a free port) in a thread; yields the base URL.

    Raises `OSError` when the port is taken.
    """
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    server = make_server(
        host, port, ProxyWsgiApp(handler), threaded=True, request_handler=QuietRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="lwf-api", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
