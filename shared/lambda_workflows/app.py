"""The app declaration: one place read by the runtime, the CDK app, the CLI and local dev."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from lambda_workflows.api import WorkflowEntrypoint
from lambda_workflows.config import Duration, parse_duration
from lambda_workflows.errors import (
    AppImportError,
    InvalidParamsError,
    ValidationError,
    WorkflowNotFoundError,
    capped,
)
from lambda_workflows.names import check_workflow_name
from lambda_workflows.schedule_expressions import ScheduleExpression, parse_schedule

DEFAULT_STEP_LIMIT = 10_000
MAX_CONCURRENCY = 1_000
"""Most slots a capped workflow may have: the ids of their holders share one DynamoDB item
(400 KB; an id is up to 100 characters)."""


def run_problem(cls: type[WorkflowEntrypoint[Any]]) -> str | None:
    """Why `cls.run` cannot be a workflow body, or None.

    It must return an awaitable: an `async def` (also behind decorators that keep
    `__wrapped__`), or a function annotated to return one (`-> Awaitable[...]`,
    `-> Coroutine[...]`). An async generator (`yield` in `async def run`) is refused.
    """
    run = inspect.unwrap(cls.run)
    name = f"{cls.__name__}.run"
    if inspect.isasyncgenfunction(run) or inspect.isasyncgenfunction(cls.run):
        return (
            f"{name} is an async generator (it has `yield`): `return` the output instead; "
            "report progress with steps"
        )
    if inspect.iscoroutinefunction(run) or inspect.iscoroutinefunction(cls.run):
        return None
    returns = getattr(cls.run, "__annotations__", {}).get("return")
    if isinstance(returns, str) and returns.split("[", 1)[0].rsplit(".", 1)[-1] in (
        "Awaitable",
        "Coroutine",
    ):
        return None
    origin = getattr(returns, "__origin__", returns)
    if isinstance(origin, type) and origin.__name__ in ("Awaitable", "Coroutine"):
        return None
    return (
        f"{name} must be a coroutine: write `async def run(self, event, step):` and `await` "
        "each step (a plain `def run` that returns an awaitable must say so: "
        "`-> Awaitable[...]`)"
    )


@dataclass(frozen=True)
class Workflow:
    """One workflow of the app.

    `binding` names the `self.env` attribute other workflows use to create instances of
    it; `concurrency` caps its instances running or waiting at once (the others stay
    queued, oldest first); `step_limit` caps steps per instance.
    """

    name: str
    cls: type[WorkflowEntrypoint[Any]]
    binding: str | None = None
    concurrency: int | None = None
    step_limit: int = DEFAULT_STEP_LIMIT

    def __post_init__(self) -> None:
        check_workflow_name(self.name)
        if not (isinstance(self.cls, type) and issubclass(self.cls, WorkflowEntrypoint)):
            raise ValidationError(f"workflow {self.name!r}: cls must subclass WorkflowEntrypoint")
        problem = run_problem(self.cls)
        if problem is not None:
            raise ValidationError(f"workflow {self.name!r}: {problem}")
        if self.cls.params_problem is not None:
            raise ValidationError(f"workflow {self.name!r}: {self.cls.params_problem}")
        if self.step_limit < 1:
            raise ValidationError(f"workflow {self.name!r}: step_limit must be >= 1")
        if self.concurrency is not None and not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValidationError(
                f"workflow {self.name!r}: concurrency must be from 1 to {MAX_CONCURRENCY} "
                "(None: no cap)"
            )

    @property
    def params_model(self) -> type[BaseModel] | None:
        return self.cls.params_model

    def validate_params(self, params: Any) -> Any:
        """Validate params against the workflow's model; return them as JSON data."""
        model = self.params_model
        if model is None:
            return params
        try:
            parsed = model.model_validate({} if params is None else params)
        except PydanticValidationError as exc:
            details, more = capped(
                [
                    {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                    for err in exc.errors()
                ]
            )
            fields = "; ".join(
                f"{'.'.join(str(part) for part in d['loc']) or 'params'}: {d['msg']}"
                for d in details
            )
            raise InvalidParamsError(
                f"invalid params for workflow {self.name!r}: {fields}{more}", details=details
            ) from None
        return parsed.model_dump(mode="json")

    def parse_params(self, params: Any) -> Any:
        """Params as `run()` sees them: a model instance when the workflow declares one."""
        model = self.params_model
        return params if model is None else model.model_validate(params)


@dataclass(frozen=True)
class Cron:
    """A schedule calling `handler(scheduled_time, env)` at every tick.

    `expression` is EventBridge's: `cron(0 0 * * ? *)` (or its six fields alone) or
    `rate(1 hour)`. `scheduled_time` is the tick's aware UTC datetime, the same on a
    re-delivered tick, so ids built from it (`f"daily-{...}"`) make duplicates no-ops.
    `name` (default: from the handler) names the rule in the deployment and in tests.
    """

    expression: str
    handler: Callable[..., Any]
    name: str = ""
    schedule: ScheduleExpression = field(init=False, repr=False, compare=False)
    """The parsed expression (parsed once, at declaration)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", parse_schedule(self.expression))
        if not callable(self.handler):
            raise ValidationError(f"cron {self.expression!r}: handler must be callable")
        if not self.name:
            handler = getattr(self.handler, "func", self.handler)  # functools.partial
            qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
            default = re.sub(r"[^a-zA-Z0-9_-]+", "-", qualname).strip("-")
            object.__setattr__(self, "name", default.lower()[:64] or "cron")
        check_workflow_name(self.name)


DEFAULT_RETENTION = "30 days"
"""How long a finished instance is kept (Cloudflare's retention on the paid plan)."""


@dataclass
class WorkflowApp:
    """Everything deployed together: workflows, bindings and crons.

    `retention`: how long a complete, errored or terminated instance is kept after it
    ended (a duration: `"30 days"`, a `timedelta`, milliseconds); then the sweeper deletes
    it with its journal, events and stored values. `None` keeps finished instances until
    they are deleted.
    """

    workflows: Iterable[Workflow]
    bindings: Mapping[str, Any] = field(default_factory=dict)
    crons: Iterable[Cron] = ()
    retention: Duration | None = DEFAULT_RETENTION

    def __post_init__(self) -> None:
        self.retention_ms: int | None = None
        if self.retention is not None:
            kept = parse_duration(self.retention, what="retention")
            if kept < timedelta(minutes=1):
                raise ValidationError(f"retention must be at least 1 minute: {self.retention!r}")
            self.retention_ms = int(kept.total_seconds() * 1000)
        self.workflows = tuple(self.workflows)
        self.crons = tuple(self.crons)
        self.bindings = dict(self.bindings)
        self._by_name: dict[str, Workflow] = {}
        for workflow in self.workflows:
            if workflow.name in self._by_name:
                raise ValidationError(f"workflow {workflow.name!r} is declared twice")
            self._by_name[workflow.name] = workflow
        names = [w.binding for w in self.workflows if w.binding] + list(self.bindings)
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValidationError(f"binding names used twice: {sorted(duplicates)}")
        cron_names = [c.name for c in self.crons]
        twice = {n for n in cron_names if cron_names.count(n) > 1}
        if twice:
            raise ValidationError(f"cron names used twice (pass name=...): {sorted(twice)}")

    def cron(self, name: str) -> Cron:
        """The declared cron called `name`, or `ValidationError` naming the ones there are."""
        for cron in self.crons:
            if cron.name == name:
                return cron
        raise ValidationError(f"no cron named {name!r}; the app has {[c.name for c in self.crons]}")

    def workflow(self, name: str) -> Workflow:
        """The declared workflow called `name`, or `WorkflowNotFoundError`."""
        try:
            return self._by_name[name]
        except KeyError:
            raise WorkflowNotFoundError(f"no workflow named {name!r}") from None

    @property
    def names(self) -> list[str]:
        return list(self._by_name)


def configured_app_path(project_root: Path | None = None) -> tuple[str, Path]:
    """The `module:attribute` of `[tool.lambda-workflows] app`, and the project folder."""
    root = project_root or Path.cwd()
    for folder in (root, *root.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ValidationError(f"{pyproject} is not valid TOML: {exc}") from None
            path = data.get("tool", {}).get("lambda-workflows", {}).get("app")
            if isinstance(path, str):
                return path, folder
    raise ValidationError("no [tool.lambda-workflows] app = 'module:attribute' in pyproject.toml")


def import_app(path: str) -> WorkflowApp:
    """Import the app object named by `module:attribute`.

    Raises `AppImportError` when the path is malformed, when the module or the attribute
    does not exist, or when the object is not a `WorkflowApp`. What the module itself
    raises while it is imported (a bug in it, a dependency it lacks) propagates as it is,
    with its traceback.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise AppImportError(path, f"app path must look like 'module:attribute', got {path!r}")
    if module_name.startswith("."):
        raise AppImportError(path, f"the app's module must be absolute, got {module_name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not missing or not (module_name + ".").startswith(missing + "."):
            raise  # the module exists but imports one that does not
        raise AppImportError(
            path,
            f"cannot import the app's module {module_name!r}: no module named {missing!r} "
            "(run lwf from the project's folder, or put that folder on PYTHONPATH)",
        ) from None
    try:
        app = getattr(module, attribute)
    except AttributeError:
        apps = sorted(n for n, v in vars(module).items() if isinstance(v, WorkflowApp))
        has = f"; its WorkflowApps: {', '.join(apps)}" if apps else ", nor any WorkflowApp"
        raise AppImportError(
            path, f"module {module_name!r} has no attribute {attribute!r}{has}"
        ) from None
    if not isinstance(app, WorkflowApp):
        raise AppImportError(
            path, f"{path} is not a WorkflowApp (its type is {type(app).__name__})"
        )
    return app


def load_app(project_root: Path | None = None) -> WorkflowApp:
    """The app configured in pyproject.toml (its folder is put on `sys.path`)."""
    path, folder = configured_app_path(project_root)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return import_app(path)
