"""What every `lwf` API command shares: its options, the client it talks through, how it
prints (tables or `--json`), and how errors become messages and exit codes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from lambda_workflows.aws.sigv4 import signer_from_chain
from lambda_workflows.cli.client import ApiClient
from lambda_workflows.cli.render import plain
from lambda_workflows.clock import wait_real
from lambda_workflows.errors import (
    ApiError,
    ApiUnreachableError,
    CredentialsError,
    WorkflowError,
)

DEFAULT_URL = "http://127.0.0.1:8787"
URL_VARIABLE = "LWF_URL"

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
"""Ctrl-C (e.g. during `--watch`): the shell's convention, 128 + SIGINT."""

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


@dataclass
class CliState:
    """One invocation's state. Tests pass their own as the click `obj` (e.g. a `pause`
    that drives a virtual clock instead of waiting)."""

    pause: Callable[[float], object] = _real_pause
    json_output: bool = False
    url: str = DEFAULT_URL
    signed: bool = False
    stdout: Console = field(default_factory=lambda: Console(soft_wrap=False))
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
        state.url = os.environ.get(URL_VARIABLE) or DEFAULT_URL
        return ApiClient(state.url), state
    if not url.startswith(("http://", "https://")):
        usage_error(f"--url must start with https:// (or http://), got {url!r}")
    state.url, state.signed = url, True
    return ApiClient(url, signer_from_chain(url, profile, region)), state


def emit(state: CliState, raw: Any, view: Callable[[], RenderableType | str]) -> None:
    """`raw` as one JSON document under `--json`, else the rendered view."""
    if state.json_output:
        typer.echo(json.dumps(raw, indent=2, ensure_ascii=False))
    else:
        state.stdout.print(view())


def usage_error(message: str) -> NoReturn:
    raise typer.BadParameter(message)


def fail(state: CliState, error: WorkflowError) -> NoReturn:
    """Say what went wrong (and what to do) on stderr, the error document on stdout under
    `--json`, and leave with the exit code of its kind."""
    code, hint = _classify(state, error)
    if state.json_output:
        document: dict[str, Any] = {"code": getattr(error, "code", "error"), "message": str(error)}
        if isinstance(error, ApiError):
            document["status"] = error.status
            if error.details:
                document["details"] = error.details
        typer.echo(json.dumps({"error": document}, indent=2, ensure_ascii=False))
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
            return EXIT_API_ERROR, "`lwf workflows list` shows the workflows there are."
        if error.status == 400:
            return EXIT_USAGE, None
        return EXIT_API_ERROR, None
    return EXIT_USAGE, None
