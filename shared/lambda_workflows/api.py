"""The programming model: what a workflow author imports and implements."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Protocol,
    TypeVar,
    get_args,
    get_origin,
    overload,
)

from pydantic import BaseModel

from lambda_workflows.config import Duration, RetriesInput, StepConfig
from lambda_workflows.journal.records import ErrorInfo

P = TypeVar("P")
T = TypeVar("T")


@dataclass(frozen=True)
class WorkflowEvent(Generic[P]):
    """What `run()` receives: the validated params, the creation time and the instance id."""

    payload: P
    timestamp: datetime
    instance_id: str


@dataclass(frozen=True)
class StepContext:
    """Optional argument of a step function: which step, which attempt, with what config."""

    step_name: str
    occurrence: int
    attempt: int
    config: StepConfig


StepFunction = Callable[[], Any] | Callable[[StepContext], Any]


@dataclass(frozen=True)
class RollbackContext:
    """Optional second argument of an undo function (`step.do(..., rollback=undo)`).

    `step` is the context of the step being undone (its name, occurrence, config and its
    last attempt number); `attempt` counts the undo's own attempts; `error` is why the
    instance rolls back: `run()`'s uncaught error, or None for `terminate(rollback=True)`.
    """

    step: StepContext
    attempt: int
    error: ErrorInfo | None


UndoFunction = Callable[[Any], Any] | Callable[[Any, RollbackContext], Any]
"""An undo: takes the step's result (and optionally a `RollbackContext`); sync or async."""


class Env:
    """The app's bindings, as attributes (`self.env.BUCKET`) or items (`self.env["BUCKET"]`)."""

    def __init__(self, bindings: Mapping[str, Any] | None = None) -> None:
        self._bindings = dict(bindings or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._bindings[name]
        except KeyError:
            raise AttributeError(f"no binding named {name!r} in this app") from None

    def __getitem__(self, name: str) -> Any:
        return self._bindings[name]

    def __contains__(self, name: object) -> bool:
        return name in self._bindings


class StepDecorator(Protocol):
    """What `step.do(name)` without a function returns: a decorator that turns a local
    function into an awaitable step (Cloudflare's Python form)."""

    @overload
    def __call__(self, fn: Callable[..., Awaitable[T]]) -> Callable[[], Awaitable[T]]: ...

    @overload
    def __call__(self, fn: Callable[..., T]) -> Callable[[], Awaitable[T]]: ...


class WorkflowStep(abc.ABC):
    """The durable operations available inside `run()`."""

    @overload
    def do(
        self,
        name: str,
        fn: Callable[[], Awaitable[T]] | Callable[[StepContext], Awaitable[T]],
        *,
        retries: RetriesInput = None,
        timeout: Duration | None = None,
        config: Mapping[str, Any] | StepConfig | None = None,
        rollback: UndoFunction | None = None,
        rollback_config: Mapping[str, Any] | StepConfig | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def do(
        self,
        name: str,
        fn: Callable[[], T] | Callable[[StepContext], T],
        *,
        retries: RetriesInput = None,
        timeout: Duration | None = None,
        config: Mapping[str, Any] | StepConfig | None = None,
        rollback: UndoFunction | None = None,
        rollback_config: Mapping[str, Any] | StepConfig | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def do(
        self,
        name: str,
        fn: None = None,
        *,
        retries: RetriesInput = None,
        timeout: Duration | None = None,
        config: Mapping[str, Any] | StepConfig | None = None,
        rollback: UndoFunction | None = None,
        rollback_config: Mapping[str, Any] | StepConfig | None = None,
    ) -> StepDecorator: ...

    @abc.abstractmethod
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
        """Run `fn` as a durable step and return its JSON result.

        Without `fn`, returns a decorator (Cloudflare's Python form): the decorated
        function becomes an async callable that runs the step when awaited.

        `rollback` registers an undo for the step once it succeeds (saga): when `run()`
        ends in an uncaught error, or on `terminate(rollback=True)`, the undos of the
        steps that completed run in reverse completion order, each journaled and retried
        like a step under `rollback_config` (`retries`, `timeout`; step defaults).
        """

    @abc.abstractmethod
    async def sleep(self, name: str, duration: Duration) -> None:
        """Suspend the instance for `duration` (at most 365 days)."""

    @abc.abstractmethod
    async def sleep_until(self, name: str, when: datetime | int) -> None:
        """Suspend the instance until `when` (an aware datetime or epoch milliseconds)."""

    @abc.abstractmethod
    async def wait_for_event(
        self, name: str, *, type: str, timeout: Duration = "24 hours"
    ) -> dict[str, Any]:
        """Wait for an event of `type`; return `{"payload", "timestamp", "type"}`.

        Raises `WaitTimeoutError` when none arrives in time.
        """

    @abc.abstractmethod
    async def wait_for_workflow(
        self, name: str, instance: Any, *, timeout: Duration = "365 days"
    ) -> Any:
        """Suspend until another instance ends; return its output.

        `instance` is an `Instance` (from a binding's `create` or `get`) or a
        `(workflow name, instance id)` pair. A child that errors or is terminated raises
        `StepError` here; no end before `timeout` raises `WaitTimeoutError`.
        """

    @abc.abstractmethod
    def patched(self, change_id: str) -> bool:
        """Whether this instance runs the code of change `change_id` (versioning).

        True when the instance reaches this call for the first time under code that has
        it (a marker is journaled, so the answer never changes for the instance); False
        when it replays a journal written before the change. Guard new or changed steps
        with it: `if step.patched("fraud-check"): await step.do("fraud check", ...)`.
        Once no instance from before the change runs, replace it with `deprecate_patch`,
        then remove that too (docs/guide.md, "Versioning").
        """

    @abc.abstractmethod
    def deprecate_patch(self, change_id: str) -> None:
        """The clean-up phase of `patched(change_id)`: the code keeps only the new path.

        Keeps the journals of instances that took the patch in step with the code; drop
        the call once no instance from before `deprecate_patch` runs.
        """

    async def race(self, *operations: Awaitable[T]) -> tuple[int, T]:
        """Run step operations concurrently; return `(index, result)` of the first to end.

        The others are cancelled (a step function already running finishes, unjournaled).
        If the first to end failed, its error is raised. Replays pick the same winner.
        """
        if not operations:
            raise ValueError("race needs at least one operation")
        tasks = [asyncio.ensure_future(op) for op in operations]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
        first = min(done, key=tasks.index)
        for other in done - {first}:
            if not other.cancelled():
                other.exception()  # retrieved: only the first one's outcome counts
        return tasks.index(first), first.result()


class WorkflowEntrypoint(abc.ABC, Generic[P]):
    """Base class of a workflow. Subclass as `WorkflowEntrypoint[MyParams]`.

    `MyParams` is a pydantic model: params are validated against it at create time and
    `run()` receives an instance of it as `event.payload`. Without a model the payload is
    the raw JSON value.
    """

    params_model: ClassVar[type[BaseModel] | None] = None
    params_problem: ClassVar[str | None] = None
    """Why the declared params type cannot validate params (`Workflow(...)` refuses it)."""

    def __init__(self, env: Env | None = None) -> None:
        self.env = env or Env()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            origin = get_origin(base)
            if not (isinstance(origin, type) and issubclass(origin, WorkflowEntrypoint)):
                continue
            args = get_args(base)
            if len(args) != 1 or isinstance(args[0], TypeVar):
                continue  # a generic base of the project's own: its subclasses say
            cls.params_model, cls.params_problem = _params_of(cls.__name__, args[0])

    @abc.abstractmethod
    def run(self, event: WorkflowEvent[P], step: WorkflowStep) -> Awaitable[Any]:
        """The workflow body. Its return value (JSON) is the instance output."""


def _params_of(owner: str, declared: Any) -> tuple[type[BaseModel] | None, str | None]:
    """The params model of `WorkflowEntrypoint[declared]`, or why `declared` cannot be one.

    A pydantic model (also inside `Annotated[...]`) validates params; `Any` and plain JSON
    types (`dict`, `list`, `str`...) take them raw. A model inside another type (`M | None`,
    `list[M]`) would not be validated, nor would a dataclass or TypedDict: refused.
    """
    if get_origin(declared) is Annotated:
        declared = get_args(declared)[0]
    if isinstance(declared, type) and issubclass(declared, BaseModel):
        return declared, None
    if _holds_model(declared):
        return None, (
            f"{owner}'s params type {declared!r} holds a pydantic model but is not one: "
            "declare WorkflowEntrypoint[YourModel] (give fields defaults instead of `| None`; "
            "wrap a list in a model: `class Params(BaseModel): items: list[Item]`)"
        )
    if isinstance(declared, type) and declared.__module__ not in ("builtins", "typing"):
        return None, (
            f"{owner}'s params type {declared.__name__} is not a pydantic model: declare "
            f"`class {declared.__name__}(pydantic.BaseModel)` (or use WorkflowEntrypoint[Any] "
            "for raw JSON)"
        )
    return None, None


def _holds_model(declared: Any) -> bool:
    return any(
        (isinstance(arg, type) and issubclass(arg, BaseModel)) or _holds_model(arg)
        for arg in get_args(declared)
    )
