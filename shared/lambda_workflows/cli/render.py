"""How `lwf` shows API answers in a terminal: rich tables and one-line summaries."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lambda_workflows.http.models import (
    ErrorInfoModel,
    InstanceDetailsModel,
    InstanceListModel,
    StepModel,
    WorkflowDetails,
    WorkflowList,
)

DETAIL_CHARS = 80
STATUS_STYLES = {
    "complete": "green",
    "succeeded": "green",
    "running": "cyan",
    "queued": "blue",
    "waiting": "yellow",
    "waitingForPause": "yellow",
    "paused": "yellow",
    "retrying": "yellow",
    "sleeping": "blue",
    "timedOut": "red",
    "errored": "red",
    "failed": "red",
    "terminated": "magenta",
    "cancelled": "magenta",
}


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: object, style: str = "") -> Text:
    """Data from the API as inert text: never read as rich markup, and control characters
    shown escaped (`\\x1b`), so an error message cannot drive the terminal."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value)), style=style)


def status_text(status: str) -> Text:
    return plain(status, STATUS_STYLES.get(status, ""))


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def timestamp(iso: str | None) -> str:
    """`2026-12-03 17:02:01` (UTC, as the API reports it), or `-`."""
    when = _parse(iso)
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else "-"


def duration(start: str | None, end: str | None) -> str:
    """`850ms`, `12.4s`, `3m 04s`, `2h 05m`, `7d 0h`, or `-` when unfinished."""
    begin, finish = _parse(start), _parse(end)
    if begin is None or finish is None:
        return "-"
    ms = int((finish - begin).total_seconds() * 1000)
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def compact(value: Any, limit: int = DETAIL_CHARS) -> str:
    """A JSON value on one line, cut to `limit` characters."""
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(value: Any, omitted: bool | None) -> Text:
    if omitted:
        return Text("too large to show here (see the Python API)", style="dim")
    return plain(compact(value))


def error_line(error: ErrorInfoModel) -> str:
    return f"{error.name}: {error.message}"


def step_detail(step: StepModel) -> str:
    """What a reader wants to know about a step beyond its status."""
    parts: list[str] = []
    if step.event_type:
        parts.append(f"event {step.event_type!r}")
    if step.error is not None:
        parts.append(error_line(step.error))
    elif step.status == "succeeded":
        if step.result_omitted:
            parts.append("result too large to show here")
        elif step.type == "wait_for_event" and isinstance(step.result, dict):
            parts.append(f"payload {compact(step.result.get('payload'))}")
        elif step.type != "sleep":
            parts.append(compact(step.result))
    if step.wake_at:
        parts.append(f"until {timestamp(step.wake_at)}")
    return " · ".join(parts)


def workflows_table(answer: WorkflowList) -> Table:
    table = Table(title="Workflows", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("class", overflow="fold")
    table.add_column("binding", no_wrap=True)
    table.add_column("concurrency", no_wrap=True)
    for workflow in answer.workflows:
        table.add_row(
            plain(workflow.name),
            plain(workflow.class_name),
            plain(workflow.binding or "-"),
            str(workflow.concurrency) if workflow.concurrency else "-",
        )
    return table


def _params_table(schema: dict[str, Any] | None) -> RenderableType:
    if not schema:
        return Text("params: any JSON")
    table = Table(title="Params", title_justify="left")
    for column in ("field", "type", "required", "default"):
        table.add_column(column)
    required = set(schema.get("required", []))
    for name, spec in (schema.get("properties") or {}).items():
        table.add_row(
            plain(name),
            plain(_type_name(spec)),
            "yes" if name in required else "no",
            plain(compact(spec["default"], 40)) if "default" in spec else "-",
        )
    return table


def _type_name(spec: dict[str, Any]) -> str:
    if "type" in spec:
        kind = str(spec["type"])
        if kind == "array" and isinstance(spec.get("items"), dict):
            return f"array of {_type_name(spec['items'])}"
        return kind
    options = spec.get("anyOf") or spec.get("oneOf")
    if isinstance(options, list):
        return " | ".join(_type_name(o) for o in options if isinstance(o, dict))
    if "$ref" in spec:
        return str(spec["$ref"]).rsplit("/", 1)[-1]
    return "any"


def workflow_view(answer: WorkflowDetails) -> RenderableType:
    header = Table.grid(padding=(0, 2))
    header.add_row("workflow", plain(answer.name, "bold"))
    header.add_row("class", plain(answer.class_name))
    header.add_row("binding", plain(answer.binding or "-"))
    header.add_row("concurrency", str(answer.concurrency) if answer.concurrency else "unlimited")
    header.add_row("step limit", str(answer.step_limit))
    counts: RenderableType = Text("Instances: none yet")
    if any(answer.counts.values()):
        counts = Table(title="Instances", title_justify="left")
        counts.add_column("status")
        counts.add_column("count", justify="right")
        for status, count in answer.counts.items():
            if count:
                counts.add_row(status_text(str(status)), str(count))
    parts: list[RenderableType] = [header, _params_table(answer.params_schema), counts]
    if answer.crons:
        crons = Table(title="Crons", title_justify="left")
        crons.add_column("name")
        crons.add_column("expression")
        for cron in answer.crons:
            crons.add_row(plain(cron.name), plain(cron.expression))
        parts.append(crons)
    return Group(*parts)


def instances_table(workflow: str, answer: InstanceListModel) -> Table:
    table = Table(title=plain(f"Instances of {workflow}"), title_justify="left")
    for column in ("id", "status", "created", "started", "ended"):
        table.add_column(column, no_wrap=True)
    table.add_column("error")
    for item in answer.instances:
        table.add_row(
            plain(item.id),
            status_text(str(item.status)),
            timestamp(item.created_at),
            timestamp(item.started_at),
            timestamp(item.ended_at),
            plain(error_line(item.error)) if item.error else "",
        )
    return table


def steps_table(steps: list[StepModel]) -> Table:
    table = Table(title="Steps", title_justify="left")
    table.add_column("step", no_wrap=True)
    for column in ("type", "status", "attempts", "started", "duration"):
        table.add_column(column, no_wrap=True, justify="right" if column == "attempts" else "left")
    table.add_column("detail", overflow="fold")
    for step in steps:
        name = step.name if step.index == 0 else f"{step.name} #{step.index}"
        table.add_row(
            plain(name),
            str(step.type),
            status_text(str(step.status)),
            str(step.attempts) if step.type == "do" else "",
            timestamp(step.started_at),
            duration(step.started_at, step.finished_at),
            plain(step_detail(step)),
        )
    return table


def instance_view(answer: InstanceDetailsModel) -> RenderableType:
    header = Table.grid(padding=(0, 2))
    header.add_row("instance", plain(f"{answer.workflow} / {answer.id}", "bold"))
    header.add_row("status", status_text(str(answer.status)))
    header.add_row("created", timestamp(answer.created_at))
    header.add_row("started", timestamp(answer.started_at))
    header.add_row("ended", timestamp(answer.ended_at))
    header.add_row("duration", duration(answer.started_at, answer.ended_at))
    header.add_row("params", _value(answer.params, answer.params_omitted))
    if answer.status == "complete":
        header.add_row("output", _value(answer.output, answer.output_omitted))
    if answer.error is not None:
        where = f" (step {answer.error.step!r})" if answer.error.step else ""
        header.add_row("error", plain(error_line(answer.error) + where, "red"))
    parts: list[RenderableType] = [header, steps_table(answer.steps)]
    if answer.events:
        events = Table(title="Events received", title_justify="left")
        for column in ("#", "type", "at"):
            events.add_column(column, no_wrap=True)
        for event in answer.events:
            events.add_row(str(event.seq), plain(event.type), timestamp(event.timestamp))
        parts.append(events)
    return Group(*parts)
