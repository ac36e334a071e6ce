"""`lwf` commands that work on the project itself: `dev` (run the app on moto) and
`init` (a new project)."""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lambda_workflows.app import WorkflowApp, configured_app_path, import_app
from lambda_workflows.cli.scaffold import init_project
from lambda_workflows.errors import AppImportError, CannotListenError
from lambda_workflows.local.dev import DEFAULT_API_PORT, MAX_PORT

if TYPE_CHECKING:
    from lambda_workflows.engine import Engine

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="The app as module:attribute (default: [tool.lambda-workflows] app in "
        "pyproject.toml).",
        show_default=False,
    ),
]


def _app_module_name(path: str | None) -> str:
    return (path if path is not None else configured_app_path()[0]).partition(":")[0]


def _demo_seeder(path: str | None) -> Callable[[Engine], Iterable[tuple[str, str]]] | None:
    """`seed_demo(engine)` of the app's module, when it defines one (`--seed-demo`)."""
    module = sys.modules.get(_app_module_name(path))
    seeder = getattr(module, "seed_demo", None)
    return seeder if callable(seeder) else None


def app_of(path: str | None) -> WorkflowApp:
    """The app `--app` names (else the configured one); `AppImportError` if it cannot be
    loaded, also when its module raises while it is imported (said in one line, with
    where, rather than as a traceback)."""
    if path is None:
        path, folder = configured_app_path()
    else:
        folder = Path.cwd()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        return import_app(path)
    except AppImportError:
        raise
    except Exception as exc:
        module = path.partition(":")[0]
        raise AppImportError(
            path,
            f"importing the app's module {module!r} failed: {_failure(exc)}; "
            f"`python -c 'import {module}'` shows the traceback",
        ) from exc


def _failure(exc: BaseException) -> str:
    """`exc` in one line: its type, its message and where it was raised."""
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else ""
        message = exc.msg
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if not f.filename.startswith("<frozen")
        ]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = " ".join(text.split())
    return f"{text} (at {_relative(where)})" if where else text


def _relative(where: str) -> str:
    try:
        return str(Path(where).relative_to(Path.cwd()))
    except ValueError:
        return where


def dev(
    app: AppOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            min=0,
            max=MAX_PORT,
            help="Port of the HTTP API (what `lwf` and LWF_URL talk to); 0: a free one.",
        ),
    ] = DEFAULT_API_PORT,
    aws_port: Annotated[
        int,
        typer.Option(
            min=0, max=MAX_PORT, help="Port of the local AWS endpoint (moto); 0: a free one."
        ),
    ] = 0,
    seed_demo: Annotated[
        bool, typer.Option(help="Start one instance of each example that finishes on its own.")
    ] = False,
    exit_when_done: Annotated[
        bool, typer.Option(help="Stop once the seeded instances have finished.")
    ] = False,
    time_scale: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=1_000_000,
            help="Run the clock this many times faster than the wall clock.",
        ),
    ] = 1.0,
    skip_sleeps: Annotated[
        bool,
        typer.Option(
            help="When nothing can run, jump to the next sleep or retry wake-up (never past "
            "a pending event wait's deadline).",
        ),
    ] = False,
    json_logs: Annotated[
        bool, typer.Option(help="Print each status change as a JSON object.")
    ] = False,
    persist: Annotated[
        Path | None,
        typer.Option(
            help="Keep instances, journals, events and stored values in this folder across "
            "restarts (pending wake-ups still come).",
            show_default=False,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Run the app locally on moto (no AWS account), with its HTTP API on --port."""
    import logging

    from lambda_workflows.handlers.api import logger as api_logger
    from lambda_workflows.local.dev import DevServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("lambda-workflows").setLevel(logging.WARNING)
    if not json_logs:  # the engine's and the API's log lines are JSON: only with --json-logs
        api_logger.setLevel(logging.WARNING)
        logging.getLogger("lambda-workflows").setLevel(logging.ERROR)
    seeded: list[tuple[str, str]] = []
    workflow_app = app_of(app)
    seeder = _demo_seeder(app) if seed_demo else None
    server = DevServer(
        workflow_app,
        host=host,
        port=port,
        aws_port=aws_port,
        time_scale=time_scale,
        skip_sleeps=skip_sleeps,
        json_logs=json_logs,
        persist=persist,
        stop_when=(lambda s: s.all_finished(seeded)) if exit_when_done else None,
    )

    def ready(engine: Engine) -> None:
        if not seed_demo:
            return
        if seeder is not None:
            seeded.extend(seeder(engine))
        if seeded:
            typer.echo(f"  seeded: {', '.join(f'{w}/{i}' for w, i in seeded)}")
        else:
            module = _app_module_name(app)
            typer.echo(
                f"  nothing was seeded: {module} defines no seed_demo(engine) "
                "that starts instances (the example app's is in functions/demo.py)"
            )

    try:
        server.run(on_ready=ready)
    except KeyboardInterrupt:
        return
    except CannotListenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if exit_when_done and not server.all_finished(seeded):
        raise typer.Exit(1)


def init(
    directory: Annotated[Path, typer.Argument(help="Folder of the new project (new or empty).")],
    name: Annotated[
        str | None,
        typer.Option(help="Project name (default: the folder's name).", show_default=False),
    ] = None,
) -> None:
    """Create a project for your own workflows: an app with one workflow and its tests."""
    try:
        written = init_project(directory, name=name)
    except OSError as exc:
        # The folder named is not one a folder can be made at: a usage error (2); the
        # system refuses (permissions, a read-only or full disk): 1.
        usage = exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.EISDIR)
        where = f"{exc.filename}: " if exc.filename and Path(exc.filename) != directory else ""
        reason = exc.strerror or str(exc)
        typer.echo(f"error: cannot create {directory}: {where}{reason}", err=True)
        raise typer.Exit(2 if usage else 1) from None
    typer.echo(f"Created {directory}:")
    for path in written:
        typer.echo(f"  {path.relative_to(directory).as_posix()}")
    typer.echo(
        f"\nNext:\n  cd {directory}\n  pytest            # the workflow's tests, on moto"
        '\n  lwf dev           # run it locally; then `lwf trigger greeting \'{"name": "Ada"}\'`'
    )
