"""The example of docs/guide.md, "Versioning", verbatim (tests/unit/test_docs.py checks
it): orders asleep under version 1 when version 2 ships, checked with replay-check first."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from lambda_workflows import (
    Workflow,
    WorkflowApp,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
)
from lambda_workflows.runtime.replay_check import check_journal
from lambda_workflows.testing import WorkflowTestEnv
from pydantic import BaseModel

from tests.functional.helpers import Calls

calls = Calls()


class Order(BaseModel):
    order_id: str


def reserve(order: Order) -> str:
    return f"reserved {order.order_id} ({calls.hit('reserve')})"


def check_fraud(order: Order) -> str:
    return f"cleared {order.order_id} ({calls.hit('fraud')})"


def charge(order: Order) -> str:
    return f"charged {order.order_id} ({calls.hit('charge')})"


def ask_for_review(order: Order) -> str:
    calls.hit("review")
    return f"delivered {order.order_id}"


class CheckoutV1(WorkflowEntrypoint[Order]):
    async def run(self, event: WorkflowEvent[Order], step: WorkflowStep) -> str:
        order = event.payload
        await step.do("reserve stock", lambda: reserve(order))
        await step.sleep("wait for the warehouse", "1 day")
        await step.do("charge", lambda: charge(order))
        await step.sleep("wait for delivery", "3 days")
        return await step.do("ask for a review", lambda: ask_for_review(order))


class Checkout(WorkflowEntrypoint[Order]):
    async def run(self, event: WorkflowEvent[Order], step: WorkflowStep) -> str:
        order = event.payload
        await step.do("reserve stock", lambda: reserve(order))
        await step.sleep("wait for the warehouse", "1 day")
        if step.patched("fraud-check"):  # added in version 2
            await step.do("fraud check", lambda: check_fraud(order))
        await step.do("charge", lambda: charge(order))
        await step.sleep("wait for delivery", "3 days")
        return await step.do("ask for a review", lambda: ask_for_review(order))


class CheckoutPhase2(WorkflowEntrypoint[Order]):
    async def run(self, event: WorkflowEvent[Order], step: WorkflowStep) -> str:
        order = event.payload
        await step.do("reserve stock", lambda: reserve(order))
        await step.sleep("wait for the warehouse", "1 day")
        step.deprecate_patch("fraud-check")  # phase 2: every instance takes the new path
        await step.do("fraud check", lambda: check_fraud(order))
        await step.do("charge", lambda: charge(order))
        await step.sleep("wait for delivery", "3 days")
        return await step.do("ask for a review", lambda: ask_for_review(order))


class Deployed(WorkflowEntrypoint[Order]):
    """The code deployed now: one version or another."""

    code: ClassVar[type[WorkflowEntrypoint[Any]]] = CheckoutV1

    async def run(self, event: WorkflowEvent[Order], step: WorkflowStep) -> Any:
        return await self.code.run(self, event, step)


APP = WorkflowApp([Workflow("checkout", Deployed)])


@pytest.fixture
def env(make_env: Any) -> WorkflowTestEnv:
    calls.reset()
    Deployed.code = CheckoutV1
    result: WorkflowTestEnv = make_env(APP)
    return result


def _asleep_in(env: WorkflowTestEnv, instance_id: str, sleep: str) -> None:
    env.binding("checkout").create(id=instance_id, params={"order_id": instance_id})

    def journaled() -> bool | None:
        steps = env.binding("checkout").get(instance_id).status().steps
        return True if any(s.name == sleep for s in steps) else None

    env.run_until(journaled, "checkout", instance_id, sleep)
    env.run_until_idle()


def _verdict(env: WorkflowTestEnv, instance_id: str) -> Any:
    return check_journal(APP, env.binding("checkout").get(instance_id).journal())


def test_version_2_ships_under_sleeping_orders(env: WorkflowTestEnv) -> None:
    _asleep_in(env, "late", "wait for delivery")
    _asleep_in(env, "early", "wait for the warehouse")
    Deployed.code = Checkout
    assert _verdict(env, "early").verdict == "ok"
    assert _verdict(env, "late").verdict == "ok"
    env.binding("checkout").create(id="new", params={"order_id": "new"})
    for order in ("early", "late", "new"):
        assert env.wait_for_status("checkout", order, "complete").output == f"delivered {order}"
    fraud_checked = {
        order
        for order in ("early", "late", "new")
        if any(s.name == "fraud check" for s in env.binding("checkout").get(order).status().steps)
    }
    assert fraud_checked == {"early", "new"}
    assert calls.count["charge"] == 3


def test_without_the_guard_the_late_order_would_break(env: WorkflowTestEnv) -> None:
    _asleep_in(env, "late", "wait for delivery")

    class Unguarded(WorkflowEntrypoint[Order]):
        async def run(self, event: WorkflowEvent[Order], step: WorkflowStep) -> str:
            order = event.payload
            await step.do("reserve stock", lambda: reserve(order))
            await step.sleep("wait for the warehouse", "1 day")
            await step.do("fraud check", lambda: check_fraud(order))
            await step.do("charge", lambda: charge(order))
            return "charged"

    Deployed.code = Unguarded
    verdict = _verdict(env, "late")
    assert verdict.verdict == "diverged"
    assert (verdict.position, str(verdict.journaled), str(verdict.called)) == (
        "0:2",
        "do 'charge'",
        "do 'fraud check'",
    )
    status = env.wait_for_status("checkout", "late", "errored")
    assert status.error is not None
    assert status.error.name == "NondeterminismError"


def test_phase_2_replays_journals_of_phase_1(env: WorkflowTestEnv) -> None:
    Deployed.code = Checkout
    _asleep_in(env, "took-the-patch", "wait for delivery")
    Deployed.code = CheckoutPhase2
    assert _verdict(env, "took-the-patch").verdict == "ok"
    output = env.wait_for_status("checkout", "took-the-patch", "complete").output
    assert output == "delivered took-the-patch"
    assert calls.count["fraud"] == 1
