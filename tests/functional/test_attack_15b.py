"""Attack on issue 15's concurrency caps and `lwf replay-check` (helper attack-15b).

First section: confirmed defects (each failed on the code it was written against; its
docstring says what was expected and what happened; all are fixed now, and the
pause/resume overlap finding became a documented limit in docs/decisions.md).
Second section: attacks that held (passing tests, kept as regression guards).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.engine import Engine
from lambda_workflows.testing import WorkflowTestEnv

from tests.functional.caps import most_at_once, spans, started_in_creation_order


class Napper(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        await step.do("work", lambda: event.instance_id)
        await step.sleep("nap", (event.payload or {}).get("sleep", "1 hour"))
        return event.instance_id


def _app(cap: int | None) -> WorkflowApp:
    return WorkflowApp([Workflow("napper", Napper, concurrency=cap)])


def redeploy(env: WorkflowTestEnv, app: WorkflowApp) -> None:
    """Deploy new code on the same AWS state: a new engine (worker, sweeper, bindings)."""
    engine = Engine(app, env.engine.services, env._worker_settings, resources=env.cloud.resources())
    env.app = app
    env._engine = engine
    old = env.pump.sweeper
    env.pump.sweeper = engine.sweeper
    env.pump.idle_hooks = [
        engine.sweeper.sweep if old is not None and hook == old.sweep else hook
        for hook in env.pump.idle_hooks
    ]
    env.handler._engine = None  # the worker's cold start under the new code


def _status(env: WorkflowTestEnv, workflow: str, instance_id: str) -> str:
    return str(env.binding(workflow).get(instance_id).summary().status)


# ---------------------------------------------------------------------------------------
# Confirmed defects
# ---------------------------------------------------------------------------------------


def test_adding_a_cap_strands_instances_already_waiting(make_env: Callable[..., Any]) -> None:
    """HIGH. Expected: after a deploy that adds `concurrency=1` to a workflow, the
    instances already sleeping (started under the old code, so holding no slot) still
    complete when their 1-hour sleep ends (or at least take their turn for a slot).
    Actual: all three stay `waiting` for good: the new worker's lease demands
    `attribute_exists(sl)`, the condition fails, the instance is not `queued` so no
    admission happens, and the wake-up ends as "busy"; the sweeper's re-sends do the
    same. A day later they are still `waiting`, silently stranded."""
    env = make_env(_app(None))
    for n in range(3):
        env.binding("napper").create(id=f"n{n}")
    env.run_until_idle()
    assert {_status(env, "napper", f"n{n}") for n in range(3)} == {"waiting"}
    redeploy(env, _app(1))
    env.advance("1 day")
    for n in range(3):  # one at a time, each in its turn for the one slot
        env.wait_for_status("napper", f"n{n}", "complete")


def test_removing_a_cap_strands_queued_instances(make_env: Callable[..., Any]) -> None:
    """HIGH. Expected: after a deploy that removes `concurrency=1`, the instances that
    were queued behind the cap start (nothing limits them any more).
    Actual: n1 and n2 stay `queued` for good. Capped queued instances have no `due_at`
    (only the admission queue `qw`), and without a cap neither the worker nor the
    sweeper ever admits that workflow again; n0 completes, the other two never start."""
    env = make_env(_app(1))
    for n in range(3):
        env.binding("napper").create(id=f"n{n}")
    env.run_until_idle()
    assert [_status(env, "napper", f"n{n}") for n in range(3)] == ["waiting", "queued", "queued"]
    redeploy(env, _app(None))
    env.advance("1 day")
    for n in range(3):  # they start (then sleep their hour), as time goes on
        env.wait_for_status("napper", f"n{n}", "complete")


def test_adding_a_cap_while_uncapped_instances_are_queued(make_env: Callable[..., Any]) -> None:
    """HIGH. Expected: instances created under the old uncapped code whose wake-ups
    arrive after a deploy that adds `concurrency=1` start, one at a time.
    Actual: all three stay `queued` for good: they were created without the queue key
    `qw`, so the admission their wake-up runs queries the queue, does not find them, and
    the wake-up ends "queued"; nothing ever admits them."""
    env = make_env(_app(None))
    for n in range(3):
        env.binding("napper").create(id=f"n{n}")
    redeploy(env, _app(1))
    env.advance("1 day")
    for n in range(3):  # one at a time, each in its turn for the one slot
        env.wait_for_status("napper", f"n{n}", "complete")


# -- replay-check ---------------------------------------------------------------------


class Settings:
    threshold = 5


class Checkout(WorkflowEntrypoint[Any]):
    """v1: a, p1 || p2, nap, b, wait for "go"; later versions change one thing."""

    version: ClassVar[str] = "v1"

    async def run(self, event: Any, step: Any) -> Any:
        import asyncio

        version = self.version
        if version == "config" and self.env.SETTINGS.threshold > 3:  # a plain binding
            pass
        await step.do("a", lambda: RAN.append("a") or "a")
        first, second = ("p2", "p1") if version == "parallel-swapped" else ("p1", "p2")
        await asyncio.gather(
            step.do(first, lambda: RAN.append(first) or first),
            step.do(second, lambda: RAN.append(second) or second),
        )
        await step.sleep("nap", "2 hours" if version == "longer-nap" else "1 hour")
        if version == "inserted":
            await step.do("fraud check", lambda: RAN.append("fraud") or "ok")
        if version == "drop-tail":
            return "short"
        await step.do("b", lambda: RAN.append("b") or "b")
        await step.wait_for_event("go", type="go", timeout="1 day")
        if version == "appended":
            await step.do("extra", lambda: RAN.append("extra") or "e")
        return "done"


RAN: list[str] = []
REPLAY_APP = WorkflowApp([Workflow("checkout", Checkout)], bindings={"SETTINGS": Settings()})
REPLAY_APP_PATH = "tests.functional.test_attack_15b:REPLAY_APP"


def _checkout_env(make_env: Callable[..., Any]) -> WorkflowTestEnv:
    """`w1` waiting for "go" (journaled a, p1, p2, nap, b); `w3` asleep in "nap"."""
    Checkout.version = "v1"
    RAN.clear()
    env = make_env(REPLAY_APP)
    binding = env.binding("checkout")
    binding.create(id="w1")
    env.run_until_idle()
    env.advance("90 minutes")
    binding.create(id="w3")
    env.run_until_idle()
    assert _status(env, "checkout", "w1") == _status(env, "checkout", "w3") == "waiting"
    return env


def _verdict(env: WorkflowTestEnv, instance_id: str) -> Any:
    from lambda_workflows.runtime.replay_check import check_journal

    return check_journal(REPLAY_APP, env.binding("checkout").get(instance_id).journal())


def test_replay_check_fails_code_that_reads_a_plain_binding_outside_a_step(
    make_env: Callable[..., Any],
) -> None:
    """MEDIUM. Expected: `run()` reading a plain object declared in
    `WorkflowApp(bindings=...)` ("any other object: passed through as is", guide) outside
    a step, e.g. a config threshold, replays `ok`: it is deterministic and the worker
    runs it fine. Actual: replay-check swaps every binding for an inert stand-in whose
    attributes are functions, so `self.env.SETTINGS.threshold > 3` raises TypeError and
    the verdict is `failed` ("run() now raises TypeError: '>' not supported between
    instances of 'function' and 'int'"): exit 1, a false alarm that blocks the deploy."""
    env = _checkout_env(make_env)
    Checkout.version = "config"
    verdicts = {i: _verdict(env, i) for i in ("w1", "w3")}
    env.binding("checkout").get("w1").send_event("go", {})
    assert env.wait_for_status("checkout", "w1", "complete").output == "done"  # fine live
    assert {i: v.verdict for i, v in verdicts.items()} == {"w1": "ok", "w3": "ok"}, verdicts


def test_replay_check_and_the_worker_disagree_on_code_that_drops_the_journaled_tail(
    make_env: Callable[..., Any],
) -> None:
    """MEDIUM. Expected: replay-check foretells what the worker does ("says so before
    the worker does"): a `diverged` verdict means the instance errors with a
    NondeterminismError when it wakes, an `ok` one that it goes on.
    Actual: for code that now returns before steps the instance journaled (v2 drops
    "b" and the wait at the end), replay-check says `diverged` ("the code now returns
    before do 'b', journaled at position 0:2", exit 1), but the worker completes the
    instance silently with the new output "short", step "b" left in its journal: either
    the check blocks a deploy the engine handles, or the engine silently accepts a
    divergence its own check (and guide: "never silently") calls breaking."""
    env = _checkout_env(make_env)
    Checkout.version = "drop-tail"
    verdict = _verdict(env, "w1")
    env.binding("checkout").get("w1").send_event("go", {})
    env.run_until_idle()
    ended = env.binding("checkout").get("w1").status()
    worker_breaks = ended.status == "errored"
    assert verdict.breaks == worker_breaks, (verdict.verdict, verdict.message, ended.status)


def test_an_instance_already_errored_by_nondeterminism_keeps_replay_check_red(
    make_env: Callable[..., Any],
) -> None:
    """MEDIUM. Expected: replay-check exits non-zero "when any instance would break";
    an instance that already ended `errored` with the very NondeterminismError the
    current code gives it will never wake again, so it does not block the check (the
    docs already pass `failed` when "the instance had ... ended that way").
    Actual: after one unguarded deploy breaks a waiting instance, every later
    `lwf replay-check` of that same code reports it `diverged` and exits 1, until the
    errored instance is deleted or expires: the CI gate stays red for code that breaks
    nothing still running."""
    env = _checkout_env(make_env)
    Checkout.version = "inserted"
    env.binding("checkout").get("w1").send_event("go", {})  # wakes: fraud check vs b
    env.wait_for_status("checkout", "w1", "errored")
    error = env.binding("checkout").get("w1").status().error
    assert error is not None
    assert error.name == "NondeterminismError"
    verdict = _verdict(env, "w1")
    assert not verdict.breaks, (verdict.verdict, verdict.message)


def test_a_hand_edited_step_without_done_reports_an_internal_assertion(
    make_env: Callable[..., Any], tmp_path: Any
) -> None:
    """LOW. Expected: a journal file whose succeeded step lacks `done` (hand-edited, or
    written by a tool) is refused with a clear message naming the step (as a bad time
    or a duplicate position are, exit 2), or is `unchecked`.
    Actual: the verdict is `failed` with "run() now raises AssertionError: assert None
    is not None ..." (an engine-internal assert, blamed on run()), exit 1."""
    import json

    from lambda_workflows.handlers.api import ApiHandler
    from lambda_workflows.http.wsgi import serve

    from tests.functional.cli_support import Lwf

    env = _checkout_env(make_env)
    with serve(ApiHandler(lambda: env.engine)) as url:
        lwf = Lwf(env, url, tmp_path)
        document = json.loads(lwf("instances", "export", "checkout", "w1", "-o", "-").stdout)
        document["steps"][0]["done"] = None
        folder = tmp_path / "edited"
        folder.mkdir()
        (folder / "w1.json").write_text(json.dumps(document))
        result = lwf("replay-check", "--app", REPLAY_APP_PATH, "--from-file", str(folder))
    assert "AssertionError" not in result.output, result.output
    assert result.exit_code == 2, result.output


# =======================================================================================
# Attacks that held (passing tests)
# =======================================================================================


# ---------------------------------------------------------------------------------------
# A crash at every AWS call of a capped workflow's admissions (the chaos tier's method)
# ---------------------------------------------------------------------------------------

from tests.chaos.test_crash_at_every_call import (  # noqa: E402
    Injector,
    _engine_clients,
    _retrying,
)

CAP_RUNS: dict[str, int] = {}


class CappedChaos(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        def work() -> str:
            CAP_RUNS[event.instance_id] = CAP_RUNS.get(event.instance_id, 0) + 1
            return event.instance_id

        got = await step.do("work", work)
        await step.sleep("nap", "20 minutes")
        return got


CAPPED_CHAOS = WorkflowApp([Workflow("cc", CappedChaos, concurrency=1)])
CAPPED_IDS = ("a", "b")
"""Two are enough for every admission path (the second waits for the first's slot), and
keep this test (a run per AWS call and side of it) at a minute or two."""


def _capped_scenario(crash_at: int | None, phase: str) -> tuple[Injector, dict[str, str], Any]:
    from datetime import timedelta

    CAP_RUNS.clear()
    with WorkflowTestEnv(CAPPED_CHAOS) as env:
        injector = Injector(crash_at)
        for client in _engine_clients(env):
            client.meta.events.register(f"{phase}-call", injector)
        handler = env.pump.handler

        def crashing_worker(event: Any, context: Any) -> Any:
            injector.active = True
            try:
                return handler(event, context)
            finally:
                injector.active = False

        env.pump.handler = crashing_worker
        binding = env.binding("cc")
        for name in CAPPED_IDS:
            _retrying(injector, lambda name=name: binding.create(id=name))
            env.clock.advance(timedelta(milliseconds=1))
        outputs = {}
        for name in CAPPED_IDS:
            outputs[name] = env.wait_for_status("cc", name, "complete").output
        found = spans(env.engine.services.journal, "cc")
        holders = env.engine.services.journal.slot_holders("cc")
        return injector, outputs, (found, holders)


def test_a_crash_at_every_call_of_capped_admissions_keeps_the_cap_and_the_order() -> None:
    """Expected: for a crash before or after any AWS call, both instances of a cap-1
    workflow complete, never two at once, in creation order, slots all given back."""
    expected = {name: name for name in CAPPED_IDS}
    for phase in ("before", "after"):
        clean, outputs, _ = _capped_scenario(None, phase)
        assert outputs == expected
        for crash_at in range(1, clean.calls + 1):
            injector, outputs, (found, holders) = _capped_scenario(crash_at, phase)
            where = f"crash {phase} call {crash_at} ({injector.operations[crash_at - 1]})"
            assert outputs == expected, where
            assert most_at_once(found) == 1, (where, found)
            assert started_in_creation_order(found), (where, found)
            assert holders == frozenset(), where
            assert all(n in (1, 2) for n in CAP_RUNS.values()), (where, CAP_RUNS)


class Waiter(WorkflowEntrypoint[Any]):
    async def run(self, event: Any, step: Any) -> Any:
        options = event.payload or {}
        await step.do("work", lambda: event.instance_id)
        if options.get("wait"):
            got = await step.wait_for_event("ev", type="go", timeout="30 days")
            return got["payload"]
        if options.get("fail"):

            def boom() -> None:
                raise RuntimeError("flaky")

            await step.do(
                "boom", boom, retries={"limit": 3, "delay": "10 minutes", "backoff": "exponential"}
            )
        await step.sleep("nap", "1 hour")
        return event.instance_id


ONE = WorkflowApp([Workflow("one", Waiter, concurrency=1)])


def _one(make_env: Callable[..., Any], *created: tuple[str, dict[str, Any]]) -> WorkflowTestEnv:
    from datetime import timedelta

    env = make_env(ONE)
    for instance_id, params in created:
        env.binding("one").create(id=instance_id, params=params)
        env.clock.advance(timedelta(milliseconds=1))
    env.run_until_idle()
    return env


def _holds(env: WorkflowTestEnv, workflow: str) -> frozenset[str]:
    return env.engine.services.journal.slot_holders(workflow)


def test_held_an_event_sent_to_a_queued_instance_waits_for_its_slot(
    make_env: Callable[..., Any],
) -> None:
    env = _one(make_env, ("a", {}), ("q", {"wait": True}))
    env.binding("one").get("q").send_event("go", {"x": 1})
    env.run_until_idle()
    assert (_status(env, "one", "q"), _holds(env, "one")) == ("queued", {"a"})
    assert env.wait_for_status("one", "q", "complete").output == {"x": 1}
    found = spans(env.engine.services.journal, "one")
    assert most_at_once(found) == 1
    assert started_in_creation_order(found)


def test_held_a_restart_of_the_slot_holder_keeps_its_turn(make_env: Callable[..., Any]) -> None:
    env = _one(make_env, ("a", {}), ("b", {}))
    env.binding("one").get("a").restart()
    env.run_until_idle()
    assert (_status(env, "one", "a"), _status(env, "one", "b")) == ("waiting", "queued")
    assert _holds(env, "one") == {"a"}
    env.binding("one").get("b").restart()  # a queued one: still queued, no slot
    env.run_until_idle()
    assert _holds(env, "one") == {"a"}
    env.wait_for_status("one", "b", "complete")
    assert most_at_once(spans(env.engine.services.journal, "one")) == 1


def test_held_a_retry_delay_keeps_the_slot_and_the_error_frees_it(
    make_env: Callable[..., Any],
) -> None:
    env = _one(make_env, ("a", {"fail": True}), ("b", {}))
    assert (_status(env, "one", "a"), _status(env, "one", "b")) == ("waiting", "queued")
    ended = env.wait_for_status("one", "a", "errored").ended_at
    env.run_until_idle()
    found = {s.id: s for s in spans(env.engine.services.journal, "one")}
    assert found["b"].started_at == ended


def test_held_terminate_with_rollback_of_holder_and_queued(make_env: Callable[..., Any]) -> None:
    env = _one(make_env, ("a", {}), ("b", {}))
    env.binding("one").get("a").terminate(rollback=True)
    env.run_until_idle()
    assert (_status(env, "one", "a"), _status(env, "one", "b")) == ("terminated", "waiting")
    env.binding("one").get("b").terminate(rollback=True)
    env.run_until_idle()
    assert _status(env, "one", "b") == "terminated"
    assert _holds(env, "one") == frozenset()


def test_held_lowering_a_cap_admits_nobody_until_the_holders_are_below_it(
    make_env: Callable[..., Any],
) -> None:
    env = make_env(_app(2))
    for n in range(4):
        env.binding("napper").create(id=f"n{n}", params={"sleep": f"{n + 1} hours"})
    env.run_until_idle()
    redeploy(env, _app(1))
    env.advance("61 minutes")  # n0 ends: n1 still holds the one slot left
    assert [_status(env, "napper", f"n{n}") for n in range(4)] == [
        "complete",
        "waiting",
        "queued",
        "queued",
    ]
    env.wait_for_status("napper", "n3", "complete")
    found = spans(env.engine.services.journal, "napper")
    assert started_in_creation_order(found)
    later = [s for s in found if s.id in ("n2", "n3")]
    assert most_at_once(later) == 1


def test_held_replay_check_verdicts_for_safe_and_unsafe_changes_run_nothing(
    make_env: Callable[..., Any],
) -> None:
    env = _checkout_env(make_env)
    RAN.clear()
    expected = {
        "v1": ("ok", "ok"),
        "longer-nap": ("ok", "ok"),  # a sleep's duration is not journaled
        "appended": ("ok", "ok"),  # new ground for both
        "inserted": ("diverged", "ok"),  # w3 has not journaled past the nap
        "parallel-swapped": ("diverged", "diverged"),
    }
    for version, (w1, w3) in expected.items():
        Checkout.version = version
        got = (_verdict(env, "w1").verdict, _verdict(env, "w3").verdict)
        assert got == (w1, w3), version
    assert RAN == []  # no step function ran
    Checkout.version = "parallel-swapped"  # the worker agrees
    error = env.wait_for_status("checkout", "w3", "errored").error
    assert error is not None
    assert error.name == "NondeterminismError"


def test_held_hand_edited_files_are_usage_errors_or_verdicts_never_tracebacks(
    make_env: Callable[..., Any], tmp_path: Any
) -> None:
    import copy
    import json

    from lambda_workflows.handlers.api import ApiHandler
    from lambda_workflows.http.wsgi import serve

    from tests.functional.cli_support import Lwf

    env = _checkout_env(make_env)
    with serve(ApiHandler(lambda: env.engine)) as url:
        lwf = Lwf(env, url, tmp_path)
        good = json.loads(lwf("instances", "export", "checkout", "w1", "-o", "-").stdout)
        edits: dict[str, Callable[[dict[str, Any]], Any]] = {
            "version 2": lambda d: d.update(version=2),
            "bad time": lambda d: d["meta"].update(created_at="yesterday"),
            "same position": lambda d: d["steps"][1].update(position=d["steps"][0]["position"]),
            "no steps": lambda d: d.pop("steps"),
            "step not an object": lambda d: d["steps"].append(5),
            "bad wake_at": lambda d: d["steps"][3].update(wake_at="2026-13-45"),
        }
        for what, edit in edits.items():
            document = copy.deepcopy(good)
            edit(document)
            folder = tmp_path / what.replace(" ", "-")
            folder.mkdir()
            (folder / "x.json").write_text(json.dumps(document))
            result = lwf("replay-check", "--app", REPLAY_APP_PATH, "--from-file", str(folder))
            assert result.exit_code == 2, (what, result.output)
        for raw in (b"{oops", b"\xff\xfe{}", b"", b"[]", b"[" * 50_000 + b"]" * 50_000):
            folder = tmp_path / f"raw{len(raw)}"
            folder.mkdir()
            (folder / "x.json").write_bytes(raw)
            result = lwf("replay-check", "--app", REPLAY_APP_PATH, "--from-file", str(folder))
            assert result.exit_code == 2, (raw[:10], result.output)
        for limit in ("0", "-1"):
            assert lwf("replay-check", "--app", REPLAY_APP_PATH, "--limit", limit).exit_code == 2
