"""The `lwf` command: the root Typer app, its command tree, and `main()`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from lambda_workflows.cli import local, remote
from lambda_workflows.cli.session import EXIT_INTERRUPTED, EXIT_USAGE, fail, state_of
from lambda_workflows.errors import ValidationError, WorkflowError


class _Commands(TyperGroup):
    """Turns the errors commands raise into a message and an exit code, in one place."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        except WorkflowError as error:
            fail(state_of(ctx), error)
        except KeyboardInterrupt:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run `lwf` with `argv` (default: the process's arguments); returns the exit code."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="lwf")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0
