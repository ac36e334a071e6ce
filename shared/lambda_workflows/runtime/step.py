"""The `step` object handed to `run()`: argument checks, then the operations."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from lambda_workflows.api import StepFunction, UndoFunction, WorkflowStep
from lambda_workflows.clock import to_ms
from lambda_workflows.config import (
    MAX_SLEEP,
    Duration,
    RetriesInput,
    StepConfig,
    parse_duration,
    step_config,
)
from lambda_workflows.errors import ValidationError
from lambda_workflows.names import (
    check_event_type,
    check_instance_id,
    check_step_name,
    check_workflow_name,
)
from lambda_workflows.runtime.context import ReplayContext
from lambda_workflows.runtime.operations import Do, Sleep, WaitForEvent, WaitForWorkflow

_MS = timedelta(milliseconds=1)
T = TypeVar("T")


class DurableStep(WorkflowStep):
    """WorkflowStep backed by the invocation's replay context."""

    def __init__(self, ctx: ReplayContext) -> None:
        self._ctx = ctx

    def do(
        self,
        name: str,
        fn: StepFunction | None = None,
        *,
        retries: RetriesInput = None,
        timeout: Duration | None = None,
        config: Mapping[str, Any] | StepConfig | None = None,
        rollback: UndoFunction | None = None,
        rollback_config: Mapping[str, Any] | StepConfig | None = None,
    ) -> Any:
        check_step_name(name)
        resolved = _config_of(name, "", retries, timeout, config)
        if rollback is not None and not callable(rollback):
            raise ValidationError(f"step {name!r}: rollback must be callable")
        if rollback is None and rollback_config is not None:
            raise ValidationError(f"step {name!r}: rollback_config without a rollback function")
        undo_config = _config_of(name, "rollback_config: ", None, None, rollback_config)
        if fn is None:
            return self._decorator(name, resolved, rollback, undo_config)
        if not callable(fn):
            raise ValidationError(f"step {name!r}: fn must be callable")
        return self._ctx.track(
            Do(self._ctx, name, fn, resolved, rollback, undo_config)(), "step.do", name
        )

    def _decorator(
        self,
        name: str,
        config: StepConfig,
        rollback: UndoFunction | None,
        undo_config: StepConfig,
    ) -> Callable[[Callable[..., Any]], Callable[[], Awaitable[Any]]]:
        def decorate(fn: Callable[..., Any]) -> Callable[[], Awaitable[Any]]:
            @functools.wraps(fn)
            def run_step() -> Awaitable[Any]:
                call = Do(self._ctx, name, fn, config, rollback, undo_config)()
                return self._ctx.track(call, "step.do", name)

            return run_step

        return decorate

    def sleep(self, name: str, duration: Duration) -> Coroutine[Any, Any, None]:
        check_step_name(name)
        length = parse_duration(duration, what=f"sleep {name!r}")
        if length > MAX_SLEEP:
            raise ValidationError(f"sleep {name!r}: at most 365 days, got {length}")
        return self._track(Sleep(self._ctx, name, None, int(length / _MS))(), "step.sleep", name)

    def sleep_until(self, name: str, when: datetime | int) -> Coroutine[Any, Any, None]:
        check_step_name(name)
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValidationError(f"sleep_until {name!r}: the datetime must be timezone-aware")
            target = to_ms(when)
        elif isinstance(when, int) and not isinstance(when, bool):
            target = when
        else:
            raise ValidationError(f"sleep_until {name!r}: expected a datetime or epoch ms")
        if target - self._ctx.now() > int(MAX_SLEEP / _MS):
            raise ValidationError(f"sleep_until {name!r}: at most 365 days ahead")
        return self._track(Sleep(self._ctx, name, target, 0)(), "step.sleep_until", name)

    def wait_for_event(
        self, name: str, *, type: str, timeout: Duration = "24 hours"
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        check_step_name(name)
        check_event_type(type)
        length = parse_duration(timeout, what=f"wait_for_event {name!r} timeout")
        if length > MAX_SLEEP:
            raise ValidationError(f"wait_for_event {name!r}: timeout of at most 365 days")
        wait = WaitForEvent(self._ctx, name, type, int(length / _MS))()
        return self._track(wait, "step.wait_for_event", name)

    def patched(self, change_id: str) -> bool:
        return self._ctx.patch(change_id, deprecated=False)

    def deprecate_patch(self, change_id: str) -> None:
        self._ctx.patch(change_id, deprecated=True)

    def wait_for_workflow(
        self, name: str, instance: Any, *, timeout: Duration = "365 days"
    ) -> Coroutine[Any, Any, Any]:
        check_step_name(name)
        workflow, instance_id = _instance_ref(name, instance)
        meta = self._ctx.meta
        if (workflow, instance_id) == (meta.workflow, meta.instance_id):
            raise ValidationError(f"wait_for_workflow {name!r}: an instance cannot wait for itself")
        length = parse_duration(timeout, what=f"wait_for_workflow {name!r} timeout")
        if length > MAX_SLEEP:
            raise ValidationError(f"wait_for_workflow {name!r}: timeout of at most 365 days")
        wait = WaitForWorkflow(self._ctx, name, workflow, instance_id, int(length / _MS))()
        return self._track(wait, "step.wait_for_workflow", name)

    def race(self, *operations: Awaitable[T]) -> Coroutine[Any, Any, tuple[int, T]]:
        return self._track(super().race(*operations), "step.race", "")

    def _track(self, coro: Coroutine[Any, Any, T], what: str, name: str) -> Coroutine[Any, Any, T]:
        return self._ctx.track(coro, what, name)


def _config_of(
    name: str,
    what: str,
    retries: RetriesInput,
    timeout: Duration | None,
    config: Mapping[str, Any] | StepConfig | None,
) -> StepConfig:
    """The step's config; a mistake in it names the step."""
    try:
        return step_config(retries, timeout, config)
    except ValidationError as exc:
        raise ValidationError(f"step {name!r}: {what}{exc}") from None


def _instance_ref(name: str, instance: Any) -> tuple[str, str]:
    """`(workflow, id)` of an `Instance` handle (anything with `.workflow` and `.id`
    strings) or of a `(workflow, id)` pair."""
    workflow = getattr(instance, "workflow", None)
    instance_id = getattr(instance, "id", None)
    if isinstance(workflow, str) and isinstance(instance_id, str):
        return workflow, instance_id
    if (
        isinstance(instance, tuple | list)
        and len(instance) == 2
        and all(isinstance(part, str) for part in instance)
    ):
        return check_workflow_name(instance[0]), check_instance_id(instance[1])
    raise ValidationError(
        f"wait_for_workflow {name!r}: expected an Instance or a (workflow, id) pair, "
        f"got {instance!r}"
    )
