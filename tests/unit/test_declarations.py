from __future__ import annotations

import functools
from typing import Any

import pytest
from lambda_workflows import Cron, ValidationError, Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.app import import_app, load_app
from lambda_workflows.errors import WorkflowNotFoundError
from lambda_workflows.names import check_event_type, check_instance_id, check_step_name
from lambda_workflows.settings import Settings
from pydantic import BaseModel


class P(BaseModel):
    n: int


class W(WorkflowEntrypoint[P]):
    async def run(self, event: Any, step: Any) -> Any:
        return None


class Untyped(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        return None


def test_params_model_comes_from_the_generic_argument() -> None:
    assert W.params_model is P
    assert Untyped.params_model is None
    assert Workflow("w", W).validate_params({"n": "3"}) == {"n": 3}
    assert Workflow("u", Untyped).validate_params({"any": 1}) == {"any": 1}


def test_app_rejects_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValidationError):
        WorkflowApp([Workflow("w", W), Workflow("w", W)])
    with pytest.raises(ValidationError):
        WorkflowApp([Workflow("w", W, binding="X")], bindings={"X": object()})
    app = WorkflowApp([Workflow("w", W)])
    with pytest.raises(WorkflowNotFoundError):
        app.workflow("nope")
    with pytest.raises(ValidationError):
        Workflow("w", object)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Workflow("w", W, step_limit=0)
    with pytest.raises(ValidationError):
        Workflow("bad name", W)


def test_the_configured_app_loads() -> None:
    app = load_app()
    assert "approval" in app.names
    with pytest.raises(ValidationError):
        import_app("no-colon")
    with pytest.raises(ValidationError):
        import_app("lambda_workflows:__name__")


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (check_instance_id, "a" * 100, "a" * 101),
        (check_instance_id, "_ok-id_9", "-no"),
        (check_step_name, "s" * 256, "s" * 257),
        (check_event_type, "e" * 100, "e" * 101),
        (check_event_type, "approval-response", "approval.response"),
    ],
)
def test_name_limits(check: Any, good: str, bad: str) -> None:
    assert check(good) == good
    with pytest.raises(ValidationError):
        check(bad)


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {"LWF_TABLE_NAME": "t", "LWF_QUEUE_URL": "q", "LWF_BUCKET_NAME": "b", "OTHER": "x"}
    )
    assert settings.table_name == "t"
    assert settings.schedule_group == "default"
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(ValidationError, match="LWF_QUEUE_URL"):
        Settings.from_env({"LWF_TABLE_NAME": "t", "LWF_BUCKET_NAME": "b"})


def _tick(scheduled_time: object, env: object) -> None:
    return None


class _Ticker:
    def __call__(self, scheduled_time: object, env: object) -> None:
        return None


def test_cron_names_default_from_any_callable_and_expressions_are_checked() -> None:
    assert Cron("rate(1 hour)", _tick).name == "_tick"
    assert Cron("rate(1 hour)", functools.partial(_tick)).name == "_tick"
    assert Cron("rate(1 hour)", _Ticker()).name == "_ticker"
    assert Cron("cron(0 0 * * ? *)", _tick, name="nightly").name == "nightly"
    with pytest.raises(ValidationError, match="minutes"):
        Cron("cron(61 0 * * ? *)", _tick)
    with pytest.raises(ValidationError, match="cron names used twice"):
        WorkflowApp([], crons=[Cron("rate(1 hour)", _tick), Cron("rate(2 hours)", _tick)])
    with pytest.raises(ValidationError, match="no cron named"):
        WorkflowApp([]).cron("missing")
