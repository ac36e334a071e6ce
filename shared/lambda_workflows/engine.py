"""The composition root: an app wired to its services and its bindings made live."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lambda_workflows.api import Env
from lambda_workflows.app import WorkflowApp
from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.crons import CronRunner
from lambda_workflows.errors import ValidationError
from lambda_workflows.instances import WorkflowBinding
from lambda_workflows.runtime.worker import Worker, WorkerSettings
from lambda_workflows.services import Services
from lambda_workflows.sweeper import Sweeper


class Engine:
    """What every entry point builds once: the worker, the bindings and `self.env`."""

    def __init__(
        self,
        app: WorkflowApp,
        services: Services,
        worker_settings: WorkerSettings | None = None,
        resources: Resources | None = None,
    ) -> None:
        """`resources` make declared bindings (`Bucket`, `Table`, ...) live; without them
        only workflow bindings and plain objects can be declared."""
        self.app = app
        if services.retention_ms != app.retention_ms:
            services = replace(services, retention_ms=app.retention_ms)
        self.services = services
        self._bindings = {w.name: WorkflowBinding(w, services) for w in app.workflows}
        env: dict[str, Any] = {}
        for name, spec in app.bindings.items():
            if isinstance(spec, BindingSpec):
                if resources is None:
                    raise ValidationError(f"binding {name!r} needs AWS resources to bind to")
                env[name] = spec.bind(name, resources)
            else:
                env[name] = spec
        env.update({w.binding: self._bindings[w.name] for w in app.workflows if w.binding})
        self.env = Env(env)
        self.worker = Worker(app, services, self.env, worker_settings)
        caps = {w.name: w.concurrency for w in app.workflows if w.concurrency is not None}
        uncapped = [w.name for w in app.workflows if w.concurrency is None]
        self.sweeper = Sweeper(services, caps=caps, uncapped=uncapped)
        self.crons = CronRunner(app, self.env)

    def binding(self, workflow: str) -> WorkflowBinding:
        """The instance API of one workflow (`WorkflowNotFoundError` if undeclared)."""
        self.app.workflow(workflow)
        return self._bindings[workflow]
