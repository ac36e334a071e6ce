"""The composition root: an app wired to its services (journal, payloads, wake-ups, clock)."""

from __future__ import annotations

from lambda_workflows.api import Env
from lambda_workflows.app import WorkflowApp
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
    ) -> None:
        self.app = app
        self.services = services
        self._bindings = {w.name: WorkflowBinding(w, services) for w in app.workflows}
        env = dict(app.bindings)
        env.update({w.binding: self._bindings[w.name] for w in app.workflows if w.binding})
        self.env = Env(env)
        self.worker = Worker(app, services, self.env, worker_settings)
        self.sweeper = Sweeper(services)

    def binding(self, workflow: str) -> WorkflowBinding:
        """The instance API of one workflow (`WorkflowNotFoundError` if undeclared)."""
        self.app.workflow(workflow)
        return self._bindings[workflow]
