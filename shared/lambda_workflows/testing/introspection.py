"""`env.introspect(workflow, id)`: modify what an instance's steps do, and watch it run.

Cloudflare's introspection API (`introspectWorkflowInstance`), in pytest. Modifiers may be
set before the instance is created or while it runs; they last until the introspector is
closed (the end of its `with` block) or the test env ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lambda_workflows.errors import (
    InstanceConflictError,
    StepError,
    UnusedModifierError,
    ValidationError,
    WaitTimeoutError,
)
from lambda_workflows.instances import Instance
from lambda_workflows.journal.records import (
    InstanceStatus,
    StepKind,
    StepRecord,
    StepStatus,
)
from lambda_workflows.names import check_event_type, check_instance_id, check_step_name
from lambda_workflows.payloads import to_json_value
from lambda_workflows.runtime.operations.wait_for_event import event_value
from lambda_workflows.status import InstanceDetails
from lambda_workflows.testing.modifiers import Modifiers
from lambda_workflows.testing.usage import covered_instances, unused_modifiers
from lambda_workflows.wakeups import Wakeup

if TYPE_CHECKING:
    from lambda_workflows.testing.env import WorkflowTestEnv

ErrorLike = BaseException | type[BaseException] | str


def _as_error(error: ErrorLike) -> BaseException:
    if isinstance(error, BaseException):
        return error
    if isinstance(error, type) and issubclass(error, BaseException):
        return error("mocked error")
    if isinstance(error, str):
        return Exception(error)
    raise ValidationError("mock_step_error takes an exception, an exception class or a message")


def _check_times(times: int | None) -> int | None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValidationError(f"times must be a positive int or None, got {times!r}")
    return times


def deliver_mocked_events(env: WorkflowTestEnv, modifiers: Modifiers) -> bool:
    """Send mocked events to the covered instances that exist and have not had them yet;
    True if any was sent."""
    if not modifiers.events:
        return False
    sent = False
    binding = env.binding(modifiers.workflow)
    for meta in covered_instances(env, modifiers):
        key = (meta.instance_id, meta.generation)  # a restarted instance gets them again
        done = modifiers.delivered.get(key, 0)
        instance = Instance(binding, meta.instance_id)
        for event_type, payload in modifiers.events[done:]:
            with contextlib.suppress(InstanceConflictError):  # it has ended
                instance.send_event(event_type, payload)
                sent = True
        modifiers.delivered[key] = len(modifiers.events)
    return sent


class Introspector:
    """Modifiers and queries for one instance, or modifiers for every instance of a workflow.

    Use it as a context manager: the modifiers end with the block.
    """

    def __init__(
        self,
        env: WorkflowTestEnv,
        workflow: str,
        instance_id: str | None,
        *,
        allow_unused: bool = False,
    ) -> None:
        env.app.workflow(workflow)
        if instance_id is not None:
            check_instance_id(instance_id)
        self._env = env
        self.workflow = workflow
        self.instance_id = instance_id
        self._modifiers = Modifiers(workflow, instance_id)
        self.allow_unused = allow_unused
        env.interceptor.add(self._modifiers)

    def __enter__(self) -> Introspector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._env.interceptor.remove(self._modifiers)
        if exc_type is None and not self.allow_unused:
            self.check_used()

    def check_used(self) -> None:
        """`UnusedModifierError` listing the modifiers that named a step or event type
        no covered instance reached (a typo, or a step that was renamed), with the names
        that did run. The end of the `with` block calls it (`allow_unused=True` skips)."""
        reached = self._modifiers.reached
        unused = unused_modifiers(self._modifiers, reached)
        if not unused:
            return
        target = f"{self.workflow!r}" + (f", {self.instance_id!r}" if self.instance_id else "")
        lines = [f"introspect({target}): modifiers that nothing used:"]
        lines += [f"  - {line}" for line in unused]
        lines.append(reached.summary())
        lines.append(f"(introspect({target}, allow_unused=True) if that is intended)")
        raise UnusedModifierError("\n".join(lines))

    def close(self) -> None:
        """Remove this introspector's modifiers (later steps run for real again), then
        check that each was used, as the end of a `with` block does."""
        self._env.interceptor.remove(self._modifiers)
        if not self.allow_unused:
            self.check_used()

    # -- modifiers --------------------------------------------------------------------

    def mock_step_result(self, name: str, value: Any, *, index: int | None = None) -> None:
        """`step.do(name)` returns `value` without calling its function.

        `index` picks one occurrence of the name (0 = its first call); None means all.
        The value is journaled and JSON round-tripped like a real result.
        """
        check_step_name(name)
        to_json_value(value, "a mocked step result")
        self._modifiers.results[(name, index)] = value

    def mock_step_error(self, name: str, error: ErrorLike, *, times: int | None = None) -> None:
        """The first `times` attempts of `step.do(name)` fail with `error` (all if None).

        The step's retry policy applies as usual, so `times=2` with retries left makes the
        third attempt run the real function (or a mocked result).
        """
        check_step_name(name)
        self._modifiers.errors[name] = (_as_error(error), _check_times(times))

    def force_step_timeout(self, name: str, *, times: int | None = None) -> None:
        """The first `times` attempts of `step.do(name)` time out (all if None)."""
        check_step_name(name)
        self._modifiers.step_timeouts[name] = _check_times(times)

    def mock_event(self, type: str, payload: Any = None) -> None:
        """Send the instance an event of `type` (FIFO per type, as `send_event`).

        Set before the instance exists, it is sent as soon as the instance is created;
        on a workflow-wide introspector, every instance of the workflow gets it once.
        """
        check_event_type(type)
        to_json_value(payload, "a mocked event payload")
        self._modifiers.events.append((type, payload))
        deliver_mocked_events(self._env, self._modifiers)

    def disable_sleeps(self, names: Iterable[str] | None = None) -> None:
        """`step.sleep`/`sleep_until` (all, or those named) end at once; the clock stays."""
        chosen = None if names is None else {check_step_name(n) for n in names}
        self._modifiers.sleeps_disabled = True
        self._modifiers.sleep_names = chosen
        self._poke()

    def force_event_timeout(self, name: str) -> None:
        """`step.wait_for_event(name)` times out at once, even if an event is waiting."""
        check_step_name(name)
        self._modifiers.event_timeouts.add(name)
        self._poke()

    def _poke(self) -> None:
        """Wake waiting instances so that a new modifier applies now, not at their deadline."""
        wakeups = [
            Wakeup(self.workflow, meta.instance_id, meta.generation, meta.epoch)
            for meta in covered_instances(self._env, self._modifiers)
            if meta.status == InstanceStatus.WAITING
        ]
        if wakeups:
            self._env.engine.services.wakeups.send_now(wakeups)

    # -- queries ----------------------------------------------------------------------

    def _id(self) -> str:
        if self.instance_id is None:
            raise ValidationError(
                f"this introspector covers every instance of {self.workflow!r}: "
                "use env.introspect(workflow, instance_id) to query one"
            )
        return self.instance_id

    def status(self) -> InstanceDetails:
        """The instance's `status()`: status, output, error, steps and timestamps."""
        return self._env.binding(self.workflow).get(self._id()).status()

    def wait_for_status(self, status: str) -> InstanceDetails:
        """Run (skipping time when idle) until the instance has `status`; return `status()`."""
        return self._env.wait_for_status(self.workflow, self._id(), status)

    def wait_for_step_result(self, name: str, index: int = 0) -> Any:
        """Run until occurrence `index` of step `name` resolves; return its result.

        A step that failed raises `StepError`, a wait that timed out `WaitTimeoutError`,
        as `run()` would see them.
        """
        check_step_name(name)
        instance_id = self._id()
        journal = self._env.engine.services.journal
        key = f"{name}#{index}"

        def resolved() -> StepRecord | None:
            snapshot = journal.load(self.workflow, instance_id)
            if snapshot is None:
                return None  # not created yet
            record = snapshot.steps.get(key)
            return record if record is not None and record.resolved else None

        record = self._env.run_until(
            resolved, self.workflow, instance_id, f"a result for step {name!r} (index {index})"
        )
        if record.status == StepStatus.SUCCEEDED:
            if record.kind == StepKind.WAIT_FOR_EVENT and record.result is None:
                return self._event_value(instance_id, record)
            return self._env.engine.services.payloads.unpack(record.result, record.result_ref)
        if record.status == StepStatus.TIMED_OUT:
            raise WaitTimeoutError(name, record.event_type or "")
        error = record.error
        raise StepError(name, error.name if error else "Error", error.message if error else "")

    def _event_value(self, instance_id: str, record: StepRecord) -> dict[str, Any]:
        snapshot = self._env.engine.services.journal.load(self.workflow, instance_id)
        assert snapshot is not None
        event = next(e for e in snapshot.events if e.seq == record.event_seq)
        return event_value(event, self._env.engine.services.payloads)

    def output(self) -> Any:
        """The instance's output (None until it is complete)."""
        return self.status().output

    def error(self) -> dict[str, Any] | None:
        """The instance's error `{"name", "message"}` (None unless it errored)."""
        error = self.status().error
        return error.to_dict() if error is not None else None

    def steps(self) -> list[dict[str, Any]]:
        """The step timeline: name, index, type, status, attempts, times, errors (see
        `StepDetails.to_dict`)."""
        return [step.to_dict() for step in self.status().steps]
