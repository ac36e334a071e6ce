"""A mistake in a step's config names the step; a bad status name lists the valid ones."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from lambda_workflows import ValidationError, Workflow, WorkflowApp, WorkflowEntrypoint


class Misconfigured(WorkflowEntrypoint[Any]):
    options: ClassVar[dict[str, Any]] = {}

    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("charge card", lambda: 1, **self.options)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"retries": {"limit": -1}}, "step 'charge card': retries.limit must be a whole number"),
        ({"timeout": "soon"}, "step 'charge card': timeout: 'soon' is not a duration"),
        (
            {"retries": {"backoff": "fibonacci"}},
            "step 'charge card': retries.backoff must be constant, linear or exponential",
        ),
        ({"config": {"retry": 1}}, "step 'charge card': config: unknown keys ['retry']"),
        (
            {"retries": {"delay": "soon"}},
            "step 'charge card': retries.delay: 'soon' is not a duration",
        ),
        (
            {"rollback": print, "rollback_config": {"timeout": -1}},
            "step 'charge card': rollback_config: timeout: a duration cannot be negative",
        ),
    ],
)
def test_a_step_config_mistake_names_the_step(
    make_env: Any, options: dict[str, Any], expected: str
) -> None:
    Misconfigured.options = options
    env = make_env(WorkflowApp([Workflow("misconfigured", Misconfigured)]))
    env.binding("misconfigured").create(id="m")
    status = env.wait_for_status("misconfigured", "m", "errored")
    assert status.error.name == "ValidationError"
    assert expected in status.error.message


def test_a_bad_status_name_lists_the_valid_ones_as_plain_strings(workflows: Any) -> None:
    valid = "queued, running, paused, errored, terminated, complete, waiting, waitingForPause"
    with pytest.raises(ValidationError, match="'done' is not a status; valid: ") as caught:
        workflows.wait_for_status("approval", "x", "done")
    assert valid in str(caught.value)
    assert "InstanceStatus" not in str(caught.value)
    with pytest.raises(ValidationError) as listed:
        workflows.binding("approval").list(status="done")
    assert valid in str(listed.value)


def test_invalid_params_list_every_failing_field(workflows: Any) -> None:
    binding = workflows.binding("approval")
    with pytest.raises(ValidationError) as caught:
        binding.create(id="p", params={"request_id": 3})
    assert str(caught.value) == (
        "invalid params for workflow 'approval': user_id: Field required; "
        "request_id: Input should be a valid string"
    )
    with pytest.raises(ValidationError) as batch:
        binding.create_batch(
            [
                {"id": "a", "params": {"user_id": "u"}},
                {"id": "b", "params": {"user_id": 1}},
                {"id": "c", "params": {}},
            ]
        )
    assert "entry 1: invalid params for workflow 'approval': user_id: Input should be" in str(
        batch.value
    )
    assert "entry 2: invalid params for workflow 'approval': user_id: Field required" in str(
        batch.value
    )
    assert not binding.list().instances  # nothing was written
