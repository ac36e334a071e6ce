"""The `lwf` command: the root Typer app, its command tree, and `main()`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from lambda_workflows.cli import local, remote, replay
from lambda_workflows.cli.session import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    fail,
    print_json_error,
    state_of,
)
from lambda_workflows.errors import ValidationError, WorkflowError

_JSON_REQUESTED = "lwf.json"


class _Commands(TyperGroup):
    """Turns the errors commands raise into a message and an exit code, in one place;
    under `--json` every error also prints the one error document on stdout."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        options = args[: args.index("--")] if "--" in args else args
        ctx.meta[_JSON_REQUESTED] = "--json" in options
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        json_requested = bool(ctx.meta.get(_JSON_REQUESTED))
        try:
            return super().invoke(ctx)
        except TyperException as error:
            if json_requested and getattr(error, "exit_code", None) == EXIT_USAGE:
                print_json_error("usage", str(getattr(error, "format_message", error.__str__)()))
            raise
        except ValidationError as error:
            if json_requested:
                print_json_error(error.code, str(error))
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except WorkflowError as error:
            state = state_of(ctx)
            state.json_output = state.json_output or json_requested
            fail(state, error)
        except KeyboardInterrupt:
            if json_requested:
                print_json_error("interrupted", "interrupted (Ctrl-C)")
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    name="lwf",
    cls=_Commands,
    help="lambda-workflows: run workflows locally, start and steer instances.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(local.dev)
app.command()(local.init)
app.add_typer(remote.workflows, name="workflows")
app.command()(remote.trigger)
app.add_typer(remote.instances, name="instances")
app.command("send-event")(remote.send_event)
app.command("replay-check")(replay.replay_check)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lwf` with `argv` (default: the process's arguments); returns the exit code."""
    was_null = _stdout_is_null()
    try:
        app(args=list(argv) if argv is not None else None, prog_name="lwf")
    except SystemExit as exit_:
        if exit_.code == 1 and not was_null and _reader_left():
            return 0  # `lwf ... | head`: the reader has what it wanted
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


def _stdout_is_null() -> bool:
    try:
        out, null = os.fstat(sys.stdout.fileno()), os.stat(os.devnull)
    except (OSError, ValueError, AttributeError):
        return False
    return (out.st_dev, out.st_ino, out.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev)


def _reader_left() -> bool:
    """Whether a closed pipe ended the command: click then wraps stdout, and rich (help
    pages) points it at /dev/null; each exits with 1."""
    return type(sys.stdout).__name__ == "PacifyFlushWrapper" or _stdout_is_null()
