"""The harness's interceptor: the modifiers tests set, looked up by the engine's operations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lambda_workflows.journal.records import StepKind
from lambda_workflows.runtime.interception import AttemptOverride, StepTarget

_ALL = None


@dataclass
class Reached:
    """What instances ran (live) while an introspector was active: step names by kind,
    `step.do` occurrences, the event types waited for, and which instances."""

    instances: set[str] = field(default_factory=set)
    steps: dict[StepKind, set[str]] = field(default_factory=dict)
    occurrences: set[tuple[str, int]] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)

    def note(self, target: StepTarget, kind: StepKind) -> None:
        self.instances.add(target.instance_id)
        self.steps.setdefault(kind, set()).add(target.name)
        if kind == StepKind.DO:
            self.occurrences.add((target.name, target.occurrence))
        if target.event_type is not None:
            self.event_types.add(target.event_type)

    def names(self, kind: StepKind) -> set[str]:
        return self.steps.get(kind, set())

    def summary(self) -> str:
        if not self.instances:
            return (
                "No instance it covers ran a step while it was active: was the instance "
                "created (with this id) inside the block?"
            )
        ran = sorted({name for names in self.steps.values() for name in names})
        shown = ", ".join(repr(name) for name in ran) or "none"
        return f"Steps that ran: {shown}."


@dataclass
class Modifiers:
    """What one introspector changes, for one instance or every instance of a workflow."""

    workflow: str
    instance_id: str | None
    results: dict[tuple[str, int | None], Any] = field(default_factory=dict)
    errors: dict[str, tuple[BaseException, int | None]] = field(default_factory=dict)
    step_timeouts: dict[str, int | None] = field(default_factory=dict)
    event_timeouts: set[str] = field(default_factory=set)
    sleeps_disabled: bool = False
    sleep_names: set[str] | None = None
    events: list[tuple[str, Any]] = field(default_factory=list)
    delivered: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per instance id and generation, how many of `events` were sent to it."""
    reached: Reached = field(default_factory=Reached)
    """What the covered instances ran while these modifiers were active."""

    def applies_to(self, target: StepTarget) -> bool:
        return target.workflow == self.workflow and self.instance_id in (
            _ALL,
            target.instance_id,
        )

    def attempt(self, target: StepTarget, attempt: int) -> AttemptOverride | None:
        if target.name in self.step_timeouts:
            times = self.step_timeouts[target.name]
            if times is None or attempt <= times:
                return AttemptOverride(timeout=True)
        if target.name in self.errors:
            error, times = self.errors[target.name]
            if times is None or attempt <= times:
                return AttemptOverride(error=error)
        for key in ((target.name, target.occurrence), (target.name, None)):
            if key in self.results:
                return AttemptOverride(value=self.results[key])
        return None

    def skips_sleep(self, name: str) -> bool:
        return self.sleeps_disabled and (self.sleep_names is None or name in self.sleep_names)


class HarnessInterceptor:
    """The `Interceptor` of a `WorkflowTestEnv`: every live introspector's modifiers.

    Instance-specific modifiers win over workflow-wide ones; among those, the newest wins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[Modifiers] = []

    def add(self, modifiers: Modifiers) -> None:
        with self._lock:
            self._active.append(modifiers)

    def remove(self, modifiers: Modifiers) -> None:
        with self._lock:
            if modifiers in self._active:
                self._active.remove(modifiers)

    def active(self) -> list[Modifiers]:
        with self._lock:
            return list(self._active)

    def _matching(self, target: StepTarget, kind: StepKind) -> Iterator[Modifiers]:
        found = [m for m in self.active() if m.applies_to(target)]
        for modifiers in found:
            modifiers.reached.note(target, kind)
        found.sort(key=lambda m: m.instance_id is not None)
        return reversed(found)

    def attempt(self, target: StepTarget, attempt: int) -> AttemptOverride | None:
        for modifiers in self._matching(target, StepKind.DO):
            override = modifiers.attempt(target, attempt)
            if override is not None:
                return override
        return None

    def skip_sleep(self, target: StepTarget) -> bool:
        matching = list(self._matching(target, StepKind.SLEEP))
        return any(m.skips_sleep(target.name) for m in matching)

    def force_event_timeout(self, target: StepTarget) -> bool:
        matching = list(self._matching(target, StepKind.WAIT_FOR_EVENT))
        return any(target.name in m.event_timeouts for m in matching)
