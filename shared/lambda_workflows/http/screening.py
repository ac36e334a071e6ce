"""Checks on a raw API Gateway proxy event before the resolver sees it.

The resolver (Powertools) answers 500 to some client input: a body that is not base64
or not UTF-8, JSON nested past the parser's recursion limit, a multipart body without
a boundary. `screen` rejects all of that with a typed 4xx error and hands the resolver
a body that is plain JSON text, so client input never reaches it in a shape it cannot
handle.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, NoReturn
from urllib.parse import unquote_to_bytes

from lambda_workflows.errors import (
    BadRequestError,
    InvalidJsonError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from lambda_workflows.names import HTTP_EVENT_TYPE_PATTERN

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_EVENT_PATH = re.compile(r"^/workflows/[^/]*/instances/[^/]*/events/(?P<type>[^/]*)/?$")
_EVENT_TYPE = re.compile(HTTP_EVENT_TYPE_PATTERN)


def printable(text: str) -> str:
    """`text` with anything that is not encodable as UTF-8 backslash-escaped (for logs)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_STRING_MAPS = ("headers", "queryStringParameters", "pathParameters", "stageVariables")
"""Event fields API Gateway sends as an object of strings (or null)."""
_LIST_MAPS = ("multiValueHeaders", "multiValueQueryStringParameters")
"""Event fields API Gateway sends as an object of lists of strings (or null)."""
_CONTEXT_STRINGS = ("requestId", "stage", "path", "resourcePath", "httpMethod")
"""`requestContext` fields the resolver reads."""


def _not_proxy_event(field: str, wanted: str) -> BadRequestError:
    return BadRequestError(
        f"the Lambda event is not an API Gateway REST proxy event: `{field}` must be {wanted}",
        details=[{"loc": [field], "msg": f"must be {wanted}", "type": "event_shape"}],
    )


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _string_lists(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v)
        for k, v in value.items()
    )


def check_event_shape(event: Any) -> dict[str, Any]:
    """`event` when it has the shape of an API Gateway REST proxy event, else a
    `BadRequestError` naming the field (a direct invocation can send anything; the
    resolver answered 500 or raised on a list where a string goes, a missing path, a
    string `isBase64Encoded`, headers that are not an object)."""
    if not isinstance(event, dict):
        raise BadRequestError(
            "the Lambda event is not an API Gateway REST proxy event (a JSON object)"
        )
    method = event.get("httpMethod")
    if not isinstance(method, str) or not method:
        raise _not_proxy_event("httpMethod", "an HTTP method name")
    path = event.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _not_proxy_event("path", "a string starting with `/`")
    for name in ("resource", "body"):
        if event.get(name) is not None and not isinstance(event[name], str):
            raise _not_proxy_event(name, "a string or null")
    for name in _STRING_MAPS:
        if event.get(name) is not None and not _strings(event[name]):
            raise _not_proxy_event(name, "an object of strings or null")
    for name in _LIST_MAPS:
        if event.get(name) is not None and not _string_lists(event[name]):
            raise _not_proxy_event(name, "an object of lists of strings or null")
    if event.get("isBase64Encoded") is not None and not isinstance(event["isBase64Encoded"], bool):
        raise _not_proxy_event("isBase64Encoded", "true, false or null")
    context = event.get("requestContext")
    if context is not None:
        if not isinstance(context, dict):
            raise _not_proxy_event("requestContext", "an object or null")
        for name in _CONTEXT_STRINGS:
            if context.get(name) is not None and not isinstance(context[name], str):
                raise _not_proxy_event(f"requestContext.{name}", "a string or null")
    return event


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _segment(segment: str) -> str:
    """One path segment percent-decoded: `BadRequestError` when the bytes are not UTF-8
    or hold a `/` (which would make another route of it)."""
    try:
        text = unquote_to_bytes(segment).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("the request path is not UTF-8 text (percent-decoded)") from None
    if "/" in text:
        raise BadRequestError(
            f"a path segment holds an encoded `/` (%2F): {printable(segment[:100])!r}; "
            "names, ids and event types never contain `/`"
        )
    return text


def _decoded_path(path: str) -> str:
    """The path with each segment percent-decoded (split first, then decode: an encoded
    `/` never moves a value into another route), or a `BadRequestError`."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError("the request path is not UTF-8 text") from None
    if "%" not in path:
        return path
    return "/".join(_segment(segment) for segment in path.split("/"))


def _check_path(path: str) -> None:
    match = _EVENT_PATH.match(path)
    if match and not _EVENT_TYPE.match(match["type"]):
        raise BadRequestError(
            "event_type in a URL may hold only ASCII letters, digits, `_`, `:` and `-` "
            "(the Python API takes more)"
        )


def _check_query(event: dict[str, Any]) -> None:
    for name, values in (event.get("multiValueQueryStringParameters") or {}).items():
        if isinstance(values, list) and len(values) > 1:
            raise BadRequestError(
                f"query parameter `{printable(str(name))}` given {len(values)} times; give it once"
            )


def _check_media_type(event: dict[str, Any]) -> None:
    content_type = _header(event, "content-type")
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"send JSON (Content-Type: application/json), not {printable(media_type)!r}"
        )


def _plain_json_media_type(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its JSON Content-Type spelled `application/json` (the resolver
    compares it case-sensitively and does not know `+json` types)."""
    if _header(event, "content-type") is None:
        return event
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {
        k: v
        for k, v in (event.get("multiValueHeaders") or {}).items()
        if k.lower() != "content-type"
    }
    headers["Content-Type"] = "application/json"
    multi["Content-Type"] = ["application/json"]
    return {**event, "headers": headers, "multiValueHeaders": multi}


def _body_text(event: dict[str, Any]) -> str:
    body = event.get("body")
    if not isinstance(body, str):
        raise BadRequestError("the request body is not text")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("the request body is not valid base64") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestError("the request body is not UTF-8 text") from None
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError("the request body is not UTF-8 text") from None
    return body


def _no_constant(name: str) -> NoReturn:
    raise InvalidJsonError(f"the request body is not JSON: {name} is not a JSON number")


def _finite(number: str) -> float:
    value = float(number)
    if math.isinf(value):
        raise InvalidJsonError(
            f"the request body is not JSON the API takes: {number[:40]} is out of a double's range"
        )
    return value


def _check_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except InvalidJsonError:
        raise
    except RecursionError:
        raise InvalidJsonError("the request body is nested too deep to parse") from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError:
        raise InvalidJsonError(
            "the request body is not JSON the API takes: a number has more than 4300 digits"
        ) from None


def body_bytes(event: dict[str, Any]) -> int:
    """The size of the request body as sent (before any decoding)."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        return 0
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8", "surrogatepass"))


def screen(raw_event: Any, max_body_bytes: int) -> dict[str, Any]:
    """The event with its body as plain JSON text (not base64), or a typed 4xx error.

    Raises `PayloadTooLargeError` past `max_body_bytes`, `BadRequestError`,
    `UnsupportedMediaTypeError` or `InvalidJsonError`.
    """
    event = check_event_shape(raw_event)
    path = _decoded_path(event["path"])
    _check_path(path)
    if path != event["path"]:
        event = {**event, "path": path}
    _check_query(event)
    method = str(event.get("httpMethod") or "").upper()
    if method not in _BODY_METHODS:
        return event
    _check_media_type(event)
    event = _plain_json_media_type(event)
    if event.get("body") in (None, ""):
        return event
    if body_bytes(event) > max_body_bytes:
        raise PayloadTooLargeError(
            f"the request body is over {max_body_bytes} bytes; pass large data by "
            "reference (e.g. a bucket key)"
        )
    text = _body_text(event)
    document = _check_json(text)
    if isinstance(document, list) and not path.rstrip("/").endswith("/instances/batch"):
        raise BadRequestError(
            "the request body must be a JSON object (a list goes to .../instances/batch)"
        )
    return {**event, "body": text, "isBase64Encoded": False}
