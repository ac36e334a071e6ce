"""`WorkflowTestEnv`: the production runtime on moto, driven by a virtual clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lambda_workflows.app import WorkflowApp
from lambda_workflows.clock import VirtualClock, from_ms
from lambda_workflows.config import Duration, parse_duration
from lambda_workflows.engine import Engine
from lambda_workflows.errors import WorkflowError
from lambda_workflows.instances import WorkflowBinding
from lambda_workflows.local.cloud import LocalCloud
from lambda_workflows.local.pump import Pump
from lambda_workflows.runtime.lambda_handler import WorkerHandler
from lambda_workflows.runtime.worker import WorkerSettings

_ONE_MS = timedelta(milliseconds=1)


class StatusNotReachedError(WorkflowError, AssertionError):
    """`wait_for_status` gave up: nothing left to run and the status was not reached."""


class WorkflowTestEnv:
    """An app on moto with a virtual clock; time skips to the next wake-up when idle."""

    def __init__(
        self,
        app: WorkflowApp,
        *,
        start: datetime | None = None,
        worker_settings: WorkerSettings | None = None,
    ) -> None:
        self.app = app
        self.clock = VirtualClock(start)
        self.cloud = LocalCloud(self.clock)
        self._worker_settings = worker_settings
        self._engine: Engine | None = None
        self._pump: Pump | None = None

    def __enter__(self) -> WorkflowTestEnv:
        self.cloud.__enter__()
        self._engine = Engine(self.app, self.cloud.services(), self._worker_settings)
        self.handler = WorkerHandler(lambda: self.engine)
        self._pump = Pump(self.cloud, self.handler, self.clock, self.engine.sweeper)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._engine is not None:
            self._engine.worker.close()
        self.cloud.__exit__(*exc)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("use WorkflowTestEnv as a context manager")
        return self._engine

    @property
    def pump(self) -> Pump:
        if self._pump is None:
            raise RuntimeError("use WorkflowTestEnv as a context manager")
        return self._pump

    def binding(self, workflow: str) -> WorkflowBinding:
        """The instance API of a workflow of the app."""
        return self.engine.binding(workflow)

    def now(self) -> datetime:
        """The virtual time (aware UTC)."""
        return self.clock.now()

    def advance(self, duration: Duration) -> None:
        """Move the virtual clock forward, then run whatever became due."""
        self.clock.advance(parse_duration(duration))
        self.pump.run_until_idle()

    def run_until_idle(self) -> int:
        """Run everything due now, without moving the clock."""
        return self.pump.run_until_idle()

    def skip_to_next(self) -> bool:
        """Jump the clock to the next pending wake-up and run it; False if none is pending."""
        due = self.pump.next_due_ms()
        if due is None:
            return False
        self.clock.advance_to(from_ms(due) + _ONE_MS)
        self.pump.run_until_idle()
        return True

    def wait_for_status(
        self, workflow: str, instance_id: str, status: str, *, max_jumps: int = 1_000
    ) -> dict[str, Any]:
        """Run (skipping time) until the instance has `status`; return its `status()`."""
        instance = self.binding(workflow).get(instance_id)
        for _ in range(max_jumps):
            self.pump.run_until_idle()
            current = instance.status()
            if current["status"] == status:
                return current
            if not self.skip_to_next():
                break
        current = instance.status()
        if current["status"] == status:
            return current
        last = current["steps"][-1]["name"] if current["steps"] else None
        raise StatusNotReachedError(
            f"{workflow}/{instance_id} never reached {status!r}: it is {current['status']!r} "
            f"with nothing left to run (last step: {last!r}, error: {current['error']})"
        )
