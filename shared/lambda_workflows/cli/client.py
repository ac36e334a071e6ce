"""A small client of the HTTP API (urllib, no extra dependency) for `lwf`.

Answers are parsed into the API's own response models, so the CLI and the server agree
on one schema; `raw` keeps the JSON document as the API sent it for `--json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any, Generic, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import ProxyHandler, Request, build_opener

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from lambda_workflows.aws.sigv4 import SigV4Signer
from lambda_workflows.errors import ApiError, ApiUnreachableError
from lambda_workflows.http.models import (
    BatchCreated,
    InstanceDetailsModel,
    InstanceListModel,
    InstanceRef,
    WorkflowDetails,
    WorkflowList,
)

DEFAULT_TIMEOUT_SECONDS = 30.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Answer(Generic[Model]):
    """A parsed answer and the JSON document it came from."""

    value: Model
    raw: Any
    status: int


def _segment(value: str) -> str:
    """`value` as one path segment: `/`, `?`, `%` and dots escaped, so no value reaches
    another route (`..` would be a dot segment that proxies resolve)."""
    return quote(value, safe="").replace(".", "%2E")


class ApiClient:
    """Calls one lambda-workflows API (`base_url`); signs with `signer` when given.

    Raises `ApiError` for an error answer and `ApiUnreachableError` when nothing answers.
    """

    def __init__(
        self,
        base_url: str,
        signer: SigV4Signer | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        loopback = (urlsplit(self.base_url).hostname or "") in LOOPBACK_HOSTS
        self._opener = build_opener(ProxyHandler({})) if loopback else build_opener()

    # -- workflows -----------------------------------------------------------------------

    def workflows(self) -> Answer[WorkflowList]:
        return self._call(WorkflowList, "GET", "/workflows")

    def workflow(self, name: str) -> Answer[WorkflowDetails]:
        return self._call(WorkflowDetails, "GET", f"/workflows/{_segment(name)}")

    # -- instances -----------------------------------------------------------------------

    def create(self, workflow: str, params: Any, instance_id: str | None) -> Answer[InstanceRef]:
        body: dict[str, Any] = {"params": params}
        if instance_id is not None:
            body["id"] = instance_id
        return self._call(InstanceRef, "POST", self._instances(workflow), body)

    def create_batch(self, workflow: str, entries: list[dict[str, Any]]) -> Answer[BatchCreated]:
        return self._call(BatchCreated, "POST", f"{self._instances(workflow)}/batch", entries)

    def instances(
        self,
        workflow: str,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Answer[InstanceListModel]:
        query = {
            key: str(value)
            for key, value in (("status", status), ("limit", limit), ("cursor", cursor))
            if value is not None
        }
        return self._call(InstanceListModel, "GET", self._instances(workflow), query=query)

    def instance(self, workflow: str, instance_id: str) -> Answer[InstanceDetailsModel]:
        return self._call(InstanceDetailsModel, "GET", self._instance(workflow, instance_id))

    def action(
        self, workflow: str, instance_id: str, action: str, body: Mapping[str, Any] | None = None
    ) -> Answer[InstanceRef]:
        path = f"{self._instance(workflow, instance_id)}/{action}"
        return self._call(InstanceRef, "POST", path, dict(body or {}))

    def delete(self, workflow: str, instance_id: str) -> None:
        self._send("DELETE", self._instance(workflow, instance_id))

    def send_event(
        self,
        workflow: str,
        instance_id: str,
        event_type: str,
        payload: Any,
        event_id: str | None = None,
    ) -> Answer[InstanceRef]:
        body: dict[str, Any] = {"payload": payload}
        if event_id is not None:
            body["event_id"] = event_id
        path = f"{self._instance(workflow, instance_id)}/events/{_segment(event_type)}"
        return self._call(InstanceRef, "POST", path, body)

    # -- transport -----------------------------------------------------------------------

    @staticmethod
    def _instances(workflow: str) -> str:
        return f"/workflows/{_segment(workflow)}/instances"

    def _instance(self, workflow: str, instance_id: str) -> str:
        return f"{self._instances(workflow)}/{_segment(instance_id)}"

    def _call(
        self,
        model: type[Model],
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Answer[Model]:
        status, raw = self._send(method, path, body, query)
        try:
            return Answer(model.model_validate(raw), raw, status)
        except PydanticValidationError:
            raise self._not_the_api(status, "JSON of another shape") from None

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        url = f"{self.base_url}{path}"
        if query:
            url = f"{url}?{urlencode(query)}"
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.signer is not None:
            headers = self.signer.sign(method, url, headers, data)
        request = Request(url, data=data if body is not None else None, method=method)
        for name, value in headers.items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                text = response.read()
        except HTTPError as error:
            raise _api_error(error.code, error.read()) from None
        except (URLError, HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise ApiUnreachableError(self.base_url, str(reason) or type(error).__name__) from None
        if not text:
            return status, None
        try:
            return status, json.loads(text)
        except ValueError:
            raise self._not_the_api(status, "a body that is not JSON") from None

    def _not_the_api(self, status: int, what: str) -> ApiUnreachableError:
        return ApiUnreachableError(
            self.base_url, f"it answered {status} with {what}: is this a lambda-workflows API?"
        )


def _api_error(status: int, body: bytes) -> ApiError:
    """Our error body, or API Gateway's own `{"message": ...}`, or the raw text."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        error = document["error"]
        details = error.get("details")
        return ApiError(
            status,
            str(error.get("code", f"http_{status}")),
            str(error.get("message", "")),
            details if isinstance(details, list) else None,
        )
    if isinstance(document, dict) and "message" in document:
        return ApiError(status, f"http_{status}", str(document["message"]))
    text = body.decode("utf-8", "replace").strip()[:500]
    return ApiError(status, f"http_{status}", text or f"HTTP {status}")
