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
from urllib.parse import parse_qs, quote, unquote, urlsplit

from lambda_workflows.errors import (
    BadRequestError,
    CrossOriginError,
    PayloadTooLargeError,
    ValidationError,
)
from lambda_workflows.http.resolver import error_proxy_response

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


MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""Largest body read, as API Gateway's 10 MB payload limit (the API handler's own cap is
lower and answers 413 past it)."""


def _wsgi_text(value: str) -> str:
    """WSGI hands paths over as latin-1 decoded bytes; undo that to get UTF-8 text (bytes
    that are not UTF-8 become lone surrogates, which the API screens out with a 400)."""
    try:
        return value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value


def raw_path(environ: dict[str, Any]) -> str:
    """The request path as the client sent it, still percent-encoded, as API Gateway REST
    passes `path`: `%2F` inside a segment stays there (the API decodes each segment after
    splitting, so it never reaches another route). `PATH_INFO` is already decoded, so
    the request target (`RAW_URI` / `REQUEST_URI`, which werkzeug and gunicorn set) is
    read when the server gives it."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(target, str) or not target:
        return quote(
            _wsgi_text(str(environ.get("PATH_INFO") or "/")), safe="/", errors="surrogateescape"
        )
    if not target.startswith("/"):  # absolute form: http://host/path?query
        target = urlsplit(target).path or "/"
    return _wsgi_text(target.split("?", 1)[0].split("#", 1)[0]) or "/"


def _body(environ: dict[str, Any]) -> bytes:
    """The request body: `Content-Length` bytes, or up to the end of a chunked body (no
    `Content-Length`; the server de-chunks it). `BadRequestError` for a `Content-Length`
    that is not a decimal number, `PayloadTooLargeError` past `MAX_REQUEST_BYTES`."""
    stream = environ["wsgi.input"]
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not declared.isdigit() or not declared.isascii():
            raise BadRequestError(
                f"the Content-Length header is not a number of bytes: {declared[:40]!r}"
            )
        length = int(declared)
        if length > MAX_REQUEST_BYTES:
            raise PayloadTooLargeError(f"the request body is over {MAX_REQUEST_BYTES} bytes")
        return bytes(stream.read(length)) if length else b""
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
    if not (chunked or environ.get("wsgi.input_terminated")):
        return b""  # no length and no end marker: reading would wait for the client
    data = bytes(stream.read(MAX_REQUEST_BYTES + 1))
    if len(data) > MAX_REQUEST_BYTES:
        raise PayloadTooLargeError(f"the request body is over {MAX_REQUEST_BYTES} bytes")
    return data


def proxy_event(environ: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The API Gateway REST (v1) proxy event for one WSGI request, as a `{proxy+}`
    resource gets it. Raises `BadRequestError` / `PayloadTooLargeError` for a request
    API Gateway would not pass on (a bad `Content-Length`, a body past 10 MB)."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    path = raw_path(environ)
    headers: dict[str, list[str]] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            headers.setdefault(name, []).append(str(value))
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = [str(environ[key])]
    query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
    raw = _body(environ)
    try:
        body: str | None = raw.decode("utf-8") if raw else None
        encoded = False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode(), True
    resource = "/{proxy+}" if path != "/" else "/"
    proxy = unquote(path[1:], errors="surrogateescape") if path != "/" else None
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": proxy} if proxy is not None else None,
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "stage": STAGE,
            "httpMethod": method,
            "path": path,
            "resourcePath": resource,
            "identity": {"sourceIp": str(environ.get("REMOTE_ADDR") or "127.0.0.1")},
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_origin(environ: dict[str, Any]) -> None:
    """A browser names the page that sent a request in `Origin`: a request that changes
    something from a page of another origin is refused (IAM auth protects the deployed
    API; this local one has no auth). Clients that are not browsers send no `Origin`."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    origin = environ.get("HTTP_ORIGIN")
    if method in _SAFE_METHODS or origin is None:
        return
    host = str(environ.get("HTTP_HOST") or "")
    if urlsplit(str(origin)).netloc != host:
        raise CrossOriginError(
            f"a page at {str(origin)[:100]!r} may not change instances on this server "
            "(only its own page may)"
        )


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
        try:
            _check_origin(environ)
            event = proxy_event(environ, request_id)
        except (ValidationError, CrossOriginError) as rejected:  # API Gateway's own answers
            response = error_proxy_response(rejected)
        else:
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


WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@contextmanager
def serve(
    handler: ProxyHandler,
    host: str = "127.0.0.1",
    port: int = 0,
    wrap: Callable[[WsgiApp], WsgiApp] | None = None,
) -> Iterator[str]:
    """Serve `handler` on `host:port` (0: a free port) in a thread; yields the base URL.
    `wrap` may add routes of its own in front of the handler (the `lwf dev` page).

    Raises `OSError` when the port is taken.
    """
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    application: WsgiApp = ProxyWsgiApp(handler)
    if wrap is not None:
        application = wrap(application)
    server = make_server(
        host, port, application, threaded=True, request_handler=QuietRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="lwf-api", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
