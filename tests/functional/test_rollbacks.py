"""Saga rollbacks: `step.do(..., rollback=undo)`, run on errors and on terminate."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from lambda_workflows import (
    NonRetryableError,
    RollbackContext,
    ValidationError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowStep,
)
from lambda_workflows.metrics import RecordingMetrics

ledger: list[str] = []
_lock = threading.Lock()


def note(entry: str) -> str:
    with _lock:
        ledger.append(entry)
    return entry


def declined() -> None:
    note("charge card")
    raise NonRetryableError("card declined", name="CardDeclined")


class Trip(WorkflowEntrypoint[Any]):
    """Books a flight and a hotel, then charges the card (which fails unless told)."""

    charge_ok: ClassVar[bool] = False
    catch: ClassVar[bool] = False
    seen: ClassVar[list[RollbackContext]] = []

    async def run(self, event: Any, step: Any) -> Any:
        flight = await step.do(
            "book flight", lambda: note("flight") and "F-1", rollback=self.cancel_flight
        )
        await step.do("book hotel", lambda: note("hotel") and "H-7", rollback=self.cancel_hotel)
        await step.do("send itinerary", lambda: note("itinerary") and "sent")  # no undo
        await step.sleep("wait for check-in", "1 day")
        try:
            await step.do(
                "charge card",
                (lambda: note("charge card")) if self.charge_ok else declined,
                rollback=lambda _: note("refund"),
            )
        except Exception:
            if not self.catch:
                raise
        return {"flight": flight}

    @staticmethod
    def cancel_flight(booking: str, ctx: RollbackContext) -> None:
        Trip.seen.append(ctx)
        note(f"cancel {booking}")

    @staticmethod
    async def cancel_hotel(booking: str) -> None:
        await asyncio.sleep(0)
        note(f"cancel {booking}")


@pytest.fixture
def env(make_env: Any) -> Any:
    ledger.clear()
    Trip.charge_ok = False
    Trip.catch = False
    Trip.seen = []
    return make_env(WorkflowApp([Workflow("trip", Trip)]))


def _steps(status: Any) -> list[tuple[str, str, str]]:
    return [(s.type, s.name, s.status) for s in status.steps]


def test_an_uncaught_error_undoes_the_completed_steps_newest_first(env: Any) -> None:
    env.binding("trip").create(id="t")
    status = env.wait_for_status("trip", "t", "errored")
    assert ledger == ["flight", "hotel", "itinerary", "charge card", "cancel H-7", "cancel F-1"]
    assert status.error.step == "charge card"
    assert "card declined" in status.error.message
    assert _steps(status)[-2:] == [
        ("rollback", "book hotel", "succeeded"),
        ("rollback", "book flight", "succeeded"),
    ]
    # the failed step is not undone, the step without an undo is skipped
    assert [s.name for s in status.steps if s.type == "rollback"] == ["book hotel", "book flight"]
    (ctx,) = Trip.seen
    assert ctx.step.step_name == "book flight"
    assert ctx.step.occurrence == 0
    assert ctx.attempt == 1
    assert ctx.error == status.error


def test_a_successful_run_rolls_nothing_back(env: Any) -> None:
    Trip.charge_ok = True
    env.binding("trip").create(id="t")
    status = env.wait_for_status("trip", "t", "complete")
    assert not any(entry.startswith("cancel") for entry in ledger)
    assert all(s.type != "rollback" for s in status.steps)


def test_a_failure_run_catches_rolls_nothing_back(env: Any) -> None:
    Trip.catch = True
    env.binding("trip").create(id="t")
    status = env.wait_for_status("trip", "t", "complete")
    assert status.output == {"flight": "F-1"}
    assert not any(entry.startswith("cancel") for entry in ledger)


def test_terminate_with_rollback_undoes_a_sleeping_instance_and_keeps_its_timeline(
    env: Any,
) -> None:
    instance = env.binding("trip").create(id="t")
    env.run_until_idle()
    assert instance.status().status == "waiting"
    instance.terminate(rollback=True)
    status = env.wait_for_status("trip", "t", "terminated")
    assert ledger[-2:] == ["cancel H-7", "cancel F-1"]
    assert "charge card" not in ledger  # run() was not continued
    names = [s.name for s in status.steps]
    assert names[:4] == ["book flight", "book hotel", "send itinerary", "wait for check-in"]
    assert status.error is None
    assert Trip.seen[0].error is None  # a terminate is not an error


def test_terminate_with_rollback_of_a_paused_instance(env: Any) -> None:
    instance = env.binding("trip").create(id="t")
    env.run_until_idle()
    instance.pause()
    assert instance.status().status == "paused"
    instance.terminate(rollback=True)
    env.wait_for_status("trip", "t", "terminated")
    assert ledger[-2:] == ["cancel H-7", "cancel F-1"]


def test_terminate_with_rollback_twice_rolls_back_once(env: Any) -> None:
    instance = env.binding("trip").create(id="t")
    env.run_until_idle()
    instance.terminate(rollback=True)
    instance.terminate(rollback=True)
    env.wait_for_status("trip", "t", "terminated")
    assert ledger.count("cancel F-1") == 1


def test_terminate_with_rollback_of_an_ended_instance_is_a_conflict(env: Any) -> None:
    Trip.charge_ok = True
    instance = env.binding("trip").create(id="t")
    env.wait_for_status("trip", "t", "complete")
    with pytest.raises(Exception, match="cannot terminate instance 't': it is complete"):
        instance.terminate(rollback=True)
    assert not any(entry.startswith("cancel") for entry in ledger)


class Stubborn(WorkflowEntrypoint[Any]):
    undo_failures: ClassVar[int] = 99

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("reserve seat", lambda: note("seat") and 1, rollback=lambda _: note("free"))
        await step.do(
            "open account",
            lambda: note("account") and 2,
            rollback=self.close_account,
            rollback_config={"retries": {"limit": 2, "delay": "1 minute", "backoff": "constant"}},
        )
        raise ValueError("boom")

    @staticmethod
    def close_account(_: int, ctx: RollbackContext) -> None:
        note(f"close attempt {ctx.attempt}")
        if ctx.attempt <= Stubborn.undo_failures:
            raise RuntimeError(f"bank offline ({ctx.attempt})")


def test_an_undo_that_keeps_failing_stops_the_chain_with_both_errors(make_env: Any) -> None:
    ledger.clear()
    Stubborn.undo_failures = 99
    env = make_env(WorkflowApp([Workflow("stubborn", Stubborn)]))
    env.binding("stubborn").create(id="s")
    status = env.wait_for_status("stubborn", "s", "errored")
    assert ledger == ["seat", "account", "close attempt 1", "close attempt 2", "close attempt 3"]
    assert "free" not in ledger  # the chain stopped at the failing undo
    assert status.error.name == "ValueError"
    assert "boom" in status.error.message
    assert "undo of step 'open account' failed" in status.error.message
    assert "bank offline (3)" in status.error.message
    failed = status.steps[-1]
    assert (failed.type, failed.name, failed.status, failed.attempts) == (
        "rollback",
        "open account",
        "failed",
        3,
    )
    times = [a.started_at for a in failed.attempt_log]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [60, 60]


def test_an_undo_retried_after_a_delay_resumes_the_chain(make_env: Any) -> None:
    ledger.clear()
    Stubborn.undo_failures = 1
    env = make_env(WorkflowApp([Workflow("stubborn", Stubborn)]))
    env.binding("stubborn").create(id="s")
    status = env.wait_for_status("stubborn", "s", "errored")
    assert ledger == ["seat", "account", "close attempt 1", "close attempt 2", "free"]
    assert status.error.message == "boom"
    assert env.pump.invocations >= 2  # the retry delay suspended the chain


class Parallel(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        async def book(i: int) -> None:
            await step.sleep(f"wait {i}", f"{3 - i} hours")
            await step.do(f"book {i}", lambda: note(f"book {i}") and i, rollback=note_undo)

        await asyncio.gather(*(book(i) for i in range(3)))
        raise ValueError("after the fan-out")


def note_undo(i: int) -> None:
    note(f"undo {i}")


def test_parallel_steps_are_undone_in_reverse_completion_order(make_env: Any) -> None:
    ledger.clear()
    env = make_env(WorkflowApp([Workflow("parallel", Parallel)]))
    env.binding("parallel").create(id="p")
    env.wait_for_status("parallel", "p", "errored")
    assert ledger == ["book 2", "book 1", "book 0", "undo 0", "undo 1", "undo 2"]


class Decorated(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: WorkflowStep) -> Any:
        @step.do("hold", rollback=lambda held: note(f"release {held}"))
        async def hold() -> str:
            return note("held")

        await hold()
        await step.do("explode", self.explode, retries={"limit": 0})

    @staticmethod
    def explode() -> None:
        raise RuntimeError("no")


def test_the_decorator_form_takes_a_rollback(make_env: Any) -> None:
    ledger.clear()
    env = make_env(WorkflowApp([Workflow("decorated", Decorated)]))
    env.binding("decorated").create(id="d")
    env.wait_for_status("decorated", "d", "errored")
    assert ledger == ["held", "release held"]


class Misdeclared(WorkflowEntrypoint[Any]):
    mistake: ClassVar[str] = "not callable"

    async def run(self, event: Any, step: Any) -> Any:
        if self.mistake == "not callable":
            return await step.do("x", lambda: 1, rollback="undo")
        return await step.do("x", lambda: 1, rollback_config={"timeout": "1 minute"})


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("not callable", "step 'x': rollback must be callable"),
        ("config alone", "step 'x': rollback_config without a rollback function"),
    ],
)
def test_a_misdeclared_rollback_is_an_error_naming_the_step(
    make_env: Any, mistake: str, message: str
) -> None:
    Misdeclared.mistake = mistake
    env = make_env(WorkflowApp([Workflow("misdeclared", Misdeclared)]))
    env.binding("misdeclared").create(id="m")
    status = env.wait_for_status("misdeclared", "m", "errored")
    assert status.error.name == ValidationError.__name__
    assert message in status.error.message


class Busy(WorkflowEntrypoint[Any]):
    """Its second step asks for a terminate with rollback while it runs."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("first", lambda: note("first") and 1, rollback=lambda _: note("undo first"))
        await step.do("second", self.terminate_me, rollback=lambda _: note("undo second"))
        await step.do("third", lambda: note("third") and 3, rollback=lambda _: note("undo third"))

    def terminate_me(self) -> int:
        self.env.BUSY.get("b").terminate(rollback=True)
        note("second")
        return 2


def test_terminate_with_rollback_while_a_step_runs_stops_at_its_end(make_env: Any) -> None:
    ledger.clear()
    env = make_env(WorkflowApp([Workflow("busy", Busy, binding="BUSY")]))
    env.binding("busy").create(id="b")
    status = env.wait_for_status("busy", "b", "terminated")
    assert ledger == ["first", "second", "undo second", "undo first"]
    assert "third" not in [s.name for s in status.steps]


def test_terminate_with_rollback_and_nothing_completed_terminates_at_once(env: Any) -> None:
    instance = env.binding("trip").create(id="t")
    instance.terminate(rollback=True)
    assert instance.status().status == "terminated"
    env.run_until_idle()
    assert ledger == []


def test_terminate_with_rollback_over_http_and_bad_bodies_write_nothing(env: Any) -> None:
    from tests.functional.test_http_api import Api, assert_error, stored

    api = Api(env, RecordingMetrics())
    env.binding("trip").create(id="t")
    env.run_until_idle()
    path = "/workflows/trip/instances/t/terminate"
    before = stored(env)
    for body in ({"rollback": "yes"}, {"rollback": 1}, {"rollback": True, "extra": 1}, [True]):
        status, answer = api.call("POST", path, body)
        assert status in (400, 422), (body, answer)
        assert "error" in answer
    assert stored(env) == before
    assert_error(
        api.call("POST", "/workflows/trip/instances/nope/terminate", {}), 404, "instance_not_found"
    )
    assert api.call("POST", path, {"rollback": True}) == (200, {"id": "t", "status": "waiting"})
    env.wait_for_status("trip", "t", "terminated")
    assert ledger[-2:] == ["cancel H-7", "cancel F-1"]
    assert_error(api.call("POST", path, {"rollback": True}), 409, "conflict", "terminated")


def test_lwf_terminate_rollback(env: Any, tmp_path: Any) -> None:
    from lambda_workflows.handlers.api import ApiHandler
    from lambda_workflows.http.wsgi import serve

    from tests.functional.cli_support import Lwf

    env.binding("trip").create(id="t")
    env.run_until_idle()
    with serve(ApiHandler(lambda: env.engine)) as url:
        lwf = Lwf(env, url, tmp_path)
        result = lwf("instances", "terminate", "trip", "t", "--rollback")
        assert result.exit_code == 0, result.output
        assert "Rolling back, then terminating trip instance t" in result.output
        env.wait_for_status("trip", "t", "terminated")
        described = lwf("instances", "describe", "trip", "t")
    assert ledger[-2:] == ["cancel H-7", "cancel F-1"]
    rows = [line for line in described.output.splitlines() if "rollback" in line]
    assert len(rows) == 2, described.output


def test_terminate_with_rollback_of_a_paused_instance_of_a_capped_workflow(
    make_env: Any,
) -> None:
    """A paused instance gave its slot back: it waits for one in turn, then rolls back."""
    ledger.clear()
    Trip.charge_ok = False
    Trip.catch = False
    env = make_env(WorkflowApp([Workflow("trip", Trip, concurrency=1)]))
    first = env.binding("trip").create(id="first")
    env.run_until_idle()
    first.pause()
    second = env.binding("trip").create(id="second")
    env.run_until_idle()
    assert second.status().status == "waiting"  # it has the one slot
    first.terminate(rollback=True)
    assert first.status().status == "queued"
    env.wait_for_status("trip", "first", "terminated")
    assert env.binding("trip").get("second").status().status == "errored"  # it ended first
    assert ledger.count("cancel F-1") == 2  # both rolled back


def test_lwf_terminate_rollback_of_an_instance_with_nothing_to_undo(
    env: Any, tmp_path: Any
) -> None:
    from lambda_workflows.handlers.api import ApiHandler
    from lambda_workflows.http.wsgi import serve

    from tests.functional.cli_support import Lwf

    env.binding("trip").create(id="t")  # queued: nothing completed, terminated at once
    with serve(ApiHandler(lambda: env.engine)) as url:
        result = Lwf(env, url, tmp_path)("instances", "terminate", "trip", "t", "--rollback")
    assert result.exit_code == 0, result.output
    assert "Terminated trip instance t; status: terminated" in result.output


class SlowStep(WorkflowEntrypoint[Any]):
    """Its step takes five minutes of the clock (as under `lwf dev --time-scale`)."""

    clock: ClassVar[Any] = None

    async def run(self, event: Any, step: Any) -> Any:
        return await step.do("slow", lambda: SlowStep.clock.advance(timedelta(minutes=5)) and 1)


def test_a_steps_start_is_its_first_attempts_start(make_env: Any) -> None:
    env = make_env(WorkflowApp([Workflow("slow", SlowStep)]))
    SlowStep.clock = env.clock
    env.binding("slow").create(id="s")
    (step,) = env.wait_for_status("slow", "s", "complete").steps
    assert step.started_at == step.attempt_log[0].started_at
    assert step.finished_at - step.started_at >= timedelta(minutes=5)
