"""API Lambda entry point: the instance API behind API Gateway (REST, proxy integration)."""

from lambda_workflows.aws.factory import deployed_engine
from lambda_workflows.engine import Engine
from lambda_workflows.handlers.api import ApiHandler


def _engine() -> Engine:
    from functions.app import app

    return deployed_engine(app)


handler = ApiHandler(_engine)
