"""The `lwf dev` page is served beside the API on the same port: its three files with
their media types and security headers; every other request still reaches the API."""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from lambda_workflows.http.wsgi import serve
from lambda_workflows.local.page import ASSETS, with_page


def _api(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
    return {"statusCode": 404, "body": json.dumps({"error": {"code": "not_found", "message": "x"}})}


def _get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    try:
        with urlopen(Request(url, method=method)) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_page_and_its_files_are_served_with_security_headers() -> None:
    with serve(_api, wrap=with_page) as url:
        for path, (_name, media_type) in ASSETS.items():
            status, headers, body = _get(url + path)
            assert (status, headers["Content-Type"]) == (200, media_type)
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert body
        _, _, page = _get(url + "/")
        assert b'src="/_lwf/app.js"' in page
        assert b'href="/_lwf/app.css"' in page
        head = _get(url + "/_lwf/app.js", "HEAD")
        assert head[0] == 200
        assert head[2] == b""


def test_everything_else_reaches_the_api() -> None:
    with serve(_api, wrap=with_page) as url:
        for path, method in (("/workflows", "GET"), ("/", "POST"), ("/_lwf/other.js", "GET")):
            status, _headers, body = _get(url + path, method)
            assert status == 404
            assert json.loads(body)["error"]["code"] == "not_found"


def test_the_script_sets_api_values_as_text_only() -> None:
    """No HTML is built from data: the script never assigns innerHTML/outerHTML or calls
    document.write or insertAdjacentHTML (values go through textContent / text nodes)."""
    from lambda_workflows.local.page import asset

    script = asset("app.js").decode()
    for sink in ("innerHTML", "outerHTML", "document.write", "insertAdjacentHTML", "eval("):
        assert sink not in script


def test_every_api_answer_carries_the_engine_clock(workflows: Any) -> None:
    """The page shows the engine's clock when it is not the wall clock: every answer,
    errors included, says what time the engine reads (here the harness's virtual clock)."""
    from lambda_workflows.handlers.api import TIME_HEADER, ApiHandler

    handler = ApiHandler(lambda: workflows.engine)
    workflows.advance("3 days")
    for path in ("/workflows", "/workflows/nope"):
        event = {"resource": "/{proxy+}", "path": path, "httpMethod": "GET", "headers": {},
                 "requestContext": {"requestId": "t", "stage": "$default"}, "body": None,
                 "isBase64Encoded": False}  # fmt: skip
        response = handler(event, None)
        assert response["headers"][TIME_HEADER] == workflows.now().isoformat()
