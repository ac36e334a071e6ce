"""`lwf` commands that talk to the HTTP API: workflows, trigger, instances, send-event."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from lambda_workflows.cli import render
from lambda_workflows.cli.session import (
    CliState,
    JsonOption,
    ProfileOption,
    RegionOption,
    UrlOption,
    connect,
    emit,
    instance_id_argument,
    usage_error,
    workflow_name_argument,
)
from lambda_workflows.errors import UnexpectedAnswerError
from lambda_workflows.http.models import InstanceDetailsModel, InstanceListModel
from lambda_workflows.instances import MAX_PAGE
from lambda_workflows.journal.records import FINISHED, InstanceStatus
from lambda_workflows.names import HTTP_EVENT_TYPE_PATTERN, MAX_EVENT_TYPE

WATCH_INTERVAL_SECONDS = 1.0
FINISHED_STATUSES = frozenset(str(s) for s in FINISHED)

Name = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="Workflow name.",
        show_default=False,
        callback=workflow_name_argument,
    ),
]
InstanceId = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="Instance id.", show_default=False, callback=instance_id_argument
    ),
]

workflows = typer.Typer(help="The workflows the API serves.", no_args_is_help=True)
instances = typer.Typer(help="List, inspect and steer instances.", no_args_is_help=True)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except RecursionError:
        usage_error(f"{what} is nested too deep")
    except ValueError as exc:
        usage_error(f"{what} is not valid JSON ({exc}): {text[:80]!r}")


# -- workflows -------------------------------------------------------------------------


@workflows.command("list")
def workflows_list(
    ctx: typer.Context,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List the workflows of the app."""
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.workflows()
    emit(state, answer.raw, lambda: render.workflows_table(answer.value))


@workflows.command("describe")
def workflows_describe(
    ctx: typer.Context,
    name: Name,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Show a workflow: its params, crons, and how many instances are in each status."""
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.workflow(name)
    emit(state, answer.raw, lambda: render.workflow_view(answer.value))


# -- trigger ---------------------------------------------------------------------------


def trigger(
    ctx: typer.Context,
    name: Name,
    params_json: Annotated[
        str | None,
        typer.Argument(
            metavar="PARAMS_JSON", help="The instance's params as JSON.", show_default=False
        ),
    ] = None,
    params_file: Annotated[
        Path | None,
        typer.Option(
            "--params-file",
            help="Read the params JSON from this file ('-' for stdin).",
            show_default=False,
            allow_dash=True,
        ),
    ] = None,
    instance_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="Instance id (default: generated).",
            show_default=False,
            callback=lambda value: None if value is None else instance_id_argument(value),
        ),
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Start an instance of a workflow."""
    if params_json is not None and params_file is not None:
        usage_error("pass the params either as PARAMS_JSON or with --params-file, not both")
    params: Any = None
    if params_json is not None:
        params = _json_argument(params_json, "PARAMS_JSON")
    elif params_file is not None:
        params = _json_argument(_read_file(params_file), f"--params-file {params_file}")
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.create(name, params, instance_id)
    created = answer.value

    def view() -> Text:
        verb = "Created" if answer.status == 201 else "Found (idempotent retry)"
        text = Text(f"{verb} {name} instance ")
        text.append_text(render.plain(created.id, "bold"))
        text.append(" (")
        text.append_text(render.status_text(str(created.status)))
        text.append(f").\nWatch it: lwf instances describe {name} ")
        return text.append_text(render.plain(created.id)).append(" --watch")

    emit(state, answer.raw, view)


def _read_file(path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark allowed), or a usage error."""
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        usage_error(f"cannot read --params-file {path}: {exc.strerror or exc}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        usage_error(f"--params-file {path} is not UTF-8 text (byte {exc.start}): JSON must be")


# -- instances -------------------------------------------------------------------------


@instances.command("list")
def instances_list(
    ctx: typer.Context,
    name: Name,
    status: Annotated[
        InstanceStatus | None,
        typer.Option("--status", help="Only instances in this status.", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            max=MAX_PAGE,
            help="Instances per page (default 50).",
            show_default=False,
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="The cursor a previous page printed.", show_default=False),
    ] = None,
    every_page: Annotated[
        bool, typer.Option("--all", help="Follow the cursor to the last page.")
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """List a workflow's instances, newest first."""
    client, state = connect(ctx, json_output, url, profile, region)
    status_value = str(status) if status is not None else None
    answer = client.instances(name, status_value, limit, cursor)
    raw, page = answer.raw, answer.value
    if every_page:
        rows = list(raw["instances"])
        seen: set[str] = set()
        while page.cursor:
            if page.cursor in seen:
                raise UnexpectedAnswerError(state.url, answer.status, "the same cursor twice")
            seen.add(page.cursor)
            answer = client.instances(name, status_value, limit, page.cursor)
            rows += answer.raw["instances"]
            page = answer.value
        raw = {"instances": rows, "cursor": None}
        page = InstanceListModel.model_validate(raw)
    if state.json_output:
        emit(state, raw, lambda: "")
        return
    if not page.instances:
        suffix = f" in status {status_value}." if status_value else "."
        state.stdout.print(f"No instances of {name}{suffix}")
        return
    state.stdout.print(render.instances_table(name, page))
    if page.cursor:
        again = f"lwf instances list {name}"
        again += f" --status {status_value}" if status_value else ""
        again += f" --limit {limit}" if limit else ""
        more = render.plain(f"More: {again} --cursor {page.cursor}   (or --all)", "dim")
        state.stdout.print(more, soft_wrap=True, highlight=False)


@instances.command("describe")
def instances_describe(
    ctx: typer.Context,
    name: Name,
    instance_id: InstanceId,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Refresh until the instance finishes; exit 1 unless it completes."
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between --watch refreshes.")
    ] = WATCH_INTERVAL_SECONDS,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Show an instance: status, params, output or error, and its step timeline."""
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.instance(name, instance_id)
    if not watch:
        emit(state, answer.raw, lambda: render.instance_view(answer.value))
        return
    final = _watch(state, lambda: client.instance(name, instance_id), answer, interval)
    if final.value.status != InstanceStatus.COMPLETE:
        raise typer.Exit(1)


def _watch(
    state: CliState,
    fetch: Any,
    first: Any,
    interval: float,
) -> Any:
    """Print the instance each time it changes until it finishes; return the last answer.
    On a terminal the view is redrawn in place; otherwise each change is printed once."""
    from rich.live import Live

    answer = first
    shown: Any = None
    live = (
        Live(console=state.stdout, auto_refresh=False)
        if state.stdout.is_terminal and not state.json_output
        else None
    )
    with live if live is not None else nullcontext():
        while True:
            details: InstanceDetailsModel = answer.value
            if answer.raw != shown and not state.json_output:
                if live is not None:
                    live.update(render.instance_view(details), refresh=True)
                else:
                    state.stdout.print(render.instance_view(details))
                shown = answer.raw
            if str(details.status) in FINISHED_STATUSES:
                break
            state.pause(interval)
            answer = fetch()
    if state.json_output:
        emit(state, answer.raw, lambda: "")
    return answer


def _act(
    ctx: typer.Context,
    name: str,
    instance_id: str,
    action: str,
    past: str | Callable[[str], str],
    body: dict[str, Any] | None,
    json_output: bool,
    url: str | None,
    profile: str | None,
    region: str | None,
) -> None:
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.action(name, instance_id, action, body)

    def view() -> Text:
        status = str(answer.value.status)
        done = past(status) if callable(past) else past
        text = Text(f"{done} {name} instance {instance_id}; status: ")
        return text.append_text(render.status_text(status))

    emit(state, answer.raw, view)


def _register_action(action: str, past: str, doc: str) -> None:
    """`lwf instances ACTION NAME ID`: an action that takes no options of its own."""

    def command(
        ctx: typer.Context,
        name: Name,
        instance_id: InstanceId,
        json_output: JsonOption = False,
        url: UrlOption = None,
        profile: ProfileOption = None,
        region: RegionOption = None,
    ) -> None:
        _act(ctx, name, instance_id, action, past, None, json_output, url, profile, region)

    command.__doc__ = doc
    instances.command(action)(command)


_register_action(
    "pause", "Paused", "Pause an instance (a running one stops at its next step boundary)."
)
_register_action("resume", "Resumed", "Resume a paused instance.")


@instances.command("terminate")
def instances_terminate(
    ctx: typer.Context,
    name: Name,
    instance_id: InstanceId,
    rollback: Annotated[
        bool,
        typer.Option(
            "--rollback",
            help="Undo its completed steps first (their rollback functions, newest first).",
        ),
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Terminate an instance: it runs no further step; pending wake-ups become no-ops."""
    body = {"rollback": True} if rollback else None

    def past(status: str) -> str:
        return "Rolling back, then terminating" if status != "terminated" else "Terminated"

    _act(ctx, name, instance_id, "terminate", past, body, json_output, url, profile, region)


StepKindOption = Annotated[
    str,
    typer.Option(
        "--type",
        help="What --from-step names: do, sleep, wait_for_event or wait_for_workflow.",
    ),
]


@instances.command("restart")
def instances_restart(
    ctx: typer.Context,
    name: Name,
    instance_id: InstanceId,
    from_step: Annotated[
        str | None,
        typer.Option(
            "--from-step",
            help="Keep the results of the steps before this one; rerun from it.",
            show_default=False,
        ),
    ] = None,
    step_type: StepKindOption = "do",
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Restart an instance from the beginning, or from a step (earlier results kept)."""
    if step_type not in ("do", "sleep", "wait_for_event", "wait_for_workflow"):
        usage_error(f"--type must be do, sleep, wait_for_event or wait_for_workflow: {step_type}")
    if step_type != "do" and from_step is None:
        usage_error("--type says what --from-step names; pass --from-step too")
    body = {"from_step": from_step, "type": step_type} if from_step is not None else None
    _act(ctx, name, instance_id, "restart", "Restarted", body, json_output, url, profile, region)


@instances.command("delete")
def instances_delete(
    ctx: typer.Context,
    name: Name,
    instance_id: InstanceId,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Delete a finished instance with its journal and stored results."""
    client, state = connect(ctx, json_output, url, profile, region)
    client.delete(name, instance_id)
    emit(
        state,
        {"id": instance_id, "deleted": True},
        lambda: f"Deleted {name} instance {instance_id}.",
    )


@instances.command("export")
def instances_export(
    ctx: typer.Context,
    name: Name,
    instance_id: InstanceId,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The file to write ('-': stdout). Default: NAME.ID.journal.json here.",
            show_default=False,
            allow_dash=True,
        ),
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Write an instance's journal to a file, for `lwf replay-check --from-file`."""
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.journal(name, instance_id)
    text = json.dumps(answer.raw, indent=2, ensure_ascii=False) + "\n"
    if output is not None and str(output) == "-":
        typer.echo(text, nl=False)
        return
    target = output if output is not None else Path(f"{name}.{instance_id}.journal.json")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        usage_error(f"cannot write {target}: {exc.strerror or exc}")
    document = answer.value
    omitted = sum(s.result_omitted for s in document.steps) + sum(
        e.payload_omitted for e in document.events
    )
    emit(
        state,
        {"workflow": name, "id": instance_id, "file": str(target), "steps": len(document.steps)},
        lambda: (
            f"Exported {name} instance {instance_id} ({len(document.steps)} steps"
            + (f", {omitted} values too large to include" if omitted else "")
            + f") to {target}."
        ),
    )


# -- send-event ------------------------------------------------------------------------


def _event_type_argument(value: str) -> str:
    if len(value) > MAX_EVENT_TYPE or not re.fullmatch(HTTP_EVENT_TYPE_PATTERN[1:-1], value):
        raise typer.BadParameter(
            f"an event type is 1-{MAX_EVENT_TYPE} of A-Z a-z 0-9 _ : - over HTTP: {value!r}"
        )
    return value


def send_event(
    ctx: typer.Context,
    name: Name,
    instance_id: InstanceId,
    event_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="Event type.", callback=_event_type_argument)
    ],
    payload_json: Annotated[
        str | None,
        typer.Argument(metavar="PAYLOAD_JSON", help="The event payload as JSON."),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option(
            "--event-id",
            help="Makes a re-sent event a no-op (dedupe key).",
            show_default=False,
            callback=lambda value: None if value is None else instance_id_argument(value),
        ),
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Send an event to an instance (a `step.wait_for_event` of that type receives it)."""
    payload = _json_argument(payload_json, "PAYLOAD_JSON") if payload_json is not None else None
    client, state = connect(ctx, json_output, url, profile, region)
    answer = client.send_event(name, instance_id, event_type, payload, event_id)

    def view() -> Text:
        text = Text(f"Sent {event_type!r} to {name} instance {instance_id}; status: ")
        return text.append_text(render.status_text(str(answer.value.status)))

    emit(state, answer.raw, view)
