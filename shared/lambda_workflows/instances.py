"""The instance API, as Cloudflare's Workflow binding: create, get, status, control, events."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lambda_workflows.app import Workflow
from lambda_workflows.clock import now_ms
from lambda_workflows.errors import (
    BlobMissingError,
    InstanceConflictError,
    InstanceExistsError,
    InstanceNotFoundError,
    MetaConditionFailedError,
    ValidationError,
)
from lambda_workflows.journal.base import Journal, MetaCondition, SlotRelease
from lambda_workflows.journal.document import JournalDocument, export_journal
from lambda_workflows.journal.records import (
    OPEN,
    RUNNABLE,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    StepKind,
    StepStatus,
)
from lambda_workflows.names import check_event_type, check_instance_id, check_step_name
from lambda_workflows.payloads import (
    PARAMS_INLINE_BYTES,
    STEP_INLINE_BYTES,
    Packed,
    canonical,
    check_client_value,
    to_json_value,
)
from lambda_workflows.purge import purge_instance
from lambda_workflows.runtime.admission import admit
from lambda_workflows.runtime.delivery import deliver_event, notify_watchers
from lambda_workflows.services import Services
from lambda_workflows.status import InstanceDetails, InstanceList, InstanceSummary
from lambda_workflows.wakeups import Wakeup

MAX_BATCH = 100
MAX_PAGE = 100
RESTART_POINTS = {
    "do": StepKind.DO,
    "sleep": StepKind.SLEEP,
    "wait_for_event": StepKind.WAIT_FOR_EVENT,
    "wait_for_workflow": StepKind.WAIT_FOR_WORKFLOW,
}


@dataclass(frozen=True)
class CreateRequest:
    """One entry of `create_batch`."""

    id: str | None = None
    params: Any = None


def parse_status(name: str) -> InstanceStatus:
    """An instance status from its name (`ValidationError` listing the valid names)."""
    try:
        return InstanceStatus(name)
    except ValueError:
        valid = ", ".join(str(s) for s in InstanceStatus)
        raise ValidationError(f"unknown status {name!r}; valid: {valid}") from None


class Instance:
    """A handle on one instance (cheap: it holds no state of its own)."""

    def __init__(self, binding: WorkflowBinding, instance_id: str) -> None:
        self._binding = binding
        self.id = instance_id

    def __repr__(self) -> str:
        return f"Instance({self._binding.name!r}, {self.id!r})"

    @property
    def workflow(self) -> str:
        """The name of the instance's workflow."""
        return self._binding.name

    def _not_found(self) -> InstanceNotFoundError:
        return InstanceNotFoundError(f"no instance {self.id!r} of {self._binding.name!r}")

    @property
    def _journal(self) -> Journal:
        return self._binding.services.journal

    def _meta(self) -> InstanceMeta:
        meta = self._journal.get_meta(self._binding.name, self.id)
        if meta is None:
            raise self._not_found()
        return meta

    def summary(self) -> InstanceSummary:
        """Status and timestamps only (one read; `status()` loads the whole journal)."""
        return InstanceSummary.of(self._meta())

    def status(self) -> InstanceDetails:
        """The instance: status, params, output, error, step timeline and timestamps."""
        snapshot = self._journal.load(self._binding.name, self.id)
        if snapshot is None:
            raise self._not_found()
        meta = snapshot.meta
        payloads = self._binding.services.payloads

        def value(inline: Any, ref: str | None) -> Any:
            try:
                return payloads.unpack(inline, ref)
            except BlobMissingError:  # being purged: its stored values go first
                return None

        return InstanceDetails.of(
            snapshot,
            params=value(meta.params, meta.params_ref),
            output=value(meta.output, meta.output_ref),
        )

    def journal(self, max_bytes: int | None = None) -> JournalDocument:
        """The instance's whole journal as one document (`lwf instances export`,
        `lwf replay-check`); `max_bytes` bounds the stored values it shows."""
        snapshot = self._journal.load(self._binding.name, self.id)
        if snapshot is None:
            raise self._not_found()
        services = self._binding.services
        return export_journal(snapshot, services.payloads.unpack, now_ms(services.clock), max_bytes)

    @property
    def _cap(self) -> int | None:
        return self._binding.workflow.concurrency

    def _queue(self, changes: dict[str, Any], queued: bool) -> SlotRelease | None:
        """For a capped workflow: put the instance in its admission queue or take it out
        (in `changes`), and give back its slot (the `slot` of the same write)."""
        if self._cap is None:
            return None
        changes["queue"] = self._binding.name if queued else None
        if queued:
            changes["due_at"] = None  # a slot, not a deadline, starts it (see admission)
        return SlotRelease()

    def _refill(self) -> None:
        """Hand a slot this instance gave back to the oldest queued instance."""
        if self._cap is not None:
            admit(self._binding.services, self._binding.name, self._cap)

    def _transition(
        self,
        allowed: Iterable[InstanceStatus],
        changes: Mapping[str, Any],
        action: str,
        slot: SlotRelease | None = None,
    ) -> InstanceMeta:
        try:
            meta = self._journal.update_meta(
                self._binding.name,
                self.id,
                changes,
                MetaCondition(status_in=frozenset(allowed)),
                return_new=True,
                slot=slot,
            )
        except MetaConditionFailedError as exc:
            if exc.current is None:
                raise self._not_found() from None
            raise InstanceConflictError(
                f"cannot {action} instance {self.id!r}: it is {exc.current.status}"
            ) from None
        assert meta is not None
        return meta

    def pause(self) -> None:
        """Pause at the next step boundary (`waitingForPause` while a step runs).

        A paused instance of a capped workflow gives its slot back (see decisions.md)."""
        for _ in range(3):
            slot = None
            if self._meta().status == InstanceStatus.RUNNING:
                allowed = {InstanceStatus.RUNNING}
                changes: dict[str, Any] = {"status": InstanceStatus.WAITING_FOR_PAUSE}
            else:
                allowed = {InstanceStatus.QUEUED, InstanceStatus.WAITING}
                changes = {"status": InstanceStatus.PAUSED, "due_at": None}
                slot = self._queue(changes, queued=False)
            try:
                self._transition(allowed, changes, "pause", slot)
                if slot is not None:
                    self._refill()
                return
            except InstanceConflictError:
                if self._meta().status not in RUNNABLE:
                    raise
        raise InstanceConflictError(f"instance {self.id!r} kept changing status; try again")

    def resume(self) -> None:
        """Resume a paused instance (or cancel a pause that has not taken effect yet)."""
        meta = self._meta()
        if meta.status == InstanceStatus.WAITING_FOR_PAUSE:
            self._transition(
                {InstanceStatus.WAITING_FOR_PAUSE}, {"status": InstanceStatus.RUNNING}, "resume"
            )
            return
        changes: dict[str, Any] = {
            "status": InstanceStatus.QUEUED,
            "due_at": now_ms(self._binding.services.clock),
        }
        self._queue(changes, queued=True)  # it holds no slot: it takes its turn for one
        meta = self._transition({InstanceStatus.PAUSED}, changes, "resume")
        self._wake(meta)

    def terminate(self, *, rollback: bool = False) -> None:
        """Stop for good; pending wake-ups become no-ops; parents waiting for it are told.

        Terminating a terminated instance is a conflict, but first re-tells its waiting
        parents (a client retrying after a crash between the two completes the job).

        With `rollback`, a worker first stops `run()` (at its next step boundary if a step
        runs) and runs the undos of its completed steps, in reverse completion order; the
        instance ends `terminated` then, or `errored` if an undo keeps failing. Until then
        it keeps its status; asking again changes nothing.
        """
        if rollback and self._has_completed_steps() and self._terminate_with_rollback():
            return
        meta = self._meta()
        services = self._binding.services
        if meta.status == InstanceStatus.TERMINATED:
            notify_watchers(services, meta)
        changes: dict[str, Any] = {
            "status": InstanceStatus.TERMINATED,
            "lease_owner": None,
            "lease_until": None,
            "due_at": now_ms(services.clock),  # cleared once waiting parents are told
            "finished_at": now_ms(services.clock),
        }
        slot = self._queue(changes, queued=False)
        ended = self._transition(OPEN, changes, "terminate", slot)
        notify_watchers(services, ended)
        self._refill()

    def _has_completed_steps(self) -> bool:
        snapshot = self._journal.load(self._binding.name, self.id)
        if snapshot is None:
            raise self._not_found()
        return any(
            r.kind == StepKind.DO and r.status == StepStatus.SUCCEEDED
            for r in snapshot.steps.values()
        )

    def _terminate_with_rollback(self) -> bool:
        """Flag the instance for the worker; wake it unless a worker holds it now. False
        when it has ended (a plain terminate says why it cannot)."""
        services = self._binding.services
        for _ in range(3):
            meta = self._meta()
            if meta.status not in OPEN:
                return False
            if meta.terminating:
                return True
            changes: dict[str, Any] = {"terminating": True}
            if meta.status in (InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE):
                changes["status"] = InstanceStatus.RUNNING
            elif self._cap is not None and meta.status != InstanceStatus.WAITING:
                # queued or paused (no slot): it takes its turn for a slot, then rolls back
                changes["status"] = InstanceStatus.QUEUED
                self._queue(changes, queued=True)
            else:  # waiting, or queued or paused without a cap: a worker must come
                changes["status"] = (
                    InstanceStatus.WAITING if meta.status == InstanceStatus.PAUSED else meta.status
                )
                changes["due_at"] = now_ms(services.clock)
            try:
                flagged = self._transition({meta.status}, changes, "terminate")
            except InstanceConflictError:
                continue
            if changes.get("due_at") is not None:
                self._wake(flagged)
            elif changes.get("queue") is not None:
                self._refill()
            return True
        raise InstanceConflictError(f"instance {self.id!r} kept changing status; try again")

    def restart(self, from_step: str | None = None, *, type: str = "do") -> None:
        """Run again from the start, or from the first occurrence of step `from_step`.

        `from_step` names a `step.do` unless `type` says `sleep`, `wait_for_event` or
        `wait_for_workflow` (Cloudflare's default is `do`). Steps that completed before it
        keep their results; the rest of the journal is discarded, with the events those
        steps consumed (their `event_id`s may be sent again).
        """
        kind = RESTART_POINTS.get(type)
        if kind is None:
            raise ValidationError(f"restart: type must be one of {sorted(RESTART_POINTS)}")
        if from_step is None and kind != StepKind.DO:
            raise ValidationError(
                f"restart: type={type!r} names the kind of the from_step step; give from_step"
            )
        if from_step is not None:
            check_step_name(from_step)
        snapshot = self._journal.load(self._binding.name, self.id)
        if snapshot is None:
            raise self._not_found()
        records = list(snapshot.steps.values())
        cut = None
        if from_step is not None:
            firsts = sorted(
                (r for r in records if r.name == from_step and r.kind == kind),
                key=lambda r: r.occurrence,
            )
            if not firsts or firsts[0].done is None:
                other = sorted({str(r.kind) for r in records if r.name == from_step} - {type})
                hint = (
                    f"; a {other[0]} step has that name: pass type={other[0]!r} "
                    f"(lwf: --type {other[0]})"
                    if other
                    else ""
                )
                raise ValidationError(
                    f"restart: no completed {type} step named {from_step!r}{hint}"
                )
            cut = firsts[0].done
        kept = [r for r in records if cut is not None and r.done is not None and r.done < cut]
        dropped = [r for r in records if r not in kept]
        consumed = {r.event_seq for r in dropped if r.event_seq is not None}
        meta = snapshot.meta
        generation = meta.generation + 1
        # The journal first, then the meta: a crash in between leaves the old generation
        # in place with its restart point, so the client's retry redoes the restart; the
        # kept copies already written belong to the new generation and stay.
        self._journal.replace_steps(
            self._binding.name,
            self.id,
            keep=[dataclasses.replace(r, generation=generation, version=1) for r in kept],
            delete_steps=[r.key for r in dropped if r.done is None or r.done != cut],
            delete_events=[e for e in snapshot.events if e.seq in consumed],
        )
        try:
            restarted = self._restarted(meta.status, generation)
        except InstanceNotFoundError:
            self._discard_leftovers()  # deleted while we restarted: drop the kept copies
            raise
        self._wake(restarted)

    def _restarted(self, status: InstanceStatus, generation: int) -> InstanceMeta:
        changes: dict[str, Any] = {
            "status": InstanceStatus.QUEUED,
            "generation": generation,
            "output": None,
            "output_ref": None,
            "error": None,
            "lease_owner": None,
            "lease_until": None,
            "due_at": now_ms(self._binding.services.clock),
            "started_at": None,
            "finished_at": None,
        }
        # a capped instance gives its slot back and queues again: its wake-up's admission
        # hands the slot to the oldest queued instance, most often itself (created first)
        slot = self._queue(changes, queued=True)
        return self._transition({status}, changes, "restart", slot)

    def _discard_leftovers(self) -> None:
        """Remove what is left of an instance whose meta item is gone."""
        services = self._binding.services
        try:
            services.journal.delete_instance(self._binding.name, self.id)
        except MetaConditionFailedError as exc:
            if exc.current is not None:  # re-created meanwhile: it is not ours to clean
                return
        services.payloads.discard(self._binding.name, self.id)

    def delete(self) -> None:
        """Delete a finished instance with its journal, events and stored values.

        `InstanceConflictError` while it can still run (terminate it first).
        """
        try:
            purge_instance(self._binding.services, self._binding.name, self.id)
        except MetaConditionFailedError as exc:
            if exc.current is None:
                raise self._not_found() from None
            raise InstanceConflictError(
                f"cannot delete instance {self.id!r}: it is {exc.current.status}; only "
                "complete, errored or terminated instances can be deleted (terminate it first)"
            ) from None

    def send_event(self, type: str, payload: Any = None, *, event_id: str | None = None) -> None:
        """Deliver an event; a wait of that type consumes it, now or later (FIFO per type).

        `payload` is JSON (a pydantic model is dumped). `event_id` is an idempotency key:
        sending the same type and payload under it again is a no-op (it re-sends the
        wake-up); another type or payload under a used `event_id` is an
        `InstanceConflictError`. Nothing is uploaded for a re-send.
        """
        check_event_type(type)
        if event_id is not None:
            check_instance_id(event_id)
        value = to_json_value(payload, "the event payload")
        services = self._binding.services
        if event_id is not None:
            sent = services.journal.find_event(self._binding.name, self.id, event_id)
            if sent is not None:  # a re-send: checked before a large payload is uploaded
                meta = self._meta()
                if meta.status not in OPEN:
                    raise self._closed(meta.status)
                self._check_same_event(sent, type, value)
                if meta.status == InstanceStatus.WAITING:
                    self._wake(meta)  # the first try may have stopped before its wake-up
                return
        try:
            event = deliver_event(services, self._binding.name, self.id, type, value, event_id)
        except MetaConditionFailedError as exc:
            if exc.current is None:
                raise self._not_found() from None
            raise self._closed(exc.current.status) from None
        if event_id is not None:  # another send under this id may have won the race
            self._check_same_event(event, type, value)

    def _closed(self, status: InstanceStatus) -> InstanceConflictError:
        return InstanceConflictError(f"instance {self.id!r} is {status}: it takes no more events")

    def _check_same_event(self, sent: EventRecord, type: str, value: Any) -> None:
        """`InstanceConflictError` unless `sent` has this type and payload (as JSON)."""
        payloads = self._binding.services.payloads
        same = sent.type == type
        if same:
            packed = payloads.prepare(
                value, owner=f"{self.workflow}/{self.id}/events", inline_limit=STEP_INLINE_BYTES
            )
            same = (sent.payload_ref is not None and sent.payload_ref == packed.ref) or (
                (sent.payload_ref is None) == (packed.ref is None)
                and canonical(payloads.unpack(sent.payload, sent.payload_ref))
                == canonical(packed.value)
            )
        if not same:
            raise InstanceConflictError(
                f"event_id {sent.event_id!r} already names another event of instance "
                f"{self.id!r} (another type or payload); give this event a new event_id"
            )

    def _wake(self, meta: InstanceMeta) -> None:
        wakeup = Wakeup(self._binding.name, self.id, meta.generation, meta.epoch)
        self._binding.services.wakeups.send_now([wakeup])


def _batch_entry(index: int, request: CreateRequest | Mapping[str, Any]) -> CreateRequest:
    """One `create_batch` entry: a `CreateRequest`, or a mapping of `id` and `params`."""
    if isinstance(request, CreateRequest):
        return request
    if not isinstance(request, Mapping):
        raise ValidationError(
            f"entry {index}: expected {{'id': ..., 'params': ...}}, got {type(request).__name__}"
        )
    unknown = sorted(set(request) - {"id", "params"})
    if unknown:
        raise ValidationError(f"entry {index}: unknown keys {unknown}; an entry has id and params")
    return CreateRequest(**request)


@dataclass(frozen=True)
class _NewInstance:
    """An instance `create` is about to write, with its params ready to store."""

    meta: InstanceMeta
    params: Packed


@dataclass(frozen=True)
class Created:
    """What `create_or_retry` did: `created` is False for an idempotent retry."""

    instance: Instance
    created: bool


class WorkflowBinding:
    """Creates and finds instances of one workflow (`self.env.MY_WORKFLOW`)."""

    def __init__(self, workflow: Workflow, services: Services) -> None:
        self.workflow = workflow
        self.services = services

    @property
    def name(self) -> str:
        return self.workflow.name

    def _new_meta(self, instance_id: str | None, params: Any) -> _NewInstance:
        """A validated instance to write; large params are prepared, not stored yet."""
        chosen = check_instance_id(instance_id) if instance_id is not None else uuid.uuid4().hex
        now = now_ms(self.services.clock)
        if self.workflow.params_model is not None:
            check_client_value(params, "params")  # before pydantic walks it; else to_json_value
        value = to_json_value(self.workflow.validate_params(params), "params")
        packed = self.services.payloads.prepare(
            value, owner=f"{self.name}/{chosen}/params", inline_limit=PARAMS_INLINE_BYTES
        )
        capped = self.workflow.concurrency is not None
        meta = InstanceMeta(
            workflow=self.name,
            instance_id=chosen,
            status=InstanceStatus.QUEUED,
            params=packed.inline,
            params_ref=packed.ref,
            created_at=now,
            due_at=None if capped else now,  # capped: its admission sets it
            queue=self.name if capped else None,
        )
        return _NewInstance(meta, packed)

    def create(self, id: str | None = None, params: Any = None) -> Instance:
        """Create and start an instance. Same id + same params while `queued`: a retry."""
        return self.create_or_retry(id, params).instance

    def create_or_retry(self, id: str | None = None, params: Any = None) -> Created:
        """`create`, telling a new instance (`created`) from an idempotent retry."""
        new = self._new_meta(id, params)
        meta = new.meta
        if id is not None and new.params.ref is not None:
            # Large params go to S3: find a conflict before uploading them (a versioned
            # bucket keeps a deleted object's versions), and a retry has them stored.
            found = self.services.journal.get_meta(self.name, meta.instance_id)
            if found is not None:
                self._retry_create(new, found)
                self.services.wakeups.send_now([Wakeup(self.name, meta.instance_id, 0)])
                return Created(Instance(self, meta.instance_id), False)
        self.services.payloads.store(new.params)
        created = True
        try:
            self.services.journal.create_instances([meta])
        except InstanceExistsError:
            existing = self._forget_params([new])
            self._retry_create(new, existing[0])
            created = False
        self.services.wakeups.send_now([Wakeup(self.name, meta.instance_id, 0)])
        return Created(Instance(self, meta.instance_id), created)

    def _forget_params(self, rejected: list[_NewInstance]) -> list[InstanceMeta | None]:
        """After a create that wrote nothing: delete the params it stored that no existing
        instance refers to (the same params of the same id share a key); return what
        exists under each id."""
        existing = [self.services.journal.get_meta(self.name, n.meta.instance_id) for n in rejected]
        for new, meta in zip(rejected, existing, strict=True):
            ref = new.params.ref
            if ref is not None and (meta is None or meta.params_ref != ref):
                self.services.payloads.forget(ref)
        return existing

    def _retry_create(self, new: _NewInstance, existing: InstanceMeta | None) -> None:
        payloads = self.services.payloads
        if (
            existing is None
            or existing.status != InstanceStatus.QUEUED
            or existing.generation != 0
            or canonical(payloads.unpack(existing.params, existing.params_ref))
            != canonical(new.params.value)
        ):
            raise InstanceConflictError(
                f"instance {new.meta.instance_id!r} of {self.name!r} exists already"
            ) from None

    def create_batch(self, requests: Iterable[CreateRequest | Mapping[str, Any]]) -> list[Instance]:
        """Create up to 100 instances; nothing is written unless all validate and are new.

        Errors name the entry (`entry 1: ...`; field errors carry its `index`)."""
        entries = [_batch_entry(index, r) for index, r in enumerate(requests)]
        if not entries:
            raise ValidationError("create_batch needs at least one instance")
        if len(entries) > MAX_BATCH:
            raise ValidationError(f"create_batch takes at most {MAX_BATCH} instances")
        news = self._batch_entries(entries)
        first: dict[str, int] = {}
        for index, new in enumerate(news):
            earlier = first.setdefault(new.meta.instance_id, index)
            if earlier != index:
                raise ValidationError(
                    f"create_batch: entries {earlier} and {index} have the same id "
                    f"{new.meta.instance_id!r} (an id twice)"
                )
        if any(n.params.ref is not None for n in news):  # find conflicts before uploading
            taken = [
                n.meta.instance_id
                for n in news
                if self.services.journal.get_meta(self.name, n.meta.instance_id) is not None
            ]
            if taken:
                raise InstanceConflictError(f"instances exist already: {taken}")
        for new in news:
            self.services.payloads.store(new.params)
        try:
            self.services.journal.create_instances([n.meta for n in news])
        except InstanceExistsError as exc:
            self._forget_params(news)
            raise InstanceConflictError(f"instances exist already: {exc.ids}") from None
        self.services.wakeups.send_now([Wakeup(self.name, n.meta.instance_id, 0) for n in news])
        return [Instance(self, n.meta.instance_id) for n in news]

    def _batch_entries(self, entries: list[CreateRequest]) -> list[_NewInstance]:
        """Every entry validated; a `ValidationError` names each bad one (`entry 0: ...;
        entry 3: ...`) and its field errors carry their `index` (all entries, not only
        the first bad one, so a client fixes them in one round trip)."""
        news: list[_NewInstance] = []
        failures: list[tuple[int, ValidationError]] = []
        for index, entry in enumerate(entries):
            try:
                news.append(self._new_meta(entry.id, entry.params))
            except ValidationError as exc:
                failures.append((index, exc))
        if not failures:
            return news
        details = [
            {**d, "index": index}
            for index, exc in failures
            for d in (exc.details or [{"msg": str(exc), "type": exc.code}])
        ]
        message = "; ".join(f"entry {index}: {exc}" for index, exc in failures[:5])
        if len(failures) > 5:
            message += f"; and {len(failures) - 5} more entries"
        kind = type(failures[0][1]) if len({type(e) for _, e in failures}) == 1 else ValidationError
        raise kind(message, details=details)

    def list(
        self, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> InstanceList:
        """Instances newest first, optionally of one status; at most `limit` (1..100) per
        page; pass the returned `cursor` for the next page."""
        wanted = parse_status(status) if status is not None else None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be an integer from 1 to {MAX_PAGE}")
        page = self.services.journal.list_instances(self.name, wanted, limit, cursor)
        return InstanceList(tuple(InstanceSummary.of(m) for m in page.instances), page.cursor)

    def counts(self) -> dict[str, int]:
        """How many instances are in each status (every status, zeros included)."""
        found = self.services.journal.count_instances(self.name)
        return {str(status): found.get(status, 0) for status in InstanceStatus}

    def get(self, id: str) -> Instance:
        """A handle on an existing instance, or `InstanceNotFoundError`."""
        check_instance_id(id)
        if self.services.journal.get_meta(self.name, id) is None:
            raise InstanceNotFoundError(f"no instance {id!r} of {self.name!r}")
        return Instance(self, id)
