"""Worker Lambda entry point: runs instances when their SQS wake-ups arrive."""

from lambda_workflows.aws.factory import deployed_engine
from lambda_workflows.engine import Engine
from lambda_workflows.handlers.worker import WorkerHandler


def _engine() -> Engine:
    from functions.app import app

    return deployed_engine(app)


handler = WorkerHandler(_engine)
