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
from urllib.parse import quote, urlencode, urlsplit, urlunsplit
from urllib.request import HTTPRedirectHandler, ProxyHandler, Request, build_opener

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from lambda_workflows.aws.sigv4 import SigV4Signer
from lambda_workflows.clock import monotonic
from lambda_workflows.errors import ApiError, ApiUnreachableError, UnexpectedAnswerError
from lambda_workflows.http.models import (
    BatchCreated,
    InstanceDetailsModel,
    InstanceListModel,
    InstanceRef,
    WorkflowDetails,
    WorkflowList,
)
from lambda_workflows.journal.document import JournalDocument

DEFAULT_TIMEOUT_SECONDS = 30.0
"""How long one request may take in all: connecting, sending, and reading the answer."""
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The API's answers stay under Lambda's 6 MB; anything far larger is not the API."""
_READ_CHUNK = 64 * 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

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


class _NoRedirects(HTTPRedirectHandler):
    """A redirect is answered as what it is, never followed: a signed request must not
    carry its `Authorization` header to wherever a `Location` points."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def normalized_base_url(url: str) -> str:
    """`url` without a trailing `/` and without the scheme's default port (`:443`), so
    the `Host` header sent is the one SigV4 signs."""
    parts = urlsplit(url.rstrip("/"))
    netloc = parts.netloc
    if parts.port is not None and parts.port == _DEFAULT_PORTS.get(parts.scheme):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ApiClient:
    """Calls one lambda-workflows API (`base_url`); signs with `signer` when given.

    Raises `ApiError` for an error answer, `ApiUnreachableError` when nothing answers in
    `timeout` seconds, and `UnexpectedAnswerError` when what answers is not the API.
    Redirects are not followed.
    """

    def __init__(
        self,
        base_url: str,
        signer: SigV4Signer | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = normalized_base_url(base_url)
        self.signer = signer
        self.timeout = timeout
        handlers: list[Any] = [_NoRedirects()]
        if (urlsplit(self.base_url).hostname or "") in LOOPBACK_HOSTS:
            handlers.append(ProxyHandler({}))
        self._opener = build_opener(*handlers)

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

    def journal(self, workflow: str, instance_id: str) -> Answer[JournalDocument]:
        path = f"{self._instance(workflow, instance_id)}/journal"
        return self._call(JournalDocument, "GET", path)

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
            url = f"{url}?{urlencode(query, quote_via=quote, safe='')}"
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.signer is not None:
            headers = self.signer.sign(method, url, headers, data)
        request = Request(url, data=data if body is not None else None, method=method)
        for name, value in headers.items():
            request.add_header(name, value)
        deadline = monotonic() + self.timeout
        try:
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    status = int(response.status)
                    text = self._read(response, deadline, status)
            except HTTPError as error:
                status = error.code
                text = self._read(error, deadline, status)
                if 300 <= status < 400:
                    where = error.headers.get("Location", "elsewhere")
                    raise self._not_the_api(
                        status, f"a redirect to {where!r} (lwf does not follow redirects)"
                    ) from None
                raise self._error(status, text) from None
        except (URLError, HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise ApiUnreachableError(self.base_url, str(reason) or type(error).__name__) from None
        if not text:
            return status, None
        return status, self._json(status, text)

    def _read(self, response: Any, deadline: float, status: int) -> bytes:
        """The whole body, within the request's deadline however slowly it drips."""
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read1(_READ_CHUNK):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise self._not_the_api(status, f"a body over {MAX_ANSWER_BYTES} bytes")
            if monotonic() > deadline:
                raise TimeoutError(f"no complete answer within {self.timeout:g} seconds")
            chunks.append(chunk)
        return b"".join(chunks)

    def _json(self, status: int, text: bytes) -> Any:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise self._not_the_api(status, "a body that is not JSON") from None

    def _error(self, status: int, text: bytes) -> ApiError | UnexpectedAnswerError:
        """Our error body, or API Gateway's own `{"message": ...}`; anything else (a
        proxy's HTML page) is not the API."""
        document = self._json(status, text) if text else None
        if isinstance(document, dict) and isinstance(document.get("error"), dict):
            error = document["error"]
            details = error.get("details")
            return ApiError(
                status,
                str(error.get("code", f"http_{status}")),
                str(error.get("message", "")),
                details if isinstance(details, list) else None,
            )
        if isinstance(document, dict) and isinstance(document.get("message"), str):
            return ApiError(status, f"http_{status}", document["message"])
        if document is None:
            return ApiError(status, f"http_{status}", f"HTTP {status} with an empty body")
        return self._not_the_api(status, "JSON of another shape")

    def _not_the_api(self, status: int, what: str) -> UnexpectedAnswerError:
        return UnexpectedAnswerError(self.base_url, status, what)
