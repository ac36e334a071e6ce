"""How `lwf` shows API answers in a terminal: rich tables and one-line summaries."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
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
from lambda_workflows.text import escaped

if TYPE_CHECKING:
    from lambda_workflows.runtime.replay_check import Report

DETAIL_CHARS = 80
WRAP_MIN_WIDTH = 20
"""A column that wraps (errors, details, step names) gets at least this many cells; when
the terminal cannot give it that beside the columns that are never cut, rows are shown
as blocks of `column: value` lines instead."""
SCHEMA_DEPTH = 8
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
VERDICT_STYLES = {
    "ok": "green",
    "diverged": "bold red",
    "failed": "bold red",
    "unchecked": "yellow",
}


def plain(value: object, style: str = "") -> Text:
    """Data from the API as inert text on one line: never read as rich markup, control
    characters, line breaks and bidi overrides shown escaped (`\\x1b`, `\\x0a`, `\\u202e`),
    so a value cannot drive the terminal, fake a line, or read backwards."""
    return Text(escaped(str(value)), style=style)


@dataclass(frozen=True)
class Column:
    """A column of a `Listing`: values in a column that `wraps` fold onto more lines;
    the others (ids, statuses, times) are never cut."""

    header: str
    wraps: bool = False
    justify: Literal["left", "right"] = "left"


class Listing:
    """A table whose ids and statuses are never cut: on a terminal too narrow for them
    (and `WRAP_MIN_WIDTH` for each wrapping column), each row becomes a block of
    `column: value` lines."""

    def __init__(self, title: str, columns: Sequence[Column]) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows: list[list[Text]] = []

    def add_row(self, *cells: Text | str) -> None:
        self.rows.append([cell if isinstance(cell, Text) else plain(cell) for cell in cells])

    def _widths(self) -> list[int]:
        """Per column: the widest value (or header), and a wrapping column's minimum."""
        widths = []
        for index, column in enumerate(self.columns):
            widest = max([len(column.header), *(row[index].cell_len for row in self.rows)])
            widths.append(min(widest, WRAP_MIN_WIDTH) if column.wraps else widest)
        return widths

    def min_width(self) -> int:
        """Cells the table needs: unwrapped columns whole, wrapping ones at their minimum,
        plus padding (2 per column) and borders (one more than the columns)."""
        return sum(width + 2 for width in self._widths()) + len(self.columns) + 1

    def table(self) -> Table:
        table = Table(title=plain(self.title), title_justify="left")
        for column, width in zip(self.columns, self._widths(), strict=True):
            table.add_column(
                column.header,
                no_wrap=not column.wraps,
                overflow="fold",
                justify=column.justify,
                min_width=width,
            )
        for row in self.rows:
            table.add_row(*row)
        return table

    def records(self) -> Iterator[RenderableType]:
        yield plain(self.title, "italic")
        for row in self.rows:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True, style="bold")
            grid.add_column(overflow="fold")
            for column, cell in zip(self.columns, row, strict=True):
                if cell.plain:
                    grid.add_row(f"{column.header}:", cell)
            yield grid
            yield Text("")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.min_width() <= options.max_width:
            yield self.table()
        else:
            yield from self.records()


def status_text(status: str) -> Text:
    return plain(status, STATUS_STYLES.get(status, ""))


def _parse(iso: str | None) -> datetime | None:
    """An aware datetime, or None when absent or not ISO 8601 (naive means UTC)."""
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _when(iso: str | None) -> str:
    when = _parse(iso)
    if when is not None:
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return iso or "-"


def timestamp(iso: str | None) -> Text:
    """`2026-12-03 17:02:01` (UTC, as the API reports it), `-`, or the text as sent when
    it is not a timestamp."""
    return plain(_when(iso))


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
    try:
        text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    except (RecursionError, ValueError):
        return "(nested too deep to show)"
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
    if step.child is not None:
        parts.append(f"child {step.child.workflow}/{step.child.id}")
    elif step.event_type:
        parts.append(f"event {step.event_type!r}")
    if step.error is not None:
        parts.append(error_line(step.error))
    elif step.status == "succeeded":
        if step.result_omitted:
            parts.append("result too large to show here")
        elif step.type == "wait_for_event" and isinstance(step.result, dict):
            parts.append(f"payload {compact(step.result.get('payload'))}")
        elif step.type not in ("sleep", "rollback", "patch"):
            parts.append(compact(step.result))
    if step.wake_at:
        parts.append(f"until {_when(step.wake_at)}")
    return " · ".join(parts)


def workflows_table(answer: WorkflowList) -> Listing:
    table = Listing(
        "Workflows",
        [Column("name"), Column("class", wraps=True), Column("binding"), Column("concurrency")],
    )
    for workflow in answer.workflows:
        table.add_row(
            plain(workflow.name),
            plain(workflow.class_name),
            plain(workflow.binding or "-"),
            str(workflow.concurrency) if workflow.concurrency else "-",
        )
    return table


def _params_table(schema: dict[str, Any] | None) -> RenderableType:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(schema, dict) or not isinstance(properties, dict):
        return Text("params: any JSON")
    table = Listing(
        "Params",
        [Column("field"), Column("type", wraps=True), Column("required"), Column("default", True)],
    )
    required = schema.get("required")
    required_names = {str(n) for n in required} if isinstance(required, list) else set()
    for name, spec in properties.items():
        default = spec.get("default", "-") if isinstance(spec, dict) else "-"
        table.add_row(
            plain(name),
            plain(_type_name(spec)),
            "yes" if name in required_names else "no",
            plain(compact(default, 40)) if default != "-" else "-",
        )
    return table


def _type_name(spec: Any, depth: int = 0) -> str:
    """A JSON schema's type in a few words (`array of string`, `integer | null`)."""
    if not isinstance(spec, dict) or depth > SCHEMA_DEPTH:
        return "any"
    if "type" in spec:
        kind = spec["type"]
        if isinstance(kind, list):
            return " | ".join(str(k) for k in kind)
        if kind == "array" and isinstance(spec.get("items"), dict):
            return f"array of {_type_name(spec['items'], depth + 1)}"
        return str(kind)
    options = spec.get("anyOf") or spec.get("oneOf")
    if isinstance(options, list):
        return " | ".join(_type_name(o, depth + 1) for o in options if isinstance(o, dict))
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


def instances_table(workflow: str, answer: InstanceListModel) -> Listing:
    columns = [Column(name) for name in ("id", "status", "created", "started", "ended")]
    table = Listing(f"Instances of {workflow}", [*columns, Column("error", wraps=True)])
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


def steps_table(steps: list[StepModel]) -> Listing:
    table = Listing(
        "Steps",
        [
            Column("step", wraps=True),
            Column("type"),
            Column("status"),
            Column("attempts", justify="right"),
            Column("started"),
            Column("duration"),
            Column("detail", wraps=True),
        ],
    )
    for step in steps:
        name = step.name if step.index == 0 else f"{step.name} #{step.index}"
        table.add_row(
            plain(name),
            str(step.type),
            status_text(str(step.status)),
            str(step.attempts) if step.type in ("do", "rollback") else "",
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
        events = Listing("Events received", [Column("#"), Column("type"), Column("at")])
        for event in answer.events:
            events.add_row(str(event.seq), plain(event.type), timestamp(event.timestamp))
        parts.append(events)
    return Group(*parts)


def replay_table(report: Report) -> RenderableType:
    """`lwf replay-check`: a row per instance, then what the verdicts add up to."""
    table = Listing(
        "Replay of recorded journals against this code",
        [
            Column("workflow"),
            Column("id"),
            Column("status"),
            Column("verdict"),
            Column("position"),
            Column("detail", wraps=True),
        ],
    )
    for verdict in report.verdicts:
        table.add_row(
            plain(verdict.workflow),
            plain(verdict.instance_id),
            status_text(verdict.status),
            plain(verdict.verdict, VERDICT_STYLES.get(verdict.verdict, "")),
            plain(verdict.position or ""),
            plain(verdict.message),
        )
    counts = report.counts()
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    summary = Text(f"{len(report.verdicts)} checked: {', '.join(parts)}.")
    if report.breaks:
        broken = counts["diverged"] + counts["failed"]
        summary.append(
            f" {broken} would not replay under this code (an open one breaks when it "
            "wakes; a finished one shows the code can no longer replay such histories): "
            "guard a changed step with step.patched (docs/guide.md, Versioning); see each "
            "detail.",
            style="bold red",
        )
    if counts["unchecked"]:
        summary.append(f" {counts['unchecked']} could not be checked (see detail).")
    return Group(table, summary)
