"""Which of an introspector's modifiers the instances used (what they ran while it was
active, `Modifiers.reached`): a typo in a step name must fail the test instead of leaving
the real step to run."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lambda_workflows.journal.records import InstanceMeta, StepKind
from lambda_workflows.testing.modifiers import Modifiers, Reached

if TYPE_CHECKING:
    from lambda_workflows.testing.env import WorkflowTestEnv


def covered_instances(env: WorkflowTestEnv, modifiers: Modifiers) -> list[InstanceMeta]:
    """The metas of the instances `modifiers` cover that exist now."""
    journal = env.engine.services.journal
    if modifiers.instance_id is not None:
        meta = journal.get_meta(modifiers.workflow, modifiers.instance_id)
        return [meta] if meta is not None else []
    metas: list[InstanceMeta] = []
    cursor = None
    while True:
        page = journal.list_instances(modifiers.workflow, limit=100, cursor=cursor)
        metas += page.instances
        if page.cursor is None:
            return metas
        cursor = page.cursor


def _near(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unused_modifiers(modifiers: Modifiers, reached: Reached) -> list[str]:
    """One line per modifier that names something no covered instance reached."""
    lines: list[str] = []
    dos = reached.names(StepKind.DO)

    def missing_do(call: str, name: str) -> None:
        lines.append(f"{call}: no step.do named {name!r} ran{_near(name, dos)}")

    for name, index in modifiers.results:
        if index is None and name not in dos:
            missing_do(f"mock_step_result({name!r})", name)
        elif index is not None and (name, index) not in reached.occurrences:
            if name in dos:
                lines.append(
                    f"mock_step_result({name!r}, index={index}): step {name!r} ran, but not "
                    f"{index + 1} times"
                )
            else:
                missing_do(f"mock_step_result({name!r}, index={index})", name)
    for name in modifiers.errors:
        if name not in dos:
            missing_do(f"mock_step_error({name!r})", name)
    for name in modifiers.step_timeouts:
        if name not in dos:
            missing_do(f"force_step_timeout({name!r})", name)
    waits = reached.names(StepKind.WAIT_FOR_EVENT)
    for name in sorted(modifiers.event_timeouts):
        if name not in waits:
            lines.append(
                f"force_event_timeout({name!r}): no step.wait_for_event named {name!r} "
                f"ran{_near(name, waits)}"
            )
    sleeps = reached.names(StepKind.SLEEP)
    for name in sorted(modifiers.sleep_names or ()):
        if name not in sleeps:
            lines.append(
                f"disable_sleeps([{name!r}]): no sleep named {name!r} ran{_near(name, sleeps)}"
            )
    for event_type in dict.fromkeys(t for t, _ in modifiers.events):
        if event_type not in reached.event_types:
            lines.append(
                f"mock_event({event_type!r}): no step.wait_for_event waited for type "
                f"{event_type!r}{_near(event_type, reached.event_types)}"
            )
    return lines
