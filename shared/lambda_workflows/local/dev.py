"""`lwf dev`: the app on a moto server on 127.0.0.1, run by the pump on the real clock."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from errno import EADDRINUSE, EADDRNOTAVAIL
from pathlib import Path
from typing import Any

from lambda_workflows.app import WorkflowApp
from lambda_workflows.clock import (
    Clock,
    ScaledClock,
    SystemClock,
    from_ms,
    monotonic,
    now_ms,
    to_ms,
    wait_real,
)
from lambda_workflows.crons import CronTicker
from lambda_workflows.engine import Engine
from lambda_workflows.errors import CannotListenError
from lambda_workflows.handlers.api import ApiHandler
from lambda_workflows.handlers.worker import WorkerHandler
from lambda_workflows.http.wsgi import serve
from lambda_workflows.journal.records import FINISHED, InstanceStatus, StepKind, StepStatus
from lambda_workflows.local.cloud import LocalCloud
from lambda_workflows.local.page import with_page
from lambda_workflows.local.persist import Persistence, Restored
from lambda_workflows.local.pump import Pump
from lambda_workflows.text import escaped

DEFAULT_API_PORT = 8787
MAX_PORT = 65535
POLL_SECONDS = 0.5
JUMP_MIN_MS = 1_000
"""`--skip-sleeps` lets wake-ups less than this far away come on the clock."""
SAVE_SECONDS = 5.0
"""How often `--persist` writes the state while running (and once more at the end)."""
WAITS = frozenset({StepKind.WAIT_FOR_EVENT, StepKind.WAIT_FOR_WORKFLOW})
HOLDING_WAITS = (
    InstanceStatus.WAITING,
    InstanceStatus.PAUSED,
    InstanceStatus.WAITING_FOR_PAUSE,
    InstanceStatus.RUNNING,
)
"""Statuses in which an instance may have a pending event or child wait (a paused one's
wait still counts: resuming it must not find its deadline passed)."""


@dataclass
class DevServer:
    """Runs until `stop` is set; prints each instance's status changes."""

    app: WorkflowApp
    host: str = "127.0.0.1"
    port: int = DEFAULT_API_PORT
    """Where the HTTP API is served (0: a free port); `api_url` holds it once started."""
    aws_port: int = 0
    """Where moto listens (0: a free port, printed at start)."""
    time_scale: float = 1.0
    """The clock runs this many times faster than the wall clock."""
    skip_sleeps: bool = False
    """When nothing can run, jump the clock to the next wake-up, never past the deadline
    of a pending event or child wait (nor to fire the cron ticks it jumps over)."""
    persist: Path | None = None
    """Keep instances, journals, events, stored values and the clock in this folder
    across restarts (`--persist`)."""
    json_logs: bool = False
    """Status changes as one JSON object per line instead of text."""
    out: Callable[[str], None] = print
    stop_when: Callable[[DevServer], bool] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    seen: dict[tuple[str, str], str] = field(default_factory=dict)
    api_url: str | None = None

    def run(self, on_ready: Callable[[Engine], Any] | None = None) -> None:
        """Serve until `stop` is set (or `stop_when` holds). Raises `CannotListenError`,
        before starting anything, when `port` or `aws_port` cannot be listened on."""
        probe = _listen(self.host, self.port, "--port")
        with probe:  # held while moto binds, so that both cannot get the same port
            moto_socket = _listen(self.host, self.aws_port, "--aws-port")
        # werkzeug binds --port again below; a port never connected to is free at once
        persistence = Persistence(self.persist) if self.persist is not None else None
        if persistence is not None:
            persistence.lock()
        resume_at = persistence.saved_clock() if persistence is not None else None
        clock: Clock = SystemClock()
        if not self.real_time or (resume_at is not None and resume_at > clock.now()):
            clock = ScaledClock(self.time_scale, start=max(resume_at or clock.now(), clock.now()))
        with ExitStack() as stack:
            moto = stack.enter_context(_MotoServer(moto_socket))
            url_host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
            endpoint = f"http://{url_host}:{moto.port}"
            cloud = stack.enter_context(
                LocalCloud(clock, endpoint_url=endpoint, bindings=self.app.bindings)
            )
            engine = Engine(self.app, cloud.services(), resources=cloud.resources())
            restored = persistence.load(cloud, engine) if persistence is not None else None
            pump = Pump(cloud, WorkerHandler(lambda: engine), clock, engine.sweeper)
            assert cloud.settings is not None
            try:
                api_url = stack.enter_context(
                    serve(ApiHandler(lambda: engine), self.host, self.port, wrap=with_page)
                )
            except SystemExit:  # werkzeug's answer to a port taken since the probe
                raise _cannot_listen(self.host, self.port, "--port", None) from None
            self.api_url = api_url
            self.out(f"lwf dev: HTTP API at {api_url} (docs: {api_url}/docs)")
            self.out(f"  the page: {api_url}/")
            if self.host not in ("127.0.0.1", "localhost", "::1"):
                self.out(
                    f"  warning: --host {self.host} serves the API and the page without "
                    "authentication to every machine that reaches it"
                )
            if not api_url.endswith(f":{DEFAULT_API_PORT}"):
                self.out(f"  for lwf in another terminal: export LWF_URL={api_url}")
            self.out(f"  local AWS (moto) at {endpoint}")
            for name, value in sorted(cloud.settings.to_env().items()):
                self.out(f"  {name}={value}")
            self.out(f"  workflows: {', '.join(self.app.names)}")
            if isinstance(clock, ScaledClock):
                how = [f"{self.time_scale:g}x the wall clock"] if self.time_scale != 1 else []
                how += ["skipping sleeps (never past an event wait's deadline)"] * self.skip_sleeps
                self.out(f"  time: {', '.join(how)}")
            if persistence is not None:
                self.out(f"  state kept in {persistence.path}" + _restored_text(restored))
            if on_ready is not None:
                on_ready(engine)
            saver = (lambda: persistence.save(cloud, engine)) if persistence is not None else None
            try:
                with _stop_on_termination(self.stop):
                    self._loop(engine, pump, CronTicker(engine.crons, clock.now()), saver)
            finally:
                if saver is not None:
                    saver()

    def _loop(
        self,
        engine: Engine,
        pump: Pump,
        crons: CronTicker,
        save: Callable[[], None] | None = None,
    ) -> None:
        clock = pump.clock
        saved_at = monotonic()
        while not self.stop.is_set():
            if save is not None and monotonic() - saved_at >= SAVE_SECONDS:
                save()
                saved_at = monotonic()
            crons.tick(clock.now())
            pump.run_until_idle()
            self._report(engine)
            if self.stop_when is not None and self.stop_when(self):
                return
            scaled = clock if isinstance(clock, ScaledClock) else None
            if self.skip_sleeps and scaled and _skip_to_next(engine, pump, scaled, crons):
                continue
            due = pump.next_due_ms()
            tick = engine.crons.next_tick(clock.now())
            if tick is not None:
                due = min(due, to_ms(tick)) if due is not None else to_ms(tick)
            delay = POLL_SECONDS
            if due is not None:
                delay = min(delay, self._real_seconds(clock, due - now_ms(clock)))
            if wait_real(delay, self.stop):
                return

    @staticmethod
    def _real_seconds(clock: Clock, clock_ms: int) -> float:
        if isinstance(clock, ScaledClock):
            return clock.real_seconds(clock_ms)
        return max(0.0, clock_ms / 1000)

    def _report(self, engine: Engine) -> None:
        now = engine.services.clock.now()
        for workflow in self.app.names:
            for meta in engine.services.journal.list_instances(workflow, limit=100).instances:
                key = (workflow, meta.instance_id)
                if self.seen.get(key) == meta.status:
                    continue
                self.seen[key] = meta.status
                if self.json_logs:
                    line = {"at": now.isoformat(), "workflow": workflow}
                    line |= {"instance_id": meta.instance_id, "status": str(meta.status)}
                    if meta.error:
                        line["error"] = f"{meta.error.name}: {meta.error.message}"
                    self.out(json.dumps(line))
                else:
                    error = meta.error
                    detail = f" ({error.name}: {one_line(error.message)})" if error else ""
                    stamp = f"{now:%H:%M:%S}" if self.real_time else f"{now:%Y-%m-%d %H:%M:%S}"
                    self.out(f"{stamp} [{workflow}] {meta.instance_id}: {meta.status}{detail}")

    @property
    def real_time(self) -> bool:
        """The clock is the wall clock (no `--time-scale`, no `--skip-sleeps`)."""
        return self.time_scale == 1 and not self.skip_sleeps

    def all_finished(self, keys: list[tuple[str, str]]) -> bool:
        return all(self.seen.get(k) in {str(s) for s in FINISHED} for k in keys)


STATUS_DETAIL_CHARS = 200


@contextmanager
def _stop_on_termination(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGHUP stop the loop as Ctrl-C does (so `--persist` saves at the end);
    only the main thread may set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGTERM, signal.SIGHUP)
    saved = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def one_line(text: str) -> str:
    """`text` for a status line: unsafe characters escaped (a message cannot fake a line
    or drive the terminal), cut to `STATUS_DETAIL_CHARS`."""
    safe = escaped(text)
    return safe if len(safe) <= STATUS_DETAIL_CHARS else safe[: STATUS_DETAIL_CHARS - 1] + "…"


def _restored_text(restored: Restored | None) -> str:
    if restored is None:
        return " (nothing saved yet)"
    return (
        f" (restored {restored.items} items, {restored.objects} objects; "
        f"{restored.wakeups} pending wake-ups re-sent)"
    )


def _skip_to_next(engine: Engine, pump: Pump, clock: ScaledClock, crons: CronTicker) -> bool:
    """`--skip-sleeps`: when a last drain finds nothing to run (work that came in meanwhile
    runs first), jump the clock to the next wake-up if `_may_jump_to` allows; the cron
    ticks in the skipped time do not fire. True when it jumped."""
    if pump.run_until_idle() != 0:
        return False
    due = pump.next_due_ms()
    if due is None or not _may_jump_to(engine, clock, due):
        return False
    crons.since = clock.advance_to(from_ms(due))
    return True


def _may_jump_to(engine: Engine, clock: Clock, due: int) -> bool:
    """Whether `due` is a wake-up in the future that comes before every pending event or
    child wait's deadline (those pass on the clock, so a user has time to send it)."""
    if due <= now_ms(clock) + JUMP_MIN_MS:
        return False
    deadline = wait_deadline_ms(engine)
    return deadline is None or due < deadline


def wait_deadline_ms(engine: Engine) -> int | None:
    """The earliest deadline of a `wait_for_event` or `wait_for_workflow` that waits now."""
    journal = engine.services.journal
    earliest: int | None = None
    for workflow, status in itertools.product(engine.app.names, HOLDING_WAITS):
        cursor: str | None = None
        while True:
            page = journal.list_instances(workflow, status, 100, cursor)
            for meta in page.instances:
                snapshot = journal.load(workflow, meta.instance_id)
                for record in snapshot.steps.values() if snapshot else ():
                    pending = record.kind in WAITS and record.status == StepStatus.WAITING
                    if pending and record.wake_at is not None:
                        earliest = min(earliest or record.wake_at, record.wake_at)
            if not page.cursor:
                break
            cursor = page.cursor
    return earliest


def _listen(host: str, port: int, option: str) -> socket.socket:
    """A socket listening on `host:port` (0: a free port), or `CannotListenError` saying
    what to change (`option`: the one that set the port)."""
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does
        listening.bind((host, port))
        listening.listen()
    except (OSError, OverflowError) as exc:
        listening.close()
        raise _cannot_listen(host, port, option, exc) from None
    return listening


def _cannot_listen(
    host: str, port: int, option: str, exc: OSError | OverflowError | None
) -> CannotListenError:
    free = "leave it out" if option == "--aws-port" else f"pass {option} 0"
    if isinstance(exc, OverflowError) or not 0 <= port <= MAX_PORT:
        return CannotListenError(
            host, port, f"{option} must be 0..{MAX_PORT}", f"{free} for a free one"
        )
    if isinstance(exc, socket.gaierror) or (exc is not None and exc.errno == EADDRNOTAVAIL):
        reason = exc.strerror or str(exc)
        return CannotListenError(host, port, reason, "pass a --host of this machine")
    if exc is None or exc.errno == EADDRINUSE:
        reason = "the port is in use" + (", by another `lwf dev`?" if option == "--port" else "")
    else:
        reason = exc.strerror or str(exc)
    return CannotListenError(
        host, port, reason, f"pass {option} with another port, or {free} for a free one"
    )


class _MotoServer:
    """moto's server on a socket already listening, in a thread (moto's own
    ThreadedMotoServer binds in its thread and, when that fails, waits forever)."""

    def __init__(self, listening: socket.socket) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        with listening:
            host, port = listening.getsockname()[:2]
            self._server = make_server(
                host,
                port,
                DomainDispatcherApplication(create_backend_app),
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listening.fileno(),  # werkzeug serves a duplicate of it
            )
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lwf-moto", daemon=True
        )

    def __enter__(self) -> _MotoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


__all__ = ["DEFAULT_API_PORT", "DevServer", "InstanceStatus"]
