"""The journal port (`Journal`), its records and its in-memory implementation.

The DynamoDB implementation is `lambda_workflows.aws.dynamodb.DynamoDBJournal`.
"""

from lambda_workflows.journal.base import (
    MAX_ITEM_BYTES,
    InstancePage,
    Journal,
    MetaCondition,
    NewEvent,
    SlotChange,
    SlotRelease,
    SlotTake,
)
from lambda_workflows.journal.memory import MemoryJournal
from lambda_workflows.journal.records import (
    FINISHED,
    OPEN,
    RUNNABLE,
    Attempt,
    ErrorInfo,
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
    "MAX_ITEM_BYTES",
    "OPEN",
    "RUNNABLE",
    "Attempt",
    "ErrorInfo",
    "EventRecord",
    "InstanceMeta",
    "InstancePage",
    "InstanceStatus",
    "Journal",
    "MemoryJournal",
    "MetaCondition",
    "NewEvent",
    "SlotChange",
    "SlotRelease",
    "SlotTake",
    "Snapshot",
    "StepKind",
    "StepRecord",
    "StepStatus",
]
