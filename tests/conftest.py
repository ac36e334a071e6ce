from __future__ import annotations

import os

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import io
import logging
from collections.abc import Callable, Iterator

import pytest
from lambda_workflows import WorkflowApp
from lambda_workflows.handlers.api import logger as api_logger
from lambda_workflows.runtime.worker import logger as worker_logger
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


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """What the engine's Powertools logger writes (the worker's, and its children's: the
    API's request lines are at INFO while it runs)."""
    handler = worker_logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    level = api_logger.log_level
    engine = logging.getLogger("lambda-workflows")
    engine_level = engine.level
    api_logger.setLevel("INFO")
    engine.setLevel(logging.INFO)  # whatever an earlier test in this process left it at
    try:
        yield stream
    finally:
        handler.setStream(previous)
        api_logger.setLevel(level)
        engine.setLevel(engine_level)
