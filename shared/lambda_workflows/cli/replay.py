"""`lwf replay-check`: replay recorded journals against the current code (DESIGN section
10), and where the journals come from: the API (`lwf dev` or a deployed one) or files
that `lwf instances export` wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError as PydanticValidationError

from lambda_workflows.cli import render
from lambda_workflows.cli.client import ApiClient
from lambda_workflows.cli.local import AppOption, app_of
from lambda_workflows.cli.session import (
    EXIT_API_ERROR,
    CliState,
    JsonOption,
    ProfileOption,
    RegionOption,
    UrlOption,
    connect,
    emit,
    state_of,
    usage_error,
    workflow_name_argument,
)
from lambda_workflows.errors import UnexpectedAnswerError
from lambda_workflows.instances import MAX_PAGE
from lambda_workflows.journal.document import JournalDocument
from lambda_workflows.journal.records import FINISHED, InstanceStatus

DEFAULT_LIMIT = 100
OPEN_STATUSES = (
    InstanceStatus.RUNNING,
    InstanceStatus.WAITING_FOR_PAUSE,
    InstanceStatus.WAITING,
    InstanceStatus.PAUSED,
    InstanceStatus.QUEUED,
)
"""Instances that will replay again: checked first."""


def replay_check(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="Only this workflow (default: every workflow).",
            show_default=False,
            callback=lambda value: None if value is None else workflow_name_argument(value),
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="Read journals from this folder's *.json files (or one file) that "
            "`lwf instances export` wrote, instead of the API.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=1,
            help="Instances per workflow: those that still run first, then the newest "
            "finished ones.",
        ),
    ] = DEFAULT_LIMIT,
    app: AppOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Replay recorded journals against this code: exit 1 if an instance would break.

    Runs no step function and sends nothing. Run it in CI before `cdk deploy`.
    """
    from lambda_workflows.runtime.replay_check import check_all

    if from_file is not None and (url is not None or profile is not None or region is not None):
        usage_error("--from-file reads journals from files: leave out --url, --profile, --region")
    workflow_app = app_of(app)
    if from_file is not None:
        state = _local_state(ctx, json_output)
        documents = _from_files(from_file, name, limit)
    else:
        client, state = connect(ctx, json_output, url, profile, region)
        documents = _from_api(client, state, name, limit)
    report = check_all(workflow_app, documents)
    if not report.verdicts and not state.json_output:
        where = f"in {from_file}" if from_file is not None else f"at {state.url}"
        state.stdout.print(f"No journals to check {where}.")
        return
    emit(state, report.to_dict(), lambda: render.replay_table(report))
    if report.breaks:
        raise typer.Exit(EXIT_API_ERROR)


def _local_state(ctx: typer.Context, json_output: bool) -> CliState:
    state = state_of(ctx)
    state.json_output = json_output
    return state


def _from_files(path: Path, name: str | None, limit: int) -> list[JournalDocument]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
    elif path.is_file():
        files = [path]
    else:
        usage_error(f"--from-file {path}: no such file or folder")
    taken: dict[str, int] = {}
    documents: list[JournalDocument] = []
    for file in files:
        try:
            document = JournalDocument.model_validate_json(file.read_bytes())
        except OSError as exc:
            usage_error(f"cannot read {file}: {exc.strerror or exc}")
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            usage_error(
                f"{file} is not a journal document of this lwf (`lwf instances export` "
                f"writes them): {where}: {first.get('msg')}"
            )
        if name is not None and document.workflow != name:
            continue
        if taken.get(document.workflow, 0) >= limit:
            continue
        taken[document.workflow] = taken.get(document.workflow, 0) + 1
        documents.append(document)
    return documents


def _from_api(
    client: ApiClient, state: CliState, name: str | None, limit: int
) -> list[JournalDocument]:
    names = [name] if name is not None else [w.name for w in client.workflows().value.workflows]
    documents: list[JournalDocument] = []
    for workflow in names:
        for instance_id in _selected(client, state, workflow, limit):
            documents.append(client.journal(workflow, instance_id).value)
    return documents


def _selected(client: ApiClient, state: CliState, workflow: str, limit: int) -> list[str]:
    """Up to `limit` ids: open instances first, then the newest finished ones."""
    chosen: list[str] = []
    for status in OPEN_STATUSES:
        for item in _pages(client, state, workflow, str(status), limit - len(chosen)):
            chosen.append(item)
    if len(chosen) < limit:
        seen = set(chosen)
        for item in _pages(client, state, workflow, None, limit - len(chosen), finished=True):
            if item not in seen:
                chosen.append(item)
    return chosen[:limit]


def _pages(
    client: ApiClient,
    state: CliState,
    workflow: str,
    status: str | None,
    wanted: int,
    finished: bool = False,
) -> Iterator[str]:
    """Ids of instances listed (newest first), following the cursor, `wanted` at most."""
    cursor: str | None = None
    seen: set[str] = set()
    while wanted > 0:
        answer = client.instances(workflow, status, min(MAX_PAGE, max(wanted, 10)), cursor)
        for item in answer.value.instances:
            if finished and item.status not in FINISHED:
                continue
            if wanted <= 0:
                return
            wanted -= 1
            yield item.id
        cursor = answer.value.cursor
        if cursor is None:
            return
        if cursor in seen:
            raise UnexpectedAnswerError(state.url, answer.status, "the same cursor twice")
        seen.add(cursor)
