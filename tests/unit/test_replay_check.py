"""Replay-only checks (runtime/replay_check.py) on the in-memory engine: verdicts for
unchanged, changed and patched code, and that a check runs nothing and writes nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest
from lambda_workflows import (
    NonRetryableError,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
)
from lambda_workflows.journal.document import JournalDocument
from lambda_workflows.runtime.replay_check import check_all, check_journal
from pydantic import BaseModel

from tests.unit.memory_engine import MemoryEngine

RAN: list[str] = []


def _ran(name: str) -> str:
    RAN.append(name)
    return name


class Shipping(WorkflowEntrypoint[Any]):
    """Version 1: a, sleep, b, sleep, c; other versions change it."""

    version: ClassVar[str] = "v1"

    async def run(self, event: Any, step: Any) -> Any:
        v = self.version
        await step.do("a", lambda: _ran("a"))
        await step.sleep("first nap", "1 day")
        if v == "inserted":
            await step.do("fraud check", lambda: _ran("fraud"))
        if v == "patched" and step.patched("fraud-check"):
            await step.do("fraud check", lambda: _ran("fraud"))
        if v == "parallel":
            await asyncio.gather(step.do("fraud check", lambda: _ran("fraud")))
        if v == "env":
            self.env.CHILD.create(params={})
        if v != "renamed":
            await step.do("b", lambda: _ran("b"))
        else:
            await step.do("b (renamed)", lambda: _ran("b"))
        await step.sleep("second nap", "1 day")
        if v == "shorter":
            return "early"
        result = await step.do("c", lambda: _ran("c"))
        if v == "appended":
            await step.do("d", lambda: _ran("d"))
        return result


class Params(BaseModel):
    order: str


class Failing(WorkflowEntrypoint[Params]):
    version: ClassVar[str] = "v1"

    async def run(self, event: Any, step: Any) -> Any:
        if self.version == "renamed-field":
            _ = event.payload.order_id
        await step.do("charge", self.charge, retries={"limit": 0})

    def charge(self) -> None:
        raise NonRetryableError("card declined")


APP = WorkflowApp(
    [
        Workflow("shipping", Shipping, binding="CHILD"),
        Workflow("failing", Failing),
    ]
)


@pytest.fixture
def engine() -> MemoryEngine:
    Shipping.version = "v1"
    Failing.version = "v1"
    RAN.clear()
    return MemoryEngine(APP)


def _at_second_nap(engine: MemoryEngine, instance_id: str = "s1") -> JournalDocument:
    engine.engine.binding("shipping").create(id=instance_id)
    for _ in range(2):  # the start (to the first nap), the first nap's end
        engine.run(max_deliveries=1)
    document = engine.engine.binding("shipping").get(instance_id).journal()
    assert [s.name for s in document.steps] == ["a", "first nap", "b", "second nap"]
    assert document.meta.status == "waiting"
    return document


def test_unchanged_code_replays_to_the_live_point_and_runs_nothing(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    RAN.clear()
    writes = engine.journal.writes
    verdict = check_journal(APP, document)
    assert verdict.verdict == "ok", verdict
    assert "sleep 'second nap'" in verdict.message
    assert (verdict.replayed, verdict.steps) == (4, 4)
    assert RAN == []
    assert engine.journal.writes == writes
    assert engine.wakeups.sent == [] or all(at > 0 for _, at in engine.wakeups.sent)


def test_a_step_inserted_before_a_journaled_one_diverges(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    Shipping.version = "inserted"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "diverged"
    assert verdict.breaks
    assert verdict.position == "0:2"
    assert verdict.journaled is not None
    assert str(verdict.journaled) == "do 'b'"
    assert verdict.called is not None
    assert str(verdict.called) == "do 'fraud check'"
    assert RAN == ["a", "b"]  # only the v1 run before the check


def test_a_renamed_step_diverges(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    Shipping.version = "renamed"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "diverged"
    assert verdict.called is not None
    assert verdict.called.name == "b (renamed)"


def test_a_step_moved_to_another_branch_names_what_the_code_waits_on(
    engine: MemoryEngine,
) -> None:
    document = _at_second_nap(engine)
    Shipping.version = "parallel"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "diverged", verdict
    assert verdict.journaled is not None
    assert verdict.journaled.name == "b"
    assert verdict.called is not None
    assert verdict.called.name == "fraud check"


def test_patched_code_and_appended_steps_replay(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    for version in ("patched", "appended"):
        Shipping.version = version
        verdict = check_journal(APP, document)
        assert verdict.verdict == "ok", (version, verdict)


def test_a_finished_journal_replays_to_its_end_and_a_shortened_run_diverges(
    engine: MemoryEngine,
) -> None:
    engine.engine.binding("shipping").create(id="done")
    engine.run()
    document = engine.engine.binding("shipping").get("done").journal()
    assert document.meta.status == "complete"
    assert document.meta.output == "c"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "ok"
    assert "run() returns" in verdict.message
    Shipping.version = "shorter"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "diverged"
    assert verdict.position == "0:4"
    assert verdict.journaled is not None
    assert str(verdict.journaled) == "do 'c'"
    assert verdict.called is None


def test_an_errored_instance_replays_to_its_error_and_a_new_error_fails(
    engine: MemoryEngine,
) -> None:
    engine.engine.binding("failing").create(id="f", params={"order": "o1"})
    engine.run()
    document = engine.engine.binding("failing").get("f").journal()
    assert document.meta.status == "errored"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "ok", verdict
    assert "raises the recorded StepError" in verdict.message
    Failing.version = "renamed-field"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "failed"
    assert "AttributeError" in verdict.message
    assert "order_id" in verdict.message


def test_a_binding_used_outside_a_step_fails_without_calling_it(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    Shipping.version = "env"
    verdict = check_journal(APP, document)
    assert verdict.verdict == "failed"
    assert "self.env.CHILD.create outside a step" in verdict.message
    assert engine.engine.binding("shipping").list().instances[0].id == "s1"


def test_a_value_left_out_of_the_export_leaves_the_instance_unchecked(
    engine: MemoryEngine,
) -> None:
    document = _at_second_nap(engine)
    data = document.model_dump(mode="json")
    data["steps"][0].update(result=None, result_omitted=True)
    verdict = check_journal(APP, JournalDocument.model_validate(data))
    assert verdict.verdict == "unchecked"
    assert not verdict.breaks
    assert "the result of do 'a' (index 0)" in verdict.message


def test_an_undeclared_workflow_fails(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    verdict = check_journal(WorkflowApp([Workflow("failing", Failing)]), document)
    assert verdict.verdict == "failed"
    assert "no longer declares workflow 'shipping'" in verdict.message


def test_the_document_round_trips_through_json(engine: MemoryEngine) -> None:
    document = _at_second_nap(engine)
    text = json.dumps(document.model_dump(mode="json"))
    again = JournalDocument.model_validate_json(text)
    assert again == document
    data = json.loads(text)
    assert (data["format"], data["version"]) == ("lambda-workflows/journal", 1)
    assert data["steps"][0] == {
        "name": "a",
        "index": 0,
        "type": "do",
        "position": "0:0",
        "status": "succeeded",
        "done": 0,
        "result": "a",
        "result_omitted": False,
        "error": None,
        "attempts": 1,
        "started_at": "2026-01-01T00:00:00.000+00:00",
        "finished_at": "2026-01-01T00:00:00.000+00:00",
        "wake_at": None,
        "event_seq": None,
        "event_type": None,
    }
    report = check_all(APP, [again, again])
    assert report.to_dict()["counts"] == {"ok": 2, "diverged": 0, "failed": 0, "unchecked": 0}
    data["version"] = 2
    with pytest.raises(ValueError, match="version"):
        JournalDocument.model_validate(data)


def test_an_attribute_error_is_stored_under_its_own_type_name() -> None:
    """Guards: `ErrorInfo.of` took any exception's `name` attribute as the error's name,
    so an AttributeError was stored as the attribute it missed ("order_id")."""
    from lambda_workflows.journal.records import ErrorInfo

    with pytest.raises(AttributeError) as raised:
        _ = Params(order="o").order_id  # type: ignore[attr-defined]
    assert ErrorInfo.of(raised.value).name == "AttributeError"
    assert ErrorInfo.of(NonRetryableError("no", name="Declined")).name == "Declined"


class Saga(WorkflowEntrypoint[Any]):
    """Two undoable steps, then a failure: its journal ends with the rollback chain."""

    async def run(self, event: Any, step: Any) -> Any:
        await step.do("debit", lambda: _ran("debit"), rollback=lambda _: _ran("undo debit"))
        await step.do("credit", lambda: _ran("credit"), rollback=lambda _: _ran("undo credit"))
        await step.do("notify", self.fail, retries={"limit": 0})

    @staticmethod
    def fail() -> None:
        raise NonRetryableError("mail is down")


def test_a_rolled_back_instance_replays_without_running_its_undos() -> None:
    app = WorkflowApp([Workflow("saga", Saga)])
    engine = MemoryEngine(app)
    RAN.clear()
    engine.engine.binding("saga").create(id="s")
    engine.run()
    document = engine.engine.binding("saga").get("s").journal()
    assert [s.type for s in document.steps][-2:] == ["rollback", "rollback"]
    assert RAN == ["debit", "credit", "undo credit", "undo debit"]
    RAN.clear()
    verdict = check_journal(app, document)
    assert verdict.verdict == "ok", verdict
    assert RAN == []
    # half-way through the chain (its last undo not journaled), nothing runs either
    document.steps = document.steps[:-1]
    verdict = check_journal(app, document)
    assert verdict.verdict == "ok", verdict
    assert RAN == []
