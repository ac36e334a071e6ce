"""Lambda entry points for any project: the app comes from `LWF_APP` (`module:attribute`,
set by the `WorkflowEngine` CDK construct), the AWS resources from the `LWF_*` settings.

Handler strings: `lambda_workflows.handlers.entry.worker` (and `.api`, `.cron`, `.sweeper`).
"""

from __future__ import annotations

import os

from lambda_workflows.app import import_app
from lambda_workflows.aws.factory import deployed_engine
from lambda_workflows.engine import Engine
from lambda_workflows.errors import ValidationError
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.handlers.cron import CronHandler
from lambda_workflows.handlers.sweeper import SweeperHandler
from lambda_workflows.handlers.worker import WorkerHandler

APP_VARIABLE = "LWF_APP"


def app_engine() -> Engine:
    """The deployed engine of the app `LWF_APP` names."""
    path = os.environ.get(APP_VARIABLE)
    if not path:
        raise ValidationError(f"{APP_VARIABLE} is not set: it names the app as module:attribute")
    return deployed_engine(import_app(path))


worker = WorkerHandler(app_engine)
api = ApiHandler(app_engine)
cron = CronHandler(app_engine)
sweeper = SweeperHandler(app_engine)
