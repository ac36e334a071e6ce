"""Persistence of instances, step records and events."""

from lambda_workflows.journal.base import (
    ConditionFailedError,
    InstanceExistsError,
    InstancePage,
    Journal,
    MetaCondition,
)
from lambda_workflows.journal.memory import MemoryJournal
from lambda_workflows.journal.records import (
    FINISHED,
    RUNNABLE,
    EventRecord,
    InstanceMeta,
    InstanceStatus,
    Snapshot,
    StepKind,
    StepRecord,
    StepStatus,
)

__all__ = [
    "FINISHED",
    "RUNNABLE",
    "ConditionFailedError",
    "EventRecord",
    "InstanceExistsError",
    "InstanceMeta",
    "InstancePage",
    "InstanceStatus",
    "Journal",
    "MemoryJournal",
    "MetaCondition",
    "Snapshot",
    "StepKind",
    "StepRecord",
    "StepStatus",
]
