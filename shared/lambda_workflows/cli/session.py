"""What every `lwf` API command shares: its options, the client it talks through, how it
prints (tables or `--json`), and how errors become messages and exit codes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from lambda_workflows.aws.sigv4 import signer_from_chain
from lambda_workflows.cli.client import LOOPBACK_HOSTS, ApiClient
from lambda_workflows.cli.render import plain
from lambda_workflows.clock import wait_real
from lambda_workflows.errors import (
    ApiError,
    ApiUnreachableError,
    CredentialsError,
    UnexpectedAnswerError,
    ValidationError,
    WorkflowError,
)
from lambda_workflows.names import check_instance_id, check_workflow_name

DEFAULT_URL = "http://127.0.0.1:8787"
URL_VARIABLE = "LWF_URL"

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
"""Ctrl-C (e.g. during `--watch`): the shell's convention, 128 + SIGINT."""
PIPED_WIDTH = 1000
"""Cells a line may take when stdout is not a terminal (and `COLUMNS` is unset): piped
tables keep one row per line, whole, for `grep` and `cut`."""

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the API's JSON document on stdout instead of tables."),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Base URL of a deployed API (requests are SigV4-signed). "
        f"Without it: ${URL_VARIABLE}, else {DEFAULT_URL} (lwf dev), unsigned.",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="AWS profile to sign --url requests with.", show_default=False),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Region to sign --url requests for (default: from the URL, else the profile's).",
        show_default=False,
    ),
]


def _real_pause(seconds: float) -> None:
    wait_real(seconds)


def _stdout_console() -> Console:
    console = Console(soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


@dataclass
class CliState:
    """One invocation's state. Tests pass their own as the click `obj` (e.g. a `pause`
    that drives a virtual clock instead of waiting)."""

    pause: Callable[[float], object] = _real_pause
    json_output: bool = False
    url: str = DEFAULT_URL
    signed: bool = False
    stdout: Console = field(default_factory=_stdout_console)
    stderr: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))


def state_of(ctx: Any) -> CliState:
    """The invocation's `CliState` (the click context's `obj`; created when absent)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def connect(
    ctx: typer.Context,
    json_output: bool,
    url: str | None,
    profile: str | None,
    region: str | None,
) -> tuple[ApiClient, CliState]:
    """The client for this command: `--url` signed, else `$LWF_URL` or the dev server."""
    state = state_of(ctx)
    state.json_output = json_output
    if url is None:
        if profile is not None or region is not None:
            usage_error("--profile and --region sign requests to --url; pass --url too")
        state.url = checked_url(os.environ.get(URL_VARIABLE) or DEFAULT_URL, f"${URL_VARIABLE}")
        return ApiClient(state.url), state
    state.url, state.signed = checked_url(url, "--url"), True
    parts = urlsplit(state.url)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        state.stderr.print(
            "warning: --url is http://: the signed request and the answer travel unencrypted",
            style="yellow",
            markup=False,
            highlight=False,
        )
    return ApiClient(state.url, signer_from_chain(state.url, profile, region)), state


def checked_url(url: str, source: str) -> str:
    """`url` when it is an http(s) base URL with a host and a valid port, and nothing
    after the path; else a usage error naming `source` (`--url`, `$LWF_URL`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        usage_error(f"{source} is not a valid URL ({exc}): {url!r}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        usage_error(
            f"{source} must be an http:// or https:// URL with a host (e.g. {DEFAULT_URL}): {url!r}"
        )
    if port == 0:
        usage_error(f"{source} must name a port from 1 to 65535: {url!r}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        usage_error(f"{source} is the API's base URL, without ?query or #fragment: {url!r}")
    if parts.username is not None or any(c.isspace() or not c.isprintable() for c in url):
        usage_error(f"{source} may not hold user:password@, spaces or control characters")
    return url


def workflow_name_argument(value: str) -> str:
    """Typer callback: a workflow name as the API accepts it, else a usage error."""
    return _checked(check_workflow_name, value)


def instance_id_argument(value: str) -> str:
    """Typer callback: an instance id as the API accepts it, else a usage error."""
    return _checked(check_instance_id, value)


def _checked(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


def emit(state: CliState, raw: Any, view: Callable[[], RenderableType | str]) -> None:
    """`raw` as one JSON document under `--json`, else the rendered view. A value the
    view cannot show (the API's schema, but odd contents) is an `UnexpectedAnswerError`."""
    if state.json_output:
        typer.echo(json.dumps(raw, indent=2, ensure_ascii=False))
        return
    try:
        rendered = view()
        # A line of text (a summary, a command to run next) is never broken by the
        # console: the terminal wraps it, so it still pastes as one command.
        state.stdout.print(rendered, soft_wrap=isinstance(rendered, Text | str))
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise UnexpectedAnswerError(
            state.url, 200, f"values lwf cannot show ({type(exc).__name__}: {exc})"
        ) from None


def print_json_error(code: str, message: str, **extra: Any) -> None:
    """The one `--json` error document: `{"error": {"code", "message", ...}}` on stdout."""
    document = {"code": code, "message": message, **extra}
    typer.echo(json.dumps({"error": document}, indent=2, ensure_ascii=False))


def usage_error(message: str) -> NoReturn:
    raise typer.BadParameter(message)


def fail(state: CliState, error: WorkflowError) -> NoReturn:
    """Say what went wrong (and what to do) on stderr, the error document on stdout under
    `--json`, and leave with the exit code of its kind."""
    code, hint = _classify(state, error)
    if state.json_output:
        extra: dict[str, Any] = {}
        if isinstance(error, ApiError | UnexpectedAnswerError):
            extra["status"] = error.status
        if isinstance(error, ApiError) and error.details:
            extra["details"] = error.details
        print_json_error(error.code, str(error), **extra)
    state.stderr.print(Text("error: ", style="bold red") + plain(error), highlight=False)
    for detail in getattr(error, "details", None) or []:
        where = ".".join(str(part) for part in detail.get("loc", []))
        line = f"{where}: {detail.get('msg', detail)}"
        if line not in str(error):
            state.stderr.print(plain(f"  {line}"), highlight=False)
    if hint:
        state.stderr.print(hint, markup=False, highlight=False, style="dim")
    raise typer.Exit(code)


def _classify(state: CliState, error: WorkflowError) -> tuple[int, str | None]:
    if isinstance(error, UnexpectedAnswerError):
        return EXIT_UNREACHABLE, "Check the URL: it must be the API's base URL (the stage URL)."
    if isinstance(error, ApiUnreachableError):
        if state.signed:
            return EXIT_UNREACHABLE, "Check --url: the stage URL `cdk deploy` printed."
        return EXIT_UNREACHABLE, (
            "Is the dev server running? Start it in another terminal with `lwf dev`, "
            f"or set {URL_VARIABLE} to where it listens (or pass --url for a deployed API)."
        )
    if isinstance(error, CredentialsError):
        return EXIT_USAGE, None
    if isinstance(error, ApiError):
        if error.status in (401, 403):
            if state.signed:
                return EXIT_API_ERROR, (
                    "The signed request was refused: check --profile/--region and that "
                    "this identity may call execute-api:Invoke on the API."
                )
            return EXIT_API_ERROR, "This API wants signed requests: pass its address as --url."
        if error.code == "workflow_not_found":
            return EXIT_API_ERROR, (
                f"`lwf workflows list` shows the workflows at {state.url} (another dev "
                f"server? set {URL_VARIABLE} to its URL)."
            )
        if error.status == 400:
            return EXIT_USAGE, None
        return EXIT_API_ERROR, None
    return EXIT_USAGE, None
