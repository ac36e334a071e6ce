"""The routes of the instance API, each a thin call into the typed instance API."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BeforeValidator

from lambda_workflows.app import Workflow
from lambda_workflows.engine import Engine
from lambda_workflows.http.models import (
    MAX_SHOWN_EVENTS,
    BatchCreated,
    CreateInstance,
    CronInfo,
    ErrorResponse,
    InstanceDetailsModel,
    InstanceListModel,
    InstanceRef,
    RestartInstance,
    SendEvent,
    TerminateInstance,
    WorkflowDetails,
    WorkflowList,
    WorkflowSummary,
)
from lambda_workflows.instances import (
    MAX_BATCH,
    MAX_PAGE,
    CreateRequest,
    Instance,
    WorkflowBinding,
)
from lambda_workflows.journal.document import JournalDocument
from lambda_workflows.journal.records import InstanceStatus
from lambda_workflows.metrics import EventsSent, InstancesCreated
from lambda_workflows.names import (
    HTTP_EVENT_TYPE_PATTERN,
    ID_PATTERN,
    MAX_EVENT_TYPE,
    MAX_INSTANCE_ID,
    MAX_WORKFLOW_NAME,
    check_instance_id,
    check_workflow_name,
)

DETAILS_VALUE_BYTES = 4 * 1024 * 1024
"""JSON values (params, output, step results) one instance response shows at most:
Lambda responses stop at 6 MB."""

logger = Logger(service="lambda-workflows", child=True)

WorkflowName = Annotated[str, Path(max_length=MAX_WORKFLOW_NAME, pattern=ID_PATTERN)]
InstanceId = Annotated[str, Path(max_length=MAX_INSTANCE_ID, pattern=ID_PATTERN)]
EventType = Annotated[str, Path(max_length=MAX_EVENT_TYPE, pattern=HTTP_EVENT_TYPE_PATTERN)]

_PLAIN_INTEGER = re.compile(r"[0-9]{1,9}")


def _plain_integer(value: Any) -> Any:
    """A query value as pydantic may read it as an int: only ASCII digits (pydantic's lax
    mode also takes `2.0`, ` 2`, `+2` and `2_0`)."""
    if isinstance(value, str) and not _PLAIN_INTEGER.fullmatch(value):
        raise ValueError("must be a plain decimal integer (digits only)")
    return value


PageLimit = Annotated[int, BeforeValidator(_plain_integer), Query(ge=1, le=MAX_PAGE)]

_ERRORS = {
    400: "Bad request: malformed JSON, a bad name or id, a body of the wrong shape",
    500: "Internal error: quote the `request_id` of the body when you report it",
    404: "Unknown workflow or instance",
    409: "Conflict: duplicate id, or the instance's status does not allow it",
    413: "Request body too large",
    422: "Params that fail the workflow's model (`details` lists the fields)",
}


def _responses(status: int, model: type[Any] | None, *errors: int) -> dict[int, Any]:
    """OpenAPI responses of a route: its success and the errors it can return."""
    success: dict[str, Any] = {"description": "Success"}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    table: dict[int, Any] = {status: success}
    for code in (400, 413, 500, *errors):
        table[code] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return table


_ACTIONS = {
    "pause": "Pause (at the next step boundary while a step runs)",
    "resume": "Resume a paused instance",
}
"""Routes that call an `Instance` method of the same name with no arguments."""


def _action_route(
    router: APIGatewayRouter,
    lookup: Callable[[str, str], Instance],
    action: str,
    summary: str,
) -> None:
    @router.post(
        f"/workflows/<name>/instances/<instance_id>/{action}",
        summary=summary,
        responses=_responses(200, InstanceRef, 404, 409),
        tags=["instances"],
        operation_id=f"{action}_instance",
    )
    def act(name: WorkflowName, instance_id: InstanceId) -> InstanceRef:
        target = lookup(name, instance_id)
        getattr(target, action)()
        return _ref(target)


def _summary(workflow: Workflow) -> dict[str, Any]:
    cls = workflow.cls
    return {
        "name": workflow.name,
        "class_name": f"{cls.__module__}.{cls.__qualname__}",
        "binding": workflow.binding,
        "concurrency": workflow.concurrency,
        "step_limit": workflow.step_limit,
    }


def _ref(instance: Instance) -> InstanceRef:
    return InstanceRef(id=instance.id, status=instance.summary().status)


def instance_routes(engine: Engine) -> APIGatewayRouter:
    """Every route of DESIGN section 5 on `engine`'s app."""
    router = APIGatewayRouter()  # type: ignore[no-untyped-call]
    metrics = engine.services.metrics

    def binding(name: str) -> WorkflowBinding:
        check_workflow_name(name)
        return engine.binding(name)

    def instance(name: str, instance_id: str) -> Instance:
        workflows = binding(name)
        check_instance_id(instance_id)
        return workflows.get(instance_id)

    @router.get(
        "/workflows",
        summary="List the app's workflows",
        responses=_responses(200, WorkflowList),
        tags=["workflows"],
    )
    def list_workflows() -> WorkflowList:
        return WorkflowList(
            workflows=[WorkflowSummary(**_summary(w)) for w in engine.app.workflows]
        )

    @router.get(
        "/workflows/<name>",
        summary="Describe a workflow: params schema, crons, instance counts by status",
        responses=_responses(200, WorkflowDetails, 404),
        tags=["workflows"],
    )
    def describe_workflow(name: WorkflowName) -> WorkflowDetails:
        workflows = binding(name)
        workflow = workflows.workflow
        model = workflow.params_model
        prefix = f"{workflow.cls.__qualname__}."
        crons = [
            CronInfo(name=c.name, expression=c.expression)
            for c in engine.app.crons
            if getattr(getattr(c.handler, "func", c.handler), "__qualname__", "").startswith(prefix)
        ]
        counts = {InstanceStatus(k): v for k, v in workflows.counts().items()}
        return WorkflowDetails(
            **_summary(workflow),
            params_schema=model.model_json_schema() if model is not None else None,
            crons=crons,
            counts=counts,
        )

    @router.post(
        "/workflows/<name>/instances",
        summary="Create an instance (201; 200 for an idempotent retry of a queued one)",
        responses={
            **_responses(201, InstanceRef, 404, 409, 422),
            200: {
                "description": "The same id and params again while it is queued: the instance",
                "content": {"application/json": {"model": InstanceRef}},
            },
        },
        tags=["instances"],
    )
    def create_instance(
        name: WorkflowName, request: Annotated[CreateInstance | None, Body()] = None
    ) -> Response[InstanceRef]:
        wanted = request or CreateInstance()
        if wanted.id is not None:
            logger.thread_safe_append_keys(instance_id=wanted.id)
        outcome = binding(name).create_or_retry(id=wanted.id, params=wanted.params)
        logger.thread_safe_append_keys(instance_id=outcome.instance.id)
        if outcome.created:
            metrics.count(InstancesCreated, workflow=name)
        body = InstanceRef(id=outcome.instance.id, status=InstanceStatus.QUEUED)
        return Response(
            status_code=201 if outcome.created else 200,
            content_type="application/json",
            body=body,
        )

    @router.post(
        "/workflows/<name>/instances/batch",
        summary="Create up to 100 instances, all or nothing",
        responses=_responses(201, BatchCreated, 404, 409, 422),
        status_code=201,
        tags=["instances"],
    )
    def create_batch(
        name: WorkflowName,
        requests: Annotated[list[CreateInstance], Body(min_length=1, max_length=MAX_BATCH)],
    ) -> BatchCreated:
        created = binding(name).create_batch(
            [CreateRequest(id=r.id, params=r.params) for r in requests]
        )
        logger.thread_safe_append_keys(instance_ids=[i.id for i in created])
        metrics.count(InstancesCreated, len(created), workflow=name)
        return BatchCreated(
            instances=[InstanceRef(id=i.id, status=InstanceStatus.QUEUED) for i in created]
        )

    @router.get(
        "/workflows/<name>/instances",
        summary="List instances, newest first",
        responses=_responses(200, InstanceListModel, 404),
        tags=["instances"],
    )
    def list_instances(
        name: WorkflowName,
        status: Annotated[InstanceStatus | None, Query()] = None,
        limit: PageLimit = 50,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> InstanceListModel:
        page = binding(name).list(status=status, limit=limit, cursor=cursor)
        return InstanceListModel.model_validate(page.to_dict())

    @router.get(
        "/workflows/<name>/instances/<instance_id>",
        summary="An instance: status, params, output, error, step timeline, timestamps",
        responses=_responses(200, InstanceDetailsModel, 404),
        tags=["instances"],
    )
    def get_instance(name: WorkflowName, instance_id: InstanceId) -> InstanceDetailsModel:
        details = instance(name, instance_id).status()
        data = details.to_dict(DETAILS_VALUE_BYTES)
        events = data["events"]
        omitted = max(0, len(events) - MAX_SHOWN_EVENTS)
        data.update(events=events[omitted:], events_omitted=omitted)
        return InstanceDetailsModel.model_validate(data)

    @router.get(
        "/workflows/<name>/instances/<instance_id>/journal",
        summary="An instance's whole journal, as `lwf instances export` writes it and "
        "`lwf replay-check` replays it",
        responses=_responses(200, JournalDocument, 404),
        tags=["instances"],
    )
    def get_journal(name: WorkflowName, instance_id: InstanceId) -> JournalDocument:
        return instance(name, instance_id).journal(DETAILS_VALUE_BYTES)

    @router.delete(
        "/workflows/<name>/instances/<instance_id>",
        summary="Delete a finished instance",
        responses=_responses(204, None, 404, 409),
        status_code=204,
        tags=["instances"],
    )
    def delete_instance(name: WorkflowName, instance_id: InstanceId) -> Response[None]:
        instance(name, instance_id).delete()
        return Response(status_code=204)

    @router.post(
        "/workflows/<name>/instances/<instance_id>/events/<event_type>",
        summary="Send an event (a wait of that type consumes it, now or later)",
        responses=_responses(202, InstanceRef, 404, 409),
        status_code=202,
        tags=["instances"],
    )
    def send_event(
        name: WorkflowName,
        instance_id: InstanceId,
        event_type: EventType,
        request: Annotated[SendEvent | None, Body()] = None,
    ) -> InstanceRef:
        target = instance(name, instance_id)
        event = request or SendEvent()
        target.send_event(event_type, event.payload, event_id=event.event_id)
        metrics.count(EventsSent, workflow=name)
        return _ref(target)

    for action, summary in _ACTIONS.items():
        _action_route(router, instance, action, summary)

    _ending_routes(router, instance)
    return router


def _ending_routes(router: APIGatewayRouter, instance: Callable[[str, str], Instance]) -> None:
    """`terminate` and `restart`, which take options in their body."""

    @router.post(
        "/workflows/<name>/instances/<instance_id>/terminate",
        summary="Terminate: stop for good (with `rollback`, undo its completed steps first)",
        responses=_responses(200, InstanceRef, 404, 409),
        tags=["instances"],
        operation_id="terminate_instance",
    )
    def terminate(
        name: WorkflowName,
        instance_id: InstanceId,
        request: Annotated[TerminateInstance | None, Body()] = None,
    ) -> InstanceRef:
        target = instance(name, instance_id)
        target.terminate(rollback=(request or TerminateInstance()).rollback)
        return _ref(target)

    @router.post(
        "/workflows/<name>/instances/<instance_id>/restart",
        summary="Restart from the beginning, or from a step (earlier results kept)",
        responses=_responses(200, InstanceRef, 404, 409),
        tags=["instances"],
    )
    def restart(
        name: WorkflowName,
        instance_id: InstanceId,
        request: Annotated[RestartInstance | None, Body()] = None,
    ) -> InstanceRef:
        target = instance(name, instance_id)
        options = request or RestartInstance()
        target.restart(from_step=options.from_step, type=options.type)
        return _ref(target)
