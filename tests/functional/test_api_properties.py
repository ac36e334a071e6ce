"""Property-based tests of the HTTP API: schemathesis generates requests from
/openapi.json and sends them, in process, to the API handler on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.http.wsgi import ProxyWsgiApp
from lambda_workflows.testing import WorkflowTestEnv
from schemathesis.specs.openapi.checks import positive_data_acceptance

from functions.app import app

CASES_PER_OPERATION = 50
SEMANTIC_INPUTS = {
    "POST /workflows/{name}/instances": "params are checked against each workflow's model",
    "POST /workflows/{name}/instances/batch": "params are checked against each workflow's model",
    "GET /workflows/{name}/instances": "a cursor is opaque: only one handed out is valid",
    "POST /workflows/{name}/instances/{instance_id}/restart": "from_step names a step that ran",
}
"""Operations where a schema-valid request may still be a 4xx (422 or 400), so the
"schema-valid data is accepted" check does not apply; every other check does."""


class CountingApp(ProxyWsgiApp):
    """The WSGI app under test, counting requests and remembering every 5xx."""

    def __init__(self, handler: ApiHandler) -> None:
        super().__init__(handler)
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return super().__call__(environ, start_response)


@pytest.fixture(scope="module")
def wsgi() -> Iterator[CountingApp]:
    with WorkflowTestEnv(app) as env:
        env.binding("race").create(id="r1")
        env.binding("approval").create(id="a1", params={"user_id": "u"})
        env.run_until_idle()
        yield CountingApp(ApiHandler(lambda: env.engine))


def test_generated_requests_never_get_a_5xx_and_match_the_schema(wsgi: CountingApp) -> None:
    """At least 500 generated cases over every route: no 5xx, and every response (status,
    content type, body) is what the schema documents."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", wsgi)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 13
    assert set(SEMANTIC_INPUTS) <= {op.label for op in operations}
    failures: list[str] = []
    for operation in operations:
        excluded = [positive_data_acceptance] if operation.label in SEMANTIC_INPUTS else []
        try:
            _fuzz(operation, excluded)
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert wsgi.calls >= 500


def _fuzz(operation: Any, excluded: list[Any]) -> None:
    @settings(
        max_examples=CASES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=excluded)

    check()
