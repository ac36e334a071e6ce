"""Deleting a finished instance whole: `DELETE .../instances/{id}` and the sweeper's
expiry both go through here."""

from __future__ import annotations

from lambda_workflows.errors import MetaConditionFailedError
from lambda_workflows.journal.records import FINISHED, InstanceMeta
from lambda_workflows.services import Services


def purge_instance(
    services: Services, workflow: str, instance_id: str, meta: InstanceMeta | None = None
) -> None:
    """Delete a finished instance: its stored values first, then its journal with the meta
    item last, so an interruption leaves it finished, listed and due, and a repeat (the
    sweeper's next pass, or the client's retry) finishes the job.

    `MetaConditionFailedError(current)` when it is not finished (nothing is deleted);
    `MetaConditionFailedError(None)` when it does not exist (leftovers are removed).
    `meta`: the instance's meta item when the caller has just read it (not read again).
    """
    journal = services.journal
    if meta is None:
        meta = journal.get_meta(workflow, instance_id)
    if meta is not None and meta.status not in FINISHED:
        raise MetaConditionFailedError(meta)
    services.payloads.discard(workflow, instance_id)
    journal.delete_instance(workflow, instance_id)
