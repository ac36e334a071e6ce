"""The generic Lambda entry points a user's project deploys: the app from `LWF_APP`, the
resources from `LWF_*`, exactly as the CDK construct configures each function."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
from lambda_workflows.errors import ValidationError
from lambda_workflows.handlers import entry
from lambda_workflows.testing import WorkflowTestEnv

from functions.app import app


def _fresh_entry() -> ModuleType:
    return importlib.reload(entry)


def test_the_entry_points_run_the_app_named_by_lwf_app(monkeypatch: pytest.MonkeyPatch) -> None:
    with WorkflowTestEnv(app) as env:
        assert env.cloud.settings is not None
        for name, value in env.cloud.settings.to_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LWF_APP", "functions.app:app")
        module = _fresh_entry()
        created = module.api(
            {
                "resource": "/workflows/race/instances",
                "path": "/workflows/race/instances",
                "httpMethod": "POST",
                "headers": {"Content-Type": "application/json"},
                "requestContext": {"requestId": "r", "stage": "prod"},
                "body": '{"id": "e1"}',
                "isBase64Encoded": False,
            },
            None,
        )
        assert created["statusCode"] == 201
        assert module.sweeper({}, None) == {"resent": []}
        assert module.worker.engine.app is app
        assert module.cron.engine is not None
        env.run_until_idle()
        assert env.binding("race").get("e1").summary().status == "waiting"


def test_a_missing_lwf_app_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LWF_APP", raising=False)
    module = _fresh_entry()
    with pytest.raises(ValidationError, match="LWF_APP"):
        module.app_engine()
