from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from collections.abc import Callable, Iterator

import pytest
from lambda_workflows import WorkflowApp
from lambda_workflows.testing import WorkflowTestEnv


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Save coverage data as an xdist worker finishes its tests: a worker stopped at
    shutdown (execnet may end it hard) would otherwise lose everything it measured."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    try:
        import coverage
    except ImportError:  # pragma: no cover - coverage is a dev dependency
        return
    current = coverage.Coverage.current()
    if current is not None:
        current.save()


@pytest.fixture
def make_env() -> Iterator[Callable[..., WorkflowTestEnv]]:
    """Start a WorkflowTestEnv for an app; closed at the end of the test."""
    envs: list[WorkflowTestEnv] = []

    def make(app: WorkflowApp, **kwargs: object) -> WorkflowTestEnv:
        env = WorkflowTestEnv(app, **kwargs)  # type: ignore[arg-type]
        env.__enter__()
        envs.append(env)
        return env

    yield make
    for env in reversed(envs):
        env.__exit__(None, None, None)
