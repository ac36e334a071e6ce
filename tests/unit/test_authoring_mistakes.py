"""Mistakes a workflow author makes, caught when the workflow is declared, with the fix in
the message (issue 16, first part)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from lambda_workflows import Workflow, WorkflowEntrypoint
from lambda_workflows.errors import ValidationError
from pydantic import BaseModel


class PlainRun(WorkflowEntrypoint[Any]):
    def run(self, event: Any, step: Any) -> Any:
        return step.do("x", lambda: 1)


@dataclass
class NotAModel:
    amount: int


class DataclassParams(WorkflowEntrypoint[NotAModel]):
    async def run(self, event: Any, step: Any) -> Any:
        return None


class Good(BaseModel):
    amount: int


class GoodParams(WorkflowEntrypoint[Good]):
    async def run(self, event: Any, step: Any) -> Any:
        return None


class RawParams(WorkflowEntrypoint[dict]):  # type: ignore[type-arg]
    async def run(self, event: Any, step: Any) -> Any:
        return None


def test_a_run_that_is_not_async_is_refused_with_the_fix() -> None:
    with pytest.raises(
        ValidationError, match=r"PlainRun\.run must be a coroutine: write `async def run"
    ):
        Workflow("plain", PlainRun)


def test_a_params_type_that_is_not_a_pydantic_model_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match=r"NotAModel is not a pydantic model: declare"):
        Workflow("dc", DataclassParams)


def test_pydantic_models_and_raw_json_are_fine() -> None:
    assert Workflow("good", GoodParams).params_model is Good
    assert Workflow("raw", RawParams).params_model is None
