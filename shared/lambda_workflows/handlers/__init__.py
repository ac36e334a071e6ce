"""Lambda entry points: thin handlers that build the engine once and call into it."""

from lambda_workflows.handlers.cron import CronHandler
from lambda_workflows.handlers.worker import EngineHandler, WorkerHandler

__all__ = ["CronHandler", "EngineHandler", "WorkerHandler"]
