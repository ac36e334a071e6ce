"""The in-memory journal keeps the conditional-write contract of the DynamoDB one."""

from __future__ import annotations

import pytest
from lambda_workflows.journal import (
    ConditionFailedError,
    InstanceExistsError,
    InstanceMeta,
    InstanceStatus,
    MemoryJournal,
    MetaCondition,
    StepKind,
    StepRecord,
    StepStatus,
)


def _meta(instance_id: str = "i", created: int = 1) -> InstanceMeta:
    return InstanceMeta("w", instance_id, InstanceStatus.QUEUED, {"p": 1}, created)


def _record(generation: int = 0, result: object = 1) -> StepRecord:
    return StepRecord("s", 0, StepKind.DO, "0:0", StepStatus.SUCCEEDED, generation, result=result)


def test_create_is_all_or_nothing() -> None:
    journal = MemoryJournal()
    journal.create_instances([_meta("a")])
    with pytest.raises(InstanceExistsError) as info:
        journal.create_instances([_meta("b"), _meta("a")])
    assert info.value.ids == ["a"]
    assert journal.get_meta("w", "b") is None


def test_meta_conditions() -> None:
    journal = MemoryJournal()
    journal.create_instances([_meta()])
    leased = journal.update_meta(
        "w",
        "i",
        {"lease_owner": "me", "lease_until": 100},
        MetaCondition(lease_free_at=50),
        return_new=True,
    )
    assert leased is not None
    assert leased.lease_owner == "me"
    with pytest.raises(ConditionFailedError) as info:
        journal.update_meta("w", "i", {"lease_owner": "you"}, MetaCondition(lease_free_at=60))
    assert info.value.current.lease_owner == "me"
    journal.update_meta("w", "i", {"lease_owner": "you"}, MetaCondition(lease_free_at=101))
    with pytest.raises(ConditionFailedError):
        journal.update_meta("w", "i", {"inbox": 3}, MetaCondition(inbox=1))
    with pytest.raises(ConditionFailedError):
        journal.update_meta("w", "i", {}, MetaCondition(generation=2))
    with pytest.raises(ConditionFailedError) as missing:
        journal.update_meta("w", "nope", {}, MetaCondition())
    assert missing.value.current is None
    with pytest.raises(ValueError, match="unknown"):
        journal.update_meta("w", "i", {"colour": 1}, MetaCondition())


def test_first_step_writer_wins_and_older_generations_are_overwritten() -> None:
    journal = MemoryJournal()
    journal.create_instances([_meta()])
    journal.put_step("w", "i", _record(result="first"), None)
    with pytest.raises(ConditionFailedError) as info:
        journal.put_step("w", "i", _record(result="second"), None)
    assert info.value.current.result == "first"
    journal.put_step("w", "i", _record(generation=1, result="new run"), None)
    assert journal.get_step("w", "i", "s#0").result == "new run"  # type: ignore[union-attr]
    with pytest.raises(ConditionFailedError):
        journal.put_step("w", "i", _record(generation=1), expected_version=7)


def test_events_are_numbered_deduplicated_and_refused_when_closed() -> None:
    journal = MemoryJournal()
    journal.create_instances([_meta()])
    open_ = frozenset({InstanceStatus.QUEUED})
    first, new = journal.append_event("w", "i", "t", {"a": 1}, 5, "e1", open_)
    again, again_new = journal.append_event("w", "i", "t", {"a": 1}, 6, "e1", open_)
    assert (first.seq, new, again.seq, again_new) == (1, True, 1, False)
    second, _ = journal.append_event("w", "i", "t", None, 7, None, open_)
    assert second.seq == 2
    snapshot = journal.load("w", "i")
    assert snapshot is not None
    assert [e.seq for e in snapshot.events] == [1, 2]
    assert snapshot.meta.inbox == 2
    with pytest.raises(ConditionFailedError):
        journal.append_event("w", "i", "t", None, 8, None, frozenset({InstanceStatus.RUNNING}))
    journal.replace_steps("w", "i", [], [], [1])
    snapshot = journal.load("w", "i")
    assert snapshot is not None
    assert [e.seq for e in snapshot.events] == [2]


def test_listing_is_newest_first_with_a_cursor() -> None:
    journal = MemoryJournal()
    journal.create_instances([_meta(f"i{n}", created=n) for n in range(5)])
    page = journal.list_instances("w", limit=3)
    assert [m.instance_id for m in page.instances] == ["i4", "i3", "i2"]
    rest = journal.list_instances("w", limit=3, cursor=page.cursor)
    assert [m.instance_id for m in rest.instances] == ["i1", "i0"]
    assert rest.cursor is None
    assert journal.list_instances("w", status=InstanceStatus.COMPLETE).instances == []
