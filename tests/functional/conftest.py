"""Fixtures of the functional tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.testing import WorkflowTestEnv

from tests.functional.cli_support import Lwf


@pytest.fixture
def lwf(workflows: WorkflowTestEnv, tmp_path: Path) -> Iterator[Lwf]:
    handler = ApiHandler(lambda: workflows.engine)
    recorded: list[dict[str, Any]] = []

    def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
        recorded.append(event)
        return handler(event, context)

    with serve(recording) as url:
        yield Lwf(workflows, url, tmp_path, recorded)
