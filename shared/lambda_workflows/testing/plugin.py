"""The pytest plugin (entry point `pytest11`): the `workflows` fixture.

`workflows` is a `WorkflowTestEnv` of the app named by `[tool.lambda-workflows] app` in
the project's pyproject.toml. Override the `workflows_app` fixture to test another app.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambda_workflows.app import WorkflowApp, load_app
from lambda_workflows.testing.env import WorkflowTestEnv


@pytest.fixture
def workflows_app(request: pytest.FixtureRequest) -> WorkflowApp:
    """The app under test: the one configured in pyproject.toml."""
    return load_app(request.config.rootpath)


@pytest.fixture
def workflows(workflows_app: WorkflowApp) -> Iterator[WorkflowTestEnv]:
    """A fresh `WorkflowTestEnv` (moto, virtual clock, pump) of the app, per test."""
    with WorkflowTestEnv(workflows_app) as env:
        yield env
