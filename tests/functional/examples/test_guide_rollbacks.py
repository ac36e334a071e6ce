"""The rollback example of docs/guide.md, verbatim (tests/unit/test_docs.py checks it)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from lambda_workflows import (
    NonRetryableError,
    RollbackContext,
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
)
from pydantic import BaseModel


class TransferParams(BaseModel):
    source: str
    target: str
    cents: int


class FakeBank:
    """Records every call; `credit` to an account named "closed" fails for good."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def debit(self, account: str, cents: int) -> str:
        self.calls.append(f"debit {account} {cents}")
        return f"d{next(self._ids)}"

    def credit(self, account: str, cents: int) -> str:
        if account == "closed":
            raise NonRetryableError(f"account {account} is closed")
        self.calls.append(f"credit {account} {cents}")
        return f"c{next(self._ids)}"

    def refund(self, debit_id: str) -> None:
        self.calls.append(f"refund {debit_id}")

    def debit_back(self, credit_id: str, reason: str) -> None:
        self.calls.append(f"debit back {credit_id} ({reason or 'terminated'})")

    def notify(self, source: str, target: str) -> None:
        self.calls.append(f"notify {source} {target}")


class Transfer(WorkflowEntrypoint[TransferParams]):
    async def run(self, event: WorkflowEvent[TransferParams], step: WorkflowStep) -> Any:
        order = event.payload
        debit_id = await step.do(
            "debit source",
            lambda: self.env.BANK.debit(order.source, order.cents),
            rollback=self.env.BANK.refund,
            rollback_config={"retries": {"limit": 10, "delay": "1 minute"}},
        )
        await step.do(
            "credit target",
            lambda: self.env.BANK.credit(order.target, order.cents),
            rollback=self.reverse_credit,
        )
        await step.do("notify", lambda: self.env.BANK.notify(order.source, order.target))
        return {"debit": debit_id}

    def reverse_credit(self, credit_id: str, ctx: RollbackContext) -> None:
        self.env.BANK.debit_back(credit_id, reason=ctx.error.message if ctx.error else "")


@pytest.fixture
def bank(make_env: Any) -> Any:
    bank = FakeBank()
    app = WorkflowApp([Workflow("transfer", Transfer)], bindings={"BANK": bank})
    return bank, make_env(app)


def test_a_failed_credit_refunds_the_debit(bank: Any) -> None:
    calls, env = bank[0].calls, bank[1]
    env.binding("transfer").create(id="t", params={"source": "a", "target": "closed", "cents": 5})
    status = env.wait_for_status("transfer", "t", "errored")
    assert calls == ["debit a 5", "refund d1"]
    assert [(s.type, s.name) for s in status.steps][-1] == ("rollback", "debit source")


def test_a_failed_notification_undoes_the_credit_then_the_debit(bank: Any) -> None:
    calls, env = bank[0].calls, bank[1]
    with env.introspect("transfer", "t") as i:
        i.mock_step_error("notify", NonRetryableError("mail is down"))
        instance = env.binding("transfer").create(
            id="t", params={"source": "a", "target": "b", "cents": 5}
        )
        i.wait_for_status("errored")
    reason = "step 'notify' failed: NonRetryableError: mail is down"
    assert calls == ["debit a 5", "credit b 5", f"debit back c2 ({reason})", "refund d1"]
    assert instance.status().error.message == reason
