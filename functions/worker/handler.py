"""Worker Lambda entry point: runs instances when their SQS wake-ups arrive."""

from lambda_workflows.aws.factory import aws_services
from lambda_workflows.engine import Engine
from lambda_workflows.runtime.lambda_handler import WorkerHandler
from lambda_workflows.settings import Settings


def _engine() -> Engine:
    from functions.app import app

    return Engine(app, aws_services(Settings.from_env()))


handler = WorkerHandler(_engine)
