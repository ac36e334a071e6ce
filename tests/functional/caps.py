"""What the concurrency-cap tests read from the journal: each instance's slot span."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from lambda_workflows.clock import from_ms
from lambda_workflows.journal import Journal


class Span(NamedTuple):
    """An instance's life as the journal has it: created, started (admitted: it took a
    slot), ended (gave it back; None while it holds it)."""

    id: str
    created_at: int
    started_at: datetime | None
    ended_at: datetime | None


def spans(journal: Journal, workflow: str) -> list[Span]:
    """Every instance of `workflow`, in creation order (ties by id)."""
    found, cursor = [], None
    while True:
        page = journal.list_instances(workflow, limit=100, cursor=cursor)
        found += page.instances
        cursor = page.cursor
        if cursor is None:
            break
    found.sort(key=lambda m: (m.created_at, m.instance_id))
    return [
        Span(
            m.instance_id,
            m.created_at,
            from_ms(m.started_at) if m.started_at is not None else None,
            from_ms(m.finished_at) if m.finished_at is not None else None,
        )
        for m in found
    ]


def most_at_once(found: list[Span]) -> int:
    """The most spans [started_at, ended_at) that overlap at any moment (an end at the
    very moment another starts is no overlap; an open span lasts for ever)."""
    points: list[tuple[datetime, int]] = []
    for span in found:
        if span.started_at is None:
            continue
        points.append((span.started_at, 1))
        if span.ended_at is not None:
            points.append((span.ended_at, -1))
    points.sort(key=lambda p: (p[0], p[1]))  # ends before starts at the same moment
    most = current = 0
    for _, change in points:
        current += change
        most = max(most, current)
    return most


def started_in_creation_order(found: list[Span]) -> bool:
    """Each started instance started no earlier than every instance created before it,
    and none started while an older one had not."""
    started = [s.started_at for s in found]
    seen_unstarted = False
    for when in started:
        if when is None:
            seen_unstarted = True
        elif seen_unstarted:
            return False
    times = [t for t in started if t is not None]
    return times == sorted(times)
