"""Cron Lambda entry point: runs one tick of a declared `Cron`."""

from lambda_workflows.aws.factory import deployed_engine
from lambda_workflows.engine import Engine
from lambda_workflows.handlers.cron import CronHandler


def _engine() -> Engine:
    from functions.app import app

    return deployed_engine(app)


handler = CronHandler(_engine)
