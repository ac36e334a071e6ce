"""The OpenAPI schema of the instance API, saying exactly what the API answers.

Powertools documents a 422 `HTTPValidationError` on every route, which this API never
sends (request validation errors are 400s with the one error body), and gives a 204 a
`null` body. `tidy` removes both and every component nothing refers to.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

ERROR_REF = "#/components/schemas/ErrorResponse"
_REF_PREFIX = "#/components/schemas/"


def _refs(value: Any) -> set[str]:
    """Names of the component schemas `value` refers to directly."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                found.add(ref[len(_REF_PREFIX) :])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _schema_ref(response: Any) -> Any:
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def tidy(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (a JSON OpenAPI document) without Powertools' 422s, 204 bodies and
    unused components. Changes `schema` in place and returns it."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if "422" in responses and _schema_ref(responses["422"]) != ERROR_REF:
                del responses["422"]
            if "204" in responses:
                responses["204"].pop("content", None)
    components = schema.get("components", {}).get("schemas", {})
    used: set[str] = set()
    frontier = _refs(schema.get("paths", {}))
    while frontier:
        used |= frontier
        frontier = set().union(*(_refs(components.get(n)) for n in frontier)) - used
    for name in set(components) - used:
        del components[name]
    return schema


class InstanceApiResolver(APIGatewayRestResolver):
    """The Powertools REST resolver, serving the tidied schema (`/openapi.json`, `/docs`)."""

    def get_openapi_schema(self, **options: Any) -> OpenAPI:
        schema = super().get_openapi_schema(**options)
        data = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
        return OpenAPI.model_validate(tidy(data))
