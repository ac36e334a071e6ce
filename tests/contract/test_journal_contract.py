"""The journal port's contract, run against every implementation.

Each test runs twice: on `MemoryJournal` and on `DynamoDBJournal` over a moto table. A
test here states what the runtime may rely on (see `lambda_workflows.journal.base`); an
implementation that fails one breaks the port, not the test.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from lambda_workflows.aws.dynamodb import DynamoDBJournal, table_definition
from lambda_workflows.errors import (
    InstanceExistsError,
    ItemTooLargeError,
    MetaConditionFailedError,
    SlotsFullError,
    StepConditionFailedError,
    ValidationError,
)
from lambda_workflows.journal import (
    MAX_ITEM_BYTES,
    OPEN,
    Attempt,
    ErrorInfo,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Journal,
    MemoryJournal,
    MetaCondition,
    NewEvent,
    SlotRelease,
    SlotTake,
    StepKind,
    StepRecord,
    StepStatus,
)
from moto import mock_aws

WF = "w"
QUEUED_ONLY = frozenset({InstanceStatus.QUEUED})
BIG = "x" * 500_000
"""A value that makes any item bigger than `MAX_ITEM_BYTES`."""
assert len(BIG) > MAX_ITEM_BYTES
_tables = itertools.count()


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    """One moto DynamoDB (and client) for the module; each test gets a table of its own."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            env.setenv(key, value)
        with mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture(params=["memory", "dynamodb"])
def journal(request: pytest.FixtureRequest) -> Iterator[Journal]:
    """A fresh, empty journal of each implementation."""
    if request.param == "memory":
        yield MemoryJournal()
        return
    client = request.getfixturevalue("dynamodb")
    table = f"journal-{next(_tables)}"
    client.create_table(**table_definition(table))
    yield DynamoDBJournal(client, table)


def _meta(
    instance_id: str = "i",
    created: int = 1,
    status: InstanceStatus = InstanceStatus.QUEUED,
    **fields: Any,
) -> InstanceMeta:
    return InstanceMeta(WF, instance_id, status, {"p": 1}, created, **fields)


def _record(
    name: str = "s",
    generation: int = 0,
    result: object = 1,
    version: int = 1,
    **fields: Any,
) -> StepRecord:
    return StepRecord(
        name,
        0,
        StepKind.DO,
        "0:0",
        StepStatus.SUCCEEDED,
        generation,
        version=version,
        result=result,
        **fields,
    )


def _event(
    type: str = "t",
    payload: Any = None,
    timestamp: int = 5,
    event_id: str | None = None,
    payload_ref: str | None = None,
) -> NewEvent:
    return NewEvent(type, payload, timestamp, event_id, payload_ref)


def _meta_of(journal: Journal, instance_id: str = "i") -> InstanceMeta:
    meta = journal.get_meta(WF, instance_id)
    assert meta is not None
    return meta


def _steps(journal: Journal, instance_id: str = "i") -> dict[str, StepRecord]:
    snapshot = journal.load(WF, instance_id)
    assert snapshot is not None
    return snapshot.steps


def _events(journal: Journal, instance_id: str = "i") -> list[EventRecord]:
    snapshot = journal.load(WF, instance_id)
    assert snapshot is not None
    return snapshot.events


def _fails_meta(journal: Journal, condition: MetaCondition, instance_id: str = "i") -> bool:
    """Whether an `update_meta` under `condition` is refused (and then leaves meta as is)."""
    before = journal.get_meta(WF, instance_id)
    current: InstanceMeta | None = None
    try:
        journal.update_meta(WF, instance_id, {"output": "changed"}, condition)
    except MetaConditionFailedError as exc:
        current = exc.current
    else:
        return False
    assert current == before
    assert journal.get_meta(WF, instance_id) == before
    return True


# -- create_instances, get_meta, load ---------------------------------------------------


def test_create_is_all_or_nothing(journal: Journal) -> None:
    """A batch with a taken id writes nothing and names the taken id."""
    journal.create_instances([_meta("a")])
    with pytest.raises(InstanceExistsError) as info:
        journal.create_instances([_meta("b"), _meta("a")])
    assert info.value.ids == ["a"]
    assert journal.get_meta(WF, "b") is None


def test_create_names_every_taken_id(journal: Journal) -> None:
    """`InstanceExistsError.ids` lists all taken ids of a batch, in batch order."""
    journal.create_instances([_meta("a"), _meta("c")])
    with pytest.raises(InstanceExistsError) as info:
        journal.create_instances([_meta("a"), _meta("b"), _meta("c")])
    assert info.value.ids == ["a", "c"]
    assert journal.get_meta(WF, "b") is None


def test_create_never_overwrites_an_existing_instance(journal: Journal) -> None:
    """Creating a single existing id raises and leaves the stored meta untouched."""
    journal.create_instances([_meta("a", created=1)])
    journal.update_meta(WF, "a", {"output": "kept"}, MetaCondition())
    before = _meta_of(journal, "a")
    with pytest.raises(InstanceExistsError) as info:
        journal.create_instances([_meta("a", created=2, status=InstanceStatus.RUNNING)])
    assert info.value.ids == ["a"]
    assert _meta_of(journal, "a") == before


def test_meta_round_trips(journal: Journal) -> None:
    """Every meta field written by `create_instances` reads back equal."""
    meta = InstanceMeta(
        WF,
        "full",
        InstanceStatus.WAITING,
        {"nested": [1, 2.5, None, True, {"k": "v"}]},
        1_700_000_000_000,
        params_ref="s3://bucket/params",
        generation=2,
        epoch=3,
        inbox=0,
        started_at=1_700_000_000_001,
        finished_at=1_700_000_000_002,
        output={"out": "put"},
        output_ref="s3://bucket/output",
        error=ErrorInfo("Boom", "it broke", "step-a"),
        lease_owner="owner",
        lease_until=1_700_000_000_100,
        due_at=1_700_000_000_200,
        watchers=["a#1", "b#2"],
    )
    journal.create_instances([meta])
    assert journal.get_meta(WF, "full") == meta
    snapshot = journal.load(WF, "full")
    assert snapshot is not None
    assert snapshot.meta == meta
    assert (snapshot.steps, snapshot.events) == ({}, [])


def test_missing_instance_reads_as_none(journal: Journal) -> None:
    """`get_meta` and `load` of an unknown instance return None."""
    journal.create_instances([_meta("other")])
    assert journal.get_meta(WF, "nope") is None
    assert journal.load(WF, "nope") is None
    assert journal.get_meta("other-workflow", "other") is None


def test_load_returns_current_generation_steps_and_ordered_events(journal: Journal) -> None:
    """`load` gives meta, only current-generation steps, and events in seq order."""
    journal.create_instances([_meta()])
    journal.put_step(WF, "i", _record("old", generation=0), None)
    journal.update_meta(WF, "i", {"generation": 1}, MetaCondition(generation=0))
    journal.put_step(WF, "i", _record("new", generation=1), None)
    for n in range(11):
        journal.append_event(WF, "i", _event(payload=n, event_id=f"id{n}"), OPEN)
    snapshot = journal.load(WF, "i")
    assert snapshot is not None
    assert snapshot.meta.generation == 1
    assert list(snapshot.steps) == ["new#0"]
    assert snapshot.steps["new#0"] == _record("new", generation=1)
    assert [e.seq for e in snapshot.events] == list(range(1, 12))
    assert [e.payload for e in snapshot.events] == list(range(11))


# -- update_meta -------------------------------------------------------------------------


def test_meta_conditions(journal: Journal) -> None:
    """Lease, inbox and generation conditions gate `update_meta` (moved from unit tests)."""
    journal.create_instances([_meta()])
    leased = journal.update_meta(
        WF,
        "i",
        {"lease_owner": "me", "lease_until": 100},
        MetaCondition(lease_free_at=50),
        return_new=True,
    )
    assert leased is not None
    assert leased.lease_owner == "me"
    with pytest.raises(MetaConditionFailedError) as info:
        journal.update_meta(WF, "i", {"lease_owner": "you"}, MetaCondition(lease_free_at=60))
    assert info.value.current is not None
    assert info.value.current.lease_owner == "me"
    journal.update_meta(WF, "i", {"lease_owner": "you"}, MetaCondition(lease_free_at=101))
    assert _meta_of(journal).lease_owner == "you"
    with pytest.raises(MetaConditionFailedError):
        journal.update_meta(WF, "i", {"inbox": 3}, MetaCondition(inbox=1))
    with pytest.raises(MetaConditionFailedError):
        journal.update_meta(WF, "i", {"output": 1}, MetaCondition(generation=2))
    with pytest.raises(MetaConditionFailedError) as missing:
        journal.update_meta(WF, "nope", {"output": 1}, MetaCondition())
    assert missing.value.current is None
    with pytest.raises(ValueError, match="unknown"):
        journal.update_meta(WF, "i", {"colour": 1}, MetaCondition())


def test_status_in_condition(journal: Journal) -> None:
    """`status_in` holds only when the stored status is one of the given ones."""
    journal.create_instances([_meta(status=InstanceStatus.RUNNING)])
    assert _fails_meta(journal, MetaCondition(status_in=QUEUED_ONLY))
    assert _fails_meta(journal, MetaCondition(status_in=frozenset({InstanceStatus.PAUSED})))
    running = frozenset({InstanceStatus.QUEUED, InstanceStatus.RUNNING})
    assert not _fails_meta(journal, MetaCondition(status_in=running))
    assert _meta_of(journal).output == "changed"


def test_generation_and_epoch_conditions(journal: Journal) -> None:
    """`generation` and `epoch` hold only on an exact match, and all set fields must hold."""
    journal.create_instances([_meta(generation=2, epoch=5)])
    assert _fails_meta(journal, MetaCondition(generation=1))
    assert _fails_meta(journal, MetaCondition(generation=3))
    assert _fails_meta(journal, MetaCondition(epoch=4))
    assert _fails_meta(journal, MetaCondition(generation=2, epoch=6))
    assert _fails_meta(journal, MetaCondition(generation=1, epoch=5))
    assert not _fails_meta(journal, MetaCondition(generation=2, epoch=5))


def test_generation_and_epoch_zero_are_conditions_too(journal: Journal) -> None:
    """A condition on generation 0 / epoch 0 is checked, not mistaken for 'no condition'."""
    journal.create_instances([_meta(generation=1, epoch=1)])
    assert _fails_meta(journal, MetaCondition(generation=0))
    assert _fails_meta(journal, MetaCondition(epoch=0))
    assert _fails_meta(journal, MetaCondition(inbox=1))


def test_lease_owner_condition(journal: Journal) -> None:
    """`lease_owner` holds only for the stored owner (never when there is none)."""
    journal.create_instances([_meta()])
    assert _fails_meta(journal, MetaCondition(lease_owner="me"))
    journal.update_meta(WF, "i", {"lease_owner": "me", "lease_until": 10}, MetaCondition())
    assert _fails_meta(journal, MetaCondition(lease_owner="you"))
    assert not _fails_meta(journal, MetaCondition(lease_owner="me"))


def test_lease_free_at_condition(journal: Journal) -> None:
    """`lease_free_at=t` holds with no lease or a lease ending strictly before t."""
    journal.create_instances([_meta()])
    assert not _fails_meta(journal, MetaCondition(lease_free_at=0))
    journal.update_meta(WF, "i", {"lease_owner": "me", "lease_until": 100}, MetaCondition())
    assert _fails_meta(journal, MetaCondition(lease_free_at=99))
    assert _fails_meta(journal, MetaCondition(lease_free_at=100))
    assert not _fails_meta(journal, MetaCondition(lease_free_at=101))
    journal.update_meta(WF, "i", {"lease_owner": None, "lease_until": None}, MetaCondition())
    assert not _fails_meta(journal, MetaCondition(lease_free_at=0))


def test_lease_free_at_holds_for_an_owner_without_expiry(journal: Journal) -> None:
    """As `MetaCondition.holds` says: an owner with no `lease_until` does not hold a lease."""
    journal.create_instances([_meta(lease_owner="me")])
    assert not _fails_meta(journal, MetaCondition(lease_free_at=0))


def test_inbox_condition(journal: Journal) -> None:
    """`inbox` holds only at the stored inbox counter (which `append_event` bumps)."""
    journal.create_instances([_meta()])
    assert not _fails_meta(journal, MetaCondition(inbox=0))
    journal.append_event(WF, "i", _event(), OPEN)
    assert _fails_meta(journal, MetaCondition(inbox=0))
    assert not _fails_meta(journal, MetaCondition(inbox=1))


def test_set_if_missing_only_fills_empty_fields(journal: Journal) -> None:
    """`set_if_missing` sets a field without a value and keeps one that has a value."""
    journal.create_instances([_meta()])
    journal.update_meta(
        WF, "i", {"status": InstanceStatus.RUNNING}, MetaCondition(), {"started_at": 10}
    )
    assert (_meta_of(journal).status, _meta_of(journal).started_at) == (
        InstanceStatus.RUNNING,
        10,
    )
    new = journal.update_meta(
        WF, "i", {"epoch": 1}, MetaCondition(), {"started_at": 20}, return_new=True
    )
    assert new is not None
    assert (new.epoch, new.started_at) == (1, 10)
    assert _meta_of(journal) == new


def test_set_if_missing_due_at_is_listed_due(journal: Journal) -> None:
    """`due_at` set through `set_if_missing` is due like one set through `changes`."""
    journal.create_instances([_meta("a"), _meta("b")])
    journal.update_meta(WF, "a", {"due_at": 5}, MetaCondition())
    journal.update_meta(WF, "b", {"output": 1}, MetaCondition(), {"due_at": 6})
    assert _meta_of(journal, "b").due_at == 6
    assert [m.instance_id for m in journal.list_due(10)] == ["a", "b"]


def test_return_new_returns_the_stored_meta(journal: Journal) -> None:
    """`return_new=True` returns the meta as now stored; otherwise the result is None."""
    journal.create_instances([_meta()])
    assert journal.update_meta(WF, "i", {"output": 1}, MetaCondition()) is None
    new = journal.update_meta(
        WF,
        "i",
        {"status": InstanceStatus.COMPLETE, "output": {"a": [1]}, "finished_at": 9},
        MetaCondition(status_in=QUEUED_ONLY),
        return_new=True,
    )
    assert new is not None
    assert new == _meta_of(journal)
    assert (new.status, new.output, new.finished_at) == (InstanceStatus.COMPLETE, {"a": [1]}, 9)


def test_return_old_returns_the_meta_before_the_write(journal: Journal) -> None:
    """`return_old=True` returns the meta as it was before this write (the worker reads
    the `due_at` its lease replaces); asking for both old and new is an error."""
    journal.create_instances([_meta(due_at=5)])
    old = journal.update_meta(
        WF, "i", {"due_at": 9, "lease_owner": "me"}, MetaCondition(), return_old=True
    )
    assert old is not None
    assert (old.due_at, old.lease_owner) == (5, None)
    assert (_meta_of(journal).due_at, _meta_of(journal).lease_owner) == (9, "me")
    with pytest.raises(ValueError, match="not both"):
        journal.update_meta(
            WF, "i", {"output": 1}, MetaCondition(), return_new=True, return_old=True
        )


def test_none_removes_a_field(journal: Journal) -> None:
    """A change to None removes the field (and an unset `due_at` is no longer due)."""
    journal.create_instances(
        [
            _meta(
                lease_owner="me",
                lease_until=5,
                due_at=5,
                output_ref="ref",
                error=ErrorInfo("E", "m"),
            )
        ]
    )
    new = journal.update_meta(
        WF,
        "i",
        {
            "lease_owner": None,
            "lease_until": None,
            "due_at": None,
            "output_ref": None,
            "error": None,
            "params": None,
        },
        MetaCondition(),
        return_new=True,
    )
    assert new is not None
    expected = _meta()
    expected.params = None
    assert new == expected
    assert _meta_of(journal) == expected
    assert journal.list_due(1 << 62) == []


def test_unknown_meta_field_is_a_value_error(journal: Journal) -> None:
    """An unknown field in `changes` or `set_if_missing` raises ValueError, writing nothing."""
    journal.create_instances([_meta()])
    before = _meta_of(journal)
    with pytest.raises(ValueError, match="unknown"):
        journal.update_meta(WF, "i", {"colour": 1}, MetaCondition())
    with pytest.raises(ValueError, match="unknown"):
        journal.update_meta(WF, "i", {"output": 1, "watchers": ["x"]}, MetaCondition())
    with pytest.raises(ValueError, match="unknown"):
        journal.update_meta(WF, "i", {"output": 1}, MetaCondition(), {"colour": 1})
    assert _meta_of(journal) == before


def test_meta_condition_failure_carries_the_stored_meta(journal: Journal) -> None:
    """`MetaConditionFailedError.current` is the full stored meta, or None when missing."""
    stored = _meta(
        status=InstanceStatus.RUNNING,
        generation=1,
        lease_owner="me",
        lease_until=50,
        due_at=50,
        watchers=["x#1"],
    )
    journal.create_instances([stored])
    with pytest.raises(MetaConditionFailedError) as info:
        journal.update_meta(WF, "i", {"output": 1}, MetaCondition(generation=0))
    assert info.value.current == stored
    with pytest.raises(MetaConditionFailedError) as missing:
        journal.update_meta(WF, "missing", {"output": 1}, MetaCondition())
    assert missing.value.current is None
    assert journal.get_meta(WF, "missing") is None


def test_meta_over_the_item_limit_is_refused(journal: Journal) -> None:
    """A meta over MAX_ITEM_BYTES raises ItemTooLargeError (create or update), writing nothing."""
    with pytest.raises(ItemTooLargeError):
        journal.create_instances([InstanceMeta(WF, "big", InstanceStatus.QUEUED, BIG, 1)])
    assert journal.get_meta(WF, "big") is None
    with pytest.raises(ItemTooLargeError):
        journal.create_instances(
            [_meta("ok"), InstanceMeta(WF, "big", InstanceStatus.QUEUED, BIG, 1)]
        )
    assert journal.get_meta(WF, "ok") is None
    assert journal.get_meta(WF, "big") is None
    journal.create_instances([_meta()])
    before = _meta_of(journal)
    with pytest.raises(ItemTooLargeError):
        journal.update_meta(WF, "i", {"params": BIG}, MetaCondition())
    assert _meta_of(journal) == before


def test_meta_update_over_the_item_limit_changes_no_field(journal: Journal) -> None:
    """An `update_meta` refused as too large applies none of its changes (it is one write)."""
    journal.create_instances([_meta()])
    before = _meta_of(journal)
    with pytest.raises(ItemTooLargeError):
        journal.update_meta(WF, "i", {"params": BIG, "epoch": 1}, MetaCondition())
    assert _meta_of(journal) == before
    with pytest.raises(ItemTooLargeError):
        journal.update_meta(WF, "i", {"epoch": 2}, MetaCondition(), {"output": BIG})
    assert _meta_of(journal) == before


# -- put_step ----------------------------------------------------------------------------


def test_first_step_writer_wins_and_older_generations_are_overwritten(journal: Journal) -> None:
    """Without a version the key must be free or of an older generation (moved)."""
    journal.create_instances([_meta()])
    journal.put_step(WF, "i", _record(result="first"), None)
    with pytest.raises(StepConditionFailedError) as info:
        journal.put_step(WF, "i", _record(result="second"), None)
    assert info.value.current == _record(result="first")
    assert _steps(journal)["s#0"].result == "first"
    journal.update_meta(WF, "i", {"generation": 1}, MetaCondition())
    journal.put_step(WF, "i", _record(generation=1, result="new run"), None)
    assert _steps(journal) == {"s#0": _record(generation=1, result="new run")}
    with pytest.raises(StepConditionFailedError):
        journal.put_step(WF, "i", _record(generation=1), expected_version=7)


def test_put_step_never_overwrites_a_newer_generation(journal: Journal) -> None:
    """A record of an older generation loses to the stored newer one, which it reports."""
    journal.create_instances([_meta(generation=2)])
    journal.put_step(WF, "i", _record(generation=2, result="current"), None)
    with pytest.raises(StepConditionFailedError) as info:
        journal.put_step(WF, "i", _record(generation=1, result="stale"), None)
    assert info.value.current == _record(generation=2, result="current")
    assert _steps(journal) == {"s#0": _record(generation=2, result="current")}


def test_put_step_expected_version(journal: Journal) -> None:
    """With `expected_version` the stored record must be this generation at that version."""
    journal.create_instances([_meta()])
    with pytest.raises(StepConditionFailedError) as absent:
        journal.put_step(WF, "i", _record(version=2), expected_version=1)
    assert absent.value.current is None
    assert _steps(journal) == {}
    first = _record(result="v1")
    first.status = StepStatus.RETRYING
    journal.put_step(WF, "i", first, None)
    second = _record(result="v2", version=2)
    journal.put_step(WF, "i", second, expected_version=1)
    assert _steps(journal) == {"s#0": second}
    with pytest.raises(StepConditionFailedError) as stale:
        journal.put_step(WF, "i", _record(result="v2 again", version=2), expected_version=1)
    assert stale.value.current == second
    with pytest.raises(StepConditionFailedError) as other_gen:
        journal.put_step(WF, "i", _record(generation=1, version=3), expected_version=2)
    assert other_gen.value.current == second
    assert _steps(journal) == {"s#0": second}


def test_step_record_round_trips(journal: Journal) -> None:
    """A step record with every field set (attempts with errors included) reads back equal."""
    journal.create_instances([_meta()])
    record = StepRecord(
        "fetch",
        3,
        StepKind.WAIT_FOR_EVENT,
        "1:2:3",
        StepStatus.FAILED,
        0,
        version=4,
        result={"list": [1, "two", None, 3.5, False], "empty": {}},
        result_ref="s3://bucket/result",
        error=ErrorInfo("StepError", "gave up", "fetch"),
        attempts=[
            Attempt(1, 10, 11, ErrorInfo("TimeoutError", "slow")),
            Attempt(2, 12, 13, ErrorInfo("KeyError", "'k'", "fetch")),
            Attempt(3, 14, 15),
        ],
        started_at=10,
        finished_at=15,
        done=2,
        wake_at=99,
        event_seq=7,
        event_type="approval",
    )
    journal.put_step(WF, "i", record, None)
    assert _steps(journal) == {"fetch#3": record}
    with pytest.raises(StepConditionFailedError) as info:
        journal.put_step(WF, "i", record, None)
    assert info.value.current == record


def test_falsy_step_results_round_trip(journal: Journal) -> None:
    """Results 0, False, "" and [] are stored as such, not dropped to None."""
    journal.create_instances([_meta()])
    for n, value in enumerate([0, False, "", [], {}]):
        journal.put_step(WF, "i", _record(f"s{n}", result=value), None)
    steps = _steps(journal)
    assert [steps[f"s{n}#0"].result for n in range(5)] == [0, False, "", [], {}]


def test_step_over_the_item_limit_is_refused(journal: Journal) -> None:
    """A step record over MAX_ITEM_BYTES raises ItemTooLargeError and writes nothing."""
    journal.create_instances([_meta()])
    with pytest.raises(ItemTooLargeError):
        journal.put_step(WF, "i", _record(result=BIG), None)
    assert _steps(journal) == {}
    journal.put_step(WF, "i", _record(result="small"), None)
    with pytest.raises(ItemTooLargeError):
        journal.put_step(WF, "i", _record(result=BIG, version=2), expected_version=1)
    assert _steps(journal) == {"s#0": _record(result="small")}


# -- append_event ------------------------------------------------------------------------


def test_events_are_numbered_deduplicated_and_refused_when_closed(journal: Journal) -> None:
    """Events get seq 1, 2, ...; a seen event_id is not stored twice; closed refuses (moved)."""
    journal.create_instances([_meta()])
    first, new = journal.append_event(WF, "i", _event(payload={"a": 1}, event_id="e1"), QUEUED_ONLY)
    again, again_new = journal.append_event(
        WF, "i", _event(payload={"a": 1}, timestamp=6, event_id="e1"), QUEUED_ONLY
    )
    assert (first.seq, new, again.seq, again_new) == (1, True, 1, False)
    second, _ = journal.append_event(WF, "i", _event(timestamp=7), QUEUED_ONLY)
    assert second.seq == 2
    snapshot = journal.load(WF, "i")
    assert snapshot is not None
    assert [e.seq for e in snapshot.events] == [1, 2]
    assert snapshot.meta.inbox == 2
    with pytest.raises(MetaConditionFailedError):
        journal.append_event(WF, "i", _event(timestamp=8), frozenset({InstanceStatus.RUNNING}))
    journal.replace_steps(WF, "i", [], [], [first])
    assert [e.seq for e in _events(journal)] == [2]


def test_append_event_returns_what_it_stores(journal: Journal) -> None:
    """The returned record equals the stored one, and `inbox` is the last seq."""
    journal.create_instances([_meta(), _meta("other")])
    stored = [
        journal.append_event(WF, "i", _event(f"t{n}", {"n": n}, 100 + n), OPEN)[0] for n in range(3)
    ]
    assert stored == [
        EventRecord(1, "t0", {"n": 0}, 100),
        EventRecord(2, "t1", {"n": 1}, 101),
        EventRecord(3, "t2", {"n": 2}, 102),
    ]
    assert _events(journal) == stored
    assert _meta_of(journal).inbox == 3
    other, _ = journal.append_event(WF, "other", _event(), OPEN)
    assert other.seq == 1


def test_duplicate_event_id_returns_the_first_event(journal: Journal) -> None:
    """A seen `event_id` returns (the stored event, False) and stores nothing new."""
    journal.create_instances([_meta()])
    first, new = journal.append_event(WF, "i", _event("a", {"v": 1}, 1, "dup"), OPEN)
    assert new
    journal.append_event(WF, "i", _event("b", {"v": 2}, 2), OPEN)
    again, again_new = journal.append_event(WF, "i", _event("c", {"v": 3}, 3, "dup"), OPEN)
    assert (again, again_new) == (first, False)
    assert again == EventRecord(1, "a", {"v": 1}, 1, "dup")
    assert _meta_of(journal).inbox == 2
    assert [e.type for e in _events(journal)] == ["a", "b"]


def test_event_ids_are_per_instance(journal: Journal) -> None:
    """The same `event_id` on two instances makes two new events."""
    journal.create_instances([_meta("a"), _meta("b")])
    _, new_a = journal.append_event(WF, "a", _event(event_id="same"), OPEN)
    _, new_b = journal.append_event(WF, "b", _event(event_id="same"), OPEN)
    assert (new_a, new_b) == (True, True)


def test_append_event_refused_when_closed_or_missing(journal: Journal) -> None:
    """Closed: MetaConditionFailedError(stored meta), nothing stored; missing: (None)."""
    stored = _meta(status=InstanceStatus.COMPLETE, output="done")
    journal.create_instances([stored])
    with pytest.raises(MetaConditionFailedError) as closed:
        journal.append_event(WF, "i", _event(event_id="e"), OPEN)
    assert closed.value.current == stored
    assert _events(journal) == []
    assert _meta_of(journal) == stored
    with pytest.raises(MetaConditionFailedError) as missing:
        journal.append_event(WF, "missing", _event(), OPEN)
    assert missing.value.current is None
    assert journal.get_meta(WF, "missing") is None


def test_event_payload_ref_round_trips(journal: Journal) -> None:
    """An event's `payload_ref` (payload kept in the blob store) is stored and loaded."""
    journal.create_instances([_meta()])
    stored, _ = journal.append_event(
        WF, "i", _event(payload=None, event_id="big", payload_ref="s3://b/k"), OPEN
    )
    assert stored == EventRecord(1, "t", None, 5, "big", "s3://b/k")
    assert _events(journal) == [stored]
    again, new = journal.append_event(WF, "i", _event(event_id="big"), OPEN)
    assert (again, new) == (stored, False)


def test_event_over_the_item_limit_is_refused(journal: Journal) -> None:
    """An event over MAX_ITEM_BYTES raises ItemTooLargeError; no event, inbox unchanged."""
    journal.create_instances([_meta()])
    with pytest.raises(ItemTooLargeError):
        journal.append_event(WF, "i", _event(payload=BIG, event_id="e"), OPEN)
    assert _events(journal) == []
    assert _meta_of(journal).inbox == 0
    stored, new = journal.append_event(WF, "i", _event(payload="small", event_id="e"), OPEN)
    assert (stored.seq, new) == (1, True)


def test_deleted_event_id_is_forgotten(journal: Journal) -> None:
    """After `replace_steps` deletes an event, its `event_id` makes a new event (new seq)."""
    journal.create_instances([_meta()])
    first, _ = journal.append_event(WF, "i", _event(payload=1, event_id="e1"), OPEN)
    journal.append_event(WF, "i", _event(payload=2, event_id="e2"), OPEN)
    journal.replace_steps(WF, "i", [], [], [first])
    again, new = journal.append_event(WF, "i", _event(payload=3, event_id="e1"), OPEN)
    assert (again.seq, again.payload, new) == (3, 3, True)
    assert [(e.seq, e.event_id) for e in _events(journal)] == [(2, "e2"), (3, "e1")]
    dup, dup_new = journal.append_event(WF, "i", _event(payload=4, event_id="e1"), OPEN)
    assert (dup, dup_new) == (again, False)


def test_every_deleted_event_id_is_forgotten(journal: Journal) -> None:
    """A restart deleting all events lets every old `event_id` in again, numbered on."""
    journal.create_instances([_meta()])
    for n in range(3):
        journal.append_event(WF, "i", _event(payload=n, event_id=f"e{n}"), OPEN)
    journal.replace_steps(WF, "i", [], [], _events(journal))
    assert _events(journal) == []
    for n in range(3):
        stored, new = journal.append_event(WF, "i", _event(payload=n, event_id=f"e{n}"), OPEN)
        assert (stored.seq, new) == (4 + n, True)


# -- replace_steps -----------------------------------------------------------------------


def test_replace_steps_rewrites_keeps_and_deletes(journal: Journal) -> None:
    """Kept records are rewritten, listed steps and events deleted; calling twice is a no-op."""
    journal.create_instances([_meta()])
    journal.put_step(WF, "i", _record("a", result="a0"), None)
    journal.put_step(WF, "i", _record("b", result="b0"), None)
    journal.put_step(WF, "i", _record("c", result="c0"), None)
    e1, _ = journal.append_event(WF, "i", _event(payload=1), OPEN)
    e2, _ = journal.append_event(WF, "i", _event(payload=2), OPEN)
    journal.update_meta(WF, "i", {"generation": 1}, MetaCondition())
    kept = _record("a", generation=1, result="a0")
    for _ in range(2):
        journal.replace_steps(WF, "i", [kept], ["b#0"], [e1])
        assert _steps(journal) == {"a#0": kept}
        assert _events(journal) == [e2]
    journal.update_meta(WF, "i", {"generation": 0}, MetaCondition())
    assert _steps(journal) == {"c#0": _record("c", result="c0")}


def test_replace_steps_of_many_items(journal: Journal) -> None:
    """`replace_steps` writes and deletes more items than one batch write holds (25)."""
    journal.create_instances([_meta()])
    many = [_record(f"s{n:02d}", result=n) for n in range(30)]
    journal.replace_steps(WF, "i", many, [], [])
    assert _steps(journal) == {r.key: r for r in many}
    for n in range(3):
        journal.append_event(WF, "i", _event(payload=n, event_id=f"e{n}"), OPEN)
    journal.replace_steps(WF, "i", [_record("keep")], [r.key for r in many], _events(journal))
    assert _steps(journal) == {"keep#0": _record("keep")}
    assert _events(journal) == []
    stored, new = journal.append_event(WF, "i", _event(event_id="e0"), OPEN)
    assert (stored.seq, new) == (4, True)


# -- add_watcher, settle_watchers --------------------------------------------------------


def test_add_watcher_is_a_set(journal: Journal) -> None:
    """Adding a watcher twice keeps one entry; watchers read back sorted."""
    journal.create_instances([_meta()])
    journal.add_watcher(WF, "i", "p#2", OPEN)
    journal.add_watcher(WF, "i", "p#1", OPEN)
    journal.add_watcher(WF, "i", "p#2", OPEN)
    assert _meta_of(journal).watchers == ["p#1", "p#2"]


def test_add_watcher_refused_when_closed_or_missing(journal: Journal) -> None:
    """Closed: MetaConditionFailedError(stored meta), watcher not added; missing: (None)."""
    stored = _meta(status=InstanceStatus.ERRORED, error=ErrorInfo("E", "bad"))
    journal.create_instances([stored])
    with pytest.raises(MetaConditionFailedError) as closed:
        journal.add_watcher(WF, "i", "p#1", OPEN)
    assert closed.value.current == stored
    assert _meta_of(journal).watchers == []
    with pytest.raises(MetaConditionFailedError) as missing:
        journal.add_watcher(WF, "missing", "p#1", OPEN)
    assert missing.value.current is None
    assert journal.get_meta(WF, "missing") is None


def test_settle_watchers_at_the_same_generation(journal: Journal) -> None:
    """At the instance's generation the named watchers go and `due_at` is cleared."""
    journal.create_instances([_meta(generation=1, due_at=5)])
    for watcher in ("a#1", "b#1", "c#1"):
        journal.add_watcher(WF, "i", watcher, OPEN)
    journal.settle_watchers(WF, "i", ["a#1", "c#1", "never#1"], 1)
    meta = _meta_of(journal)
    assert (meta.watchers, meta.due_at) == (["b#1"], None)
    assert journal.list_due(1 << 62) == []
    journal.settle_watchers(WF, "i", ["b#1"], 1)
    assert _meta_of(journal).watchers == []


def test_settle_watchers_sets_the_next_due(journal: Journal) -> None:
    """With `due_at`, the instance stays in the due index at that time (its expiry), and
    `list_due` reads back when it ended and who still waits for it."""
    done = _meta(
        status=InstanceStatus.COMPLETE, generation=1, due_at=5, finished_at=4, output={"ok": 1}
    )
    journal.create_instances([done])
    journal.settle_watchers(WF, "i", [], 1, due_at=9_000)
    assert _meta_of(journal).due_at == 9_000
    assert journal.list_due(9_000) == []
    [listed] = journal.list_due(9_001)
    assert (listed.due_at, listed.finished_at, listed.watchers) == (9_000, 4, [])
    assert listed.status == InstanceStatus.COMPLETE


def test_settle_watchers_ignores_another_generation_or_a_missing_instance(
    journal: Journal,
) -> None:
    """At another generation nothing changes; a missing instance is no error."""
    journal.create_instances([_meta(generation=2, due_at=5)])
    journal.add_watcher(WF, "i", "a#1", OPEN)
    before = _meta_of(journal)
    journal.settle_watchers(WF, "i", ["a#1"], 1)
    journal.settle_watchers(WF, "i", ["a#1"], 3)
    assert _meta_of(journal) == before
    journal.settle_watchers(WF, "missing", ["a#1"], 0)
    assert journal.get_meta(WF, "missing") is None


# -- list_due ----------------------------------------------------------------------------


def test_list_due_is_oldest_first_strictly_before_and_limited(journal: Journal) -> None:
    """Only instances with `due_at < before_ms`, oldest first, at most `limit`."""
    dues = {"d30": 30, "d10": 10, "d50": 50, "d20": 20, "d40": 40}
    journal.create_instances(
        [_meta(i, due_at=due, generation=1, epoch=2) for i, due in dues.items()]
        + [_meta("never"), _meta("later", due_at=1000)]
    )
    journal.update_meta(WF, "never", {"due_at": 15}, MetaCondition())
    journal.update_meta(WF, "never", {"due_at": None}, MetaCondition())
    due = journal.list_due(50)
    assert [(m.instance_id, m.due_at) for m in due] == [
        ("d10", 10),
        ("d20", 20),
        ("d30", 30),
        ("d40", 40),
    ]
    assert [m.instance_id for m in journal.list_due(50, limit=2)] == ["d10", "d20"]
    assert [m.instance_id for m in journal.list_due(1 << 62, limit=1)] == ["d10"]
    assert journal.list_due(10) == []
    # What the sweeper reads of a due instance:
    first = due[0]
    assert (first.workflow, first.status, first.generation, first.epoch) == (
        WF,
        InstanceStatus.QUEUED,
        1,
        2,
    )


def test_list_due_follows_due_at_updates(journal: Journal) -> None:
    """Moving `due_at` with `update_meta` moves the instance in `list_due`."""
    journal.create_instances([_meta("a", due_at=10), _meta("b", due_at=20)])
    journal.update_meta(WF, "a", {"due_at": 30}, MetaCondition())
    assert [m.instance_id for m in journal.list_due(25)] == ["b"]
    assert [m.instance_id for m in journal.list_due(100)] == ["b", "a"]


# -- list_instances ----------------------------------------------------------------------


def test_listing_is_newest_first_with_a_cursor(journal: Journal) -> None:
    """Pages are newest first; the cursor continues and is None at the end (moved)."""
    journal.create_instances([_meta(f"i{n}", created=n) for n in range(5)])
    page = journal.list_instances(WF, limit=3)
    assert [m.instance_id for m in page.instances] == ["i4", "i3", "i2"]
    assert page.cursor is not None
    rest = journal.list_instances(WF, limit=3, cursor=page.cursor)
    assert [m.instance_id for m in rest.instances] == ["i1", "i0"]
    assert rest.cursor is None
    assert journal.list_instances(WF, status=InstanceStatus.COMPLETE).instances == []


def test_a_cursor_is_bound_to_its_workflow_and_status_filter(journal: Journal) -> None:
    """A cursor continues only the listing it came from; a forged one is a ValidationError."""
    journal.create_instances([_meta(f"i{n}", created=n) for n in range(3)])
    journal.create_instances([InstanceMeta("other", "o", InstanceStatus.QUEUED, None, 5)])
    plain = journal.list_instances(WF, limit=1).cursor
    queued = journal.list_instances(WF, InstanceStatus.QUEUED, limit=1).cursor
    assert plain is not None
    assert queued is not None
    wrong = [
        (WF, InstanceStatus.QUEUED, plain),
        (WF, None, queued),
        (WF, InstanceStatus.PAUSED, queued),
        ("other", None, plain),
        (WF, None, "not a cursor"),
        (WF, None, base64.urlsafe_b64encode(b'{"listing": "wf", "after": null}').decode()),
    ]
    for workflow, status, cursor in wrong:
        with pytest.raises(ValidationError, match="cursor"):
            journal.list_instances(workflow, status, limit=1, cursor=cursor)
    rest = journal.list_instances(WF, InstanceStatus.QUEUED, limit=5, cursor=queued)
    assert [m.instance_id for m in rest.instances] == ["i1", "i0"]


def _all_pages(
    journal: Journal, limit: int, status: InstanceStatus | None = None
) -> list[list[InstanceMeta]]:
    pages: list[list[InstanceMeta]] = []
    cursor: str | None = None
    for _ in range(100):
        page = journal.list_instances(WF, status=status, limit=limit, cursor=cursor)
        assert len(page.instances) <= limit
        pages.append(page.instances)
        cursor = page.cursor
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ran out")


def test_list_instances_pages_to_the_end(journal: Journal) -> None:
    """Following cursors yields every instance once, newest first, in full pages."""
    metas = [_meta(f"i{n:02d}", created=1000 + n // 2) for n in range(11)]
    journal.create_instances(metas[:6])
    journal.create_instances(metas[6:])
    journal.create_instances([InstanceMeta("other", "i00", InstanceStatus.QUEUED, None, 5000)])
    expected = sorted(metas, key=lambda m: (m.created_at, m.instance_id), reverse=True)
    for limit in (1, 4, 11, 50):
        pages = _all_pages(journal, limit)
        assert [m for page in pages for m in page] == expected
        assert all(len(page) == limit for page in pages[:-1])


def test_list_instances_filters_by_status(journal: Journal) -> None:
    """With `status`, pages hold only that status, newest first, paging to the end."""
    statuses = [InstanceStatus.QUEUED, InstanceStatus.COMPLETE, InstanceStatus.COMPLETE]
    metas = [_meta(f"i{n:02d}", created=n, status=statuses[n % 3]) for n in range(15)]
    journal.create_instances(metas)
    complete = [m.instance_id for m in reversed(metas) if m.status == InstanceStatus.COMPLETE]
    for limit in (1, 3, 50):
        pages = _all_pages(journal, limit, InstanceStatus.COMPLETE)
        assert [m.instance_id for page in pages for m in page] == complete
        assert all(len(page) == limit for page in pages[:-1])
    queued = journal.list_instances(WF, status=InstanceStatus.QUEUED, limit=2)
    assert [m.instance_id for m in queued.instances] == ["i12", "i09"]
    assert journal.list_instances(WF, status=InstanceStatus.RUNNING).instances == []


def test_list_instances_returns_full_metas(journal: Journal) -> None:
    """Listed metas equal `get_meta`'s."""
    meta = _meta(output={"o": 1}, watchers=["p#1"], due_at=7, error=ErrorInfo("E", "m"))
    journal.create_instances([meta])
    assert journal.list_instances(WF).instances == [meta]
    assert journal.list_instances("unknown").instances == []


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "not a cursor!",
        "-1",
        "²",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"pk": 1}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"bogus": {"S": "x"}}).encode()).decode(),
    ],
)
def test_garbage_cursor_is_a_validation_error(journal: Journal, cursor: str) -> None:
    """A cursor that `list_instances` did not hand out raises ValidationError."""
    journal.create_instances([_meta(f"i{n}", created=n) for n in range(3)])
    with pytest.raises(ValidationError):
        journal.list_instances(WF, limit=1, cursor=cursor)


def test_a_cursor_survives_instances_created_between_pages(journal: Journal) -> None:
    """New instances created while a client pages do not shift it: every instance that
    existed at the first page appears exactly once."""
    journal.create_instances([_meta(f"i{n}", created=n) for n in range(6)])
    first = journal.list_instances(WF, limit=2)
    journal.create_instances([_meta(f"new{n}", created=100 + n) for n in range(3)])
    seen = [m.instance_id for m in first.instances]
    cursor = first.cursor
    while cursor is not None:
        page = journal.list_instances(WF, limit=2, cursor=cursor)
        seen += [m.instance_id for m in page.instances]
        cursor = page.cursor
    assert seen == ["i5", "i4", "i3", "i2", "i1", "i0"]


def test_a_cursor_of_another_workflow_is_a_validation_error(journal: Journal) -> None:
    """A cursor continues only the listing it came from."""
    journal.create_instances([_meta(f"i{n}", created=n) for n in range(3)])
    journal.create_instances(
        [InstanceMeta("other", f"o{n}", InstanceStatus.QUEUED, None, n) for n in range(3)]
    )
    cursor = journal.list_instances("other", limit=1).cursor
    assert cursor is not None
    with pytest.raises(ValidationError):
        journal.list_instances(WF, limit=1, cursor=cursor)


# -- count_instances and delete_instance --------------------------------------------------


def test_count_instances_counts_each_status_of_one_workflow(journal: Journal) -> None:
    """Counts by status, only for the named workflow; statuses with none are absent."""
    statuses = [InstanceStatus.QUEUED] * 3 + [InstanceStatus.COMPLETE] * 2
    journal.create_instances([_meta(f"i{n}", status=s) for n, s in enumerate(statuses)])
    journal.create_instances([InstanceMeta("other", "o", InstanceStatus.ERRORED, None, 1)])
    assert journal.count_instances(WF) == {InstanceStatus.QUEUED: 3, InstanceStatus.COMPLETE: 2}
    assert journal.count_instances("unknown") == {}


def test_delete_instance_removes_the_whole_partition(journal: Journal) -> None:
    """A finished instance goes with its steps, events and event-id markers; the same id
    can be created again and starts empty."""
    journal.create_instances([_meta(status=InstanceStatus.COMPLETE), _meta("keep")])
    journal.put_step(WF, "i", _record("a"), None)
    journal.append_event(WF, "i", _event(event_id="e1"), frozenset(InstanceStatus))
    journal.delete_instance(WF, "i")
    assert journal.get_meta(WF, "i") is None
    assert journal.load(WF, "i") is None
    assert journal.get_meta(WF, "keep") is not None
    assert journal.count_instances(WF) == {InstanceStatus.QUEUED: 1}
    journal.create_instances([_meta()])
    snapshot = journal.load(WF, "i")
    assert snapshot is not None
    assert (snapshot.steps, snapshot.events) == ({}, [])
    _, new = journal.append_event(WF, "i", _event(event_id="e1"), OPEN)
    assert new


@pytest.mark.parametrize(
    "status", [InstanceStatus.QUEUED, InstanceStatus.RUNNING, InstanceStatus.PAUSED]
)
def test_delete_instance_refuses_an_unfinished_instance(
    journal: Journal, status: InstanceStatus
) -> None:
    """Only complete, errored or terminated instances are deleted; the error carries the
    stored meta and nothing is removed."""
    journal.create_instances([_meta(status=status)])
    journal.put_step(WF, "i", _record("a"), None)
    with pytest.raises(MetaConditionFailedError) as failure:
        journal.delete_instance(WF, "i")
    assert failure.value.current is not None
    assert failure.value.current.status == status
    assert set(_steps(journal)) == {"a#0"}


def test_delete_instance_of_a_missing_instance_says_so(journal: Journal) -> None:
    """Deleting an unknown instance raises with no current meta."""
    with pytest.raises(MetaConditionFailedError) as failure:
        journal.delete_instance(WF, "nope")
    assert failure.value.current is None


# -- concurrency slots (Workflow(concurrency=N)) ---------------------------------------

ADMIT = MetaCondition(status_in=QUEUED_ONLY, holds_slot=False)


def _admit(journal: Journal, instance_id: str, limit: int = 2) -> None:
    journal.update_meta(WF, instance_id, {"queue": None}, ADMIT, slot=SlotTake(limit))


def test_slots_are_taken_up_to_the_limit_with_the_meta_write(journal: Journal) -> None:
    journal.create_instances([_meta(f"i{n}", queue=WF) for n in range(3)])
    assert journal.slot_holders(WF) == frozenset()
    _admit(journal, "i0")
    _admit(journal, "i1")
    assert journal.slot_holders(WF) == {"i0", "i1"}
    assert _meta_of(journal, "i0").holds_slot
    assert _meta_of(journal, "i0").queue is None
    with pytest.raises(SlotsFullError):
        _admit(journal, "i2")
    third = _meta_of(journal, "i2")  # nothing of the refused write was applied
    assert (third.holds_slot, third.queue) == (False, WF)
    assert journal.slot_holders(WF) == {"i0", "i1"}
    assert journal.slot_holders("other") == frozenset()


def test_a_failed_meta_condition_takes_no_slot(journal: Journal) -> None:
    journal.create_instances([_meta("i", status=InstanceStatus.RUNNING), _meta("j", queue=WF)])
    with pytest.raises(MetaConditionFailedError) as failed:
        _admit(journal, "i")
    assert failed.value.current is not None
    assert failed.value.current.status == InstanceStatus.RUNNING
    with pytest.raises(MetaConditionFailedError) as missing:
        _admit(journal, "nobody")
    assert missing.value.current is None
    assert journal.slot_holders(WF) == frozenset()
    _admit(journal, "j")
    with pytest.raises(MetaConditionFailedError):  # holds one already: holds_slot=False fails
        _admit(journal, "j")
    assert journal.slot_holders(WF) == {"j"}


def test_a_meta_condition_on_the_slot(journal: Journal) -> None:
    journal.create_instances([_meta("i", queue=WF)])
    with pytest.raises(MetaConditionFailedError):
        journal.update_meta(WF, "i", {"epoch": 1}, MetaCondition(holds_slot=True))
    _admit(journal, "i")
    journal.update_meta(WF, "i", {"epoch": 1}, MetaCondition(holds_slot=True))
    assert _meta_of(journal).epoch == 1


def test_a_slot_is_given_back_with_the_meta_write_once(journal: Journal) -> None:
    journal.create_instances([_meta("i", queue=WF), _meta("j", queue=WF)])
    _admit(journal, "i", limit=1)
    ended = journal.update_meta(
        WF,
        "i",
        {"status": InstanceStatus.COMPLETE},
        MetaCondition(status_in=QUEUED_ONLY),
        return_new=True,
        slot=SlotRelease(),
    )
    assert ended is not None
    assert (ended.status, ended.holds_slot) == (InstanceStatus.COMPLETE, False)
    assert journal.slot_holders(WF) == frozenset()
    journal.update_meta(WF, "i", {}, MetaCondition(), slot=SlotRelease())  # again: a no-op
    assert journal.slot_holders(WF) == frozenset()
    _admit(journal, "j", limit=1)
    assert journal.slot_holders(WF) == {"j"}


def test_a_refused_release_keeps_the_slot(journal: Journal) -> None:
    journal.create_instances([_meta("i", queue=WF)])
    _admit(journal, "i")
    with pytest.raises(MetaConditionFailedError):
        journal.update_meta(
            WF, "i", {}, MetaCondition(status_in=frozenset(OPEN) - QUEUED_ONLY), slot=SlotRelease()
        )
    assert journal.slot_holders(WF) == {"i"}
    assert _meta_of(journal).holds_slot


def test_return_old_cannot_go_with_a_slot_change(journal: Journal) -> None:
    journal.create_instances([_meta("i", queue=WF)])
    with pytest.raises(ValueError, match="slot"):
        journal.update_meta(WF, "i", {}, ADMIT, return_old=True, slot=SlotTake(1))


def test_the_queue_is_in_creation_order_ties_by_id(journal: Journal) -> None:
    journal.create_instances(
        [
            _meta("late", created=9, queue=WF),
            _meta("b", created=5, queue=WF),
            _meta("a", created=5, queue=WF),
            _meta("first", created=1, queue=WF),
            _meta("not-queued", created=2),
        ]
    )
    journal.create_instances([InstanceMeta("other", "x", InstanceStatus.QUEUED, None, 0)])
    assert [m.instance_id for m in journal.queued(WF, 10)] == ["first", "a", "b", "late"]
    assert [m.instance_id for m in journal.queued(WF, 2)] == ["first", "a"]
    head = journal.queued(WF, 1)[0]
    assert (head.workflow, head.status, head.generation, head.created_at) == (
        WF,
        InstanceStatus.QUEUED,
        0,
        1,
    )
    _admit(journal, "first")  # leaves the queue (`queue` removed)
    journal.update_meta(WF, "not-queued", {"queue": WF}, MetaCondition())  # joins it
    assert [m.instance_id for m in journal.queued(WF, 10)] == ["not-queued", "a", "b", "late"]
