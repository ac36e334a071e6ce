"""`WorkflowTestEnv`: the production runtime on moto, driven by a virtual clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from lambda_workflows.api import Env
from lambda_workflows.app import WorkflowApp
from lambda_workflows.clock import VirtualClock, from_ms
from lambda_workflows.config import Duration, parse_duration
from lambda_workflows.engine import Engine
from lambda_workflows.errors import InstanceNotFoundError, ValidationError, WorkflowError
from lambda_workflows.handlers.worker import WorkerHandler
from lambda_workflows.instances import Instance, WorkflowBinding
from lambda_workflows.journal.records import FINISHED, InstanceStatus
from lambda_workflows.local.cloud import LocalCloud
from lambda_workflows.local.pump import Pump
from lambda_workflows.metrics import Metrics, NoMetrics
from lambda_workflows.names import check_instance_id
from lambda_workflows.runtime.worker import WorkerSettings
from lambda_workflows.settings import heartbeat_ms
from lambda_workflows.status import InstanceDetails
from lambda_workflows.testing.introspection import Introspector, deliver_mocked_events
from lambda_workflows.testing.logs import VirtualLogTime
from lambda_workflows.testing.modifiers import HarnessInterceptor

T = TypeVar("T")


class StatusNotReachedError(WorkflowError, AssertionError):
    """`wait_for_status` gave up: nothing left to run and the status was not reached."""


class WorkflowTestEnv:
    """An app on moto with a virtual clock; time skips to the next wake-up when idle.

    One may be open at a time in a process (moto's state and its clock are global).
    """

    _open: ClassVar[WorkflowTestEnv | None] = None

    def __init__(
        self,
        app: WorkflowApp,
        *,
        start: datetime | None = None,
        worker_settings: WorkerSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`metrics` receive the engine's metrics (a `RecordingMetrics` to check them)."""
        self.app = app
        self.clock = VirtualClock(start)
        self.cloud = LocalCloud(self.clock, bindings=app.bindings)
        self._worker_settings = worker_settings or WorkerSettings(
            heartbeat_ms=heartbeat_ms(default=0)
        )
        self._engine: Engine | None = None
        self._pump: Pump | None = None
        self.interceptor = HarnessInterceptor()
        self.metrics: Metrics = metrics or NoMetrics()
        self._log_time = VirtualLogTime(self.clock)

    def __enter__(self) -> WorkflowTestEnv:
        if WorkflowTestEnv._open is not None:
            raise RuntimeError(
                "another WorkflowTestEnv is open: moto's state and clock are per process, "
                "so close it first (one env per test)"
            )
        WorkflowTestEnv._open = self
        try:
            self.cloud.__enter__()
        except BaseException:
            WorkflowTestEnv._open = None
            raise
        services = dataclasses.replace(
            self.cloud.services(), interceptor=self.interceptor, metrics=self.metrics
        )
        self._engine = Engine(
            self.app, services, self._worker_settings, resources=self.cloud.resources()
        )
        self.handler = WorkerHandler(lambda: self.engine)
        self._pump = Pump(
            self.cloud,
            self.handler,
            self.clock,
            self.engine.sweeper,
            idle_hooks=[self._deliver_mocked_events],
        )
        self._log_time.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._log_time.__exit__(*exc)
        try:
            self.cloud.__exit__(*exc)
        finally:
            WorkflowTestEnv._open = None

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

    @property
    def env(self) -> Env:
        """The app's live bindings, as workflows see them (`env.env.BUCKET.put(...)`)."""
        return self.engine.env

    def binding(self, workflow: str) -> WorkflowBinding:
        """The instance API of a workflow of the app."""
        return self.engine.binding(workflow)

    def fire_cron(self, name: str | None = None, at: datetime | None = None) -> Any:
        """Run one tick of a declared cron (the only one when `name` is None).

        Without `at`, the clock first moves to the cron's next tick. Returns the handler's
        result; a tick whose instance exists already is a no-op (None). Crons never fire
        by themselves in a test env (time skipping would fire them forever).
        """
        if name is None:
            names = [c.name for c in self.app.crons]
            if len(names) != 1:
                raise ValidationError(f"name the cron to fire; the app has {names}")
            name = names[0]
        runner = self.engine.crons
        if at is None:
            at = runner.next_tick(self.now(), name)
            if at is None:
                raise ValidationError(f"cron {name!r} has no tick after {self.now()}")
            self.clock.advance_to(at)
        return runner.fire(name, at)

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email the app sent (`from`, `to`, `subject`, `body`), oldest first."""
        return self.cloud.sent_emails()

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
        self.clock.advance_to(from_ms(due))
        self.pump.run_until_idle()
        return True

    def introspect(
        self, workflow: str, instance_id: str | None = None, *, allow_unused: bool = False
    ) -> Introspector:
        """Modifiers and queries for one instance (it may not exist yet), or, without an
        id, modifiers for every instance of the workflow.

        At the end of its `with` block, a modifier that names a step or event type no
        covered instance reached fails the test (`UnusedModifierError`, with a near-miss
        suggestion), unless `allow_unused`.
        """
        return Introspector(self, workflow, instance_id, allow_unused=allow_unused)

    def _deliver_mocked_events(self) -> bool:
        sent = [deliver_mocked_events(self, m) for m in self.interceptor.active()]
        return any(sent)

    def run_until(
        self,
        reached: Callable[[], T | None],
        workflow: str,
        instance_id: str,
        what: str,
        *,
        max_jumps: int = 1_000,
    ) -> T:
        """Run, skipping time when idle, until `reached()` returns something; return it.

        The instance may not exist yet (something else creates it). Raises
        `StatusNotReachedError` naming the instance's status and last step when it ends,
        pauses or has nothing left to run first, or after `max_jumps` clock jumps.
        """
        why = f"gave up after {max_jumps} clock jumps"
        for _ in range(max_jumps):
            self.pump.run_until_idle()
            found = reached()
            if found is not None:
                return found
            if self._settled(workflow, instance_id):
                why = "it will not change by itself"
                break
            if not self.skip_to_next():
                why = "nothing is left to run"
                break
        found = reached()
        if found is not None:
            return found
        snapshot = self.engine.services.journal.load(workflow, instance_id)
        if snapshot is None:
            raise StatusNotReachedError(
                f"{workflow}/{instance_id} never reached {what}: it does not exist ({why})"
            )
        current = self.binding(workflow).get(instance_id).status()
        last = current.steps[-1] if current.steps else None
        last_text = f"{last.name!r} ({last.status})" if last else "none"
        error = current.error.to_dict() if current.error else None
        raise StatusNotReachedError(
            f"{workflow}/{instance_id} never reached {what}: it is {str(current.status)!r}, "
            f"{why} (last step: {last_text}, error: {error})"
        )

    def _settled(self, workflow: str, instance_id: str) -> bool:
        """Finished or paused: nothing this env does by itself will change it."""
        meta = self.engine.services.journal.get_meta(workflow, instance_id)
        return meta is not None and (
            meta.status in FINISHED or meta.status == InstanceStatus.PAUSED
        )

    def wait_for_status(
        self, workflow: str, instance_id: str, status: str, *, max_jumps: int = 1_000
    ) -> InstanceDetails:
        """Run (skipping time) until the instance has `status`; return its `status()`."""
        if status not in set(InstanceStatus):
            valid = ", ".join(str(s) for s in InstanceStatus)
            raise ValidationError(f"{status!r} is not a status; valid: {valid}")
        check_instance_id(instance_id)
        instance = Instance(self.binding(workflow), instance_id)

        def reached() -> InstanceDetails | None:
            try:
                current = instance.status()
            except InstanceNotFoundError:
                return None
            return current if current.status == status else None

        return self.run_until(
            reached, workflow, instance_id, f"status {status!r}", max_jumps=max_jumps
        )
