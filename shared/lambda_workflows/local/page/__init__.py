"""The `lwf dev` page: plain HTML, CSS and JavaScript shipped in the package (no build
step, no CDN), served beside the HTTP API on the same port. It reads only the public API,
so the same files work against a deployed API (`/?api=https://...`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.resources import files
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/_lwf/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/_lwf/app.css": ("app.css", "text/css; charset=utf-8"),
}
"""Request path → (file in this package, media type)."""

_CSP = "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:"
SECURITY_HEADERS = [
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]


def asset(name: str) -> bytes:
    """The bytes of one of the page's files."""
    return files(__name__).joinpath(name).read_bytes()


def with_page(api: WsgiApp) -> WsgiApp:
    """`api` with the page at `/` and its files under `/_lwf/` (GET and HEAD)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = ASSETS.get(str(environ.get("PATH_INFO") or "/"))
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if found is None or method not in ("GET", "HEAD"):
            return api(environ, start_response)
        name, media_type = found
        body = asset(name)
        headers = [
            ("Content-Type", media_type),
            ("Content-Length", str(len(body))),
            *SECURITY_HEADERS,
        ]
        start_response("200 OK", headers)
        return [b""] if method == "HEAD" else [body]

    return app
