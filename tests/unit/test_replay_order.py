"""The executor on the in-memory journal: replay order, positions, exactly-once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint

from tests.unit.memory_engine import MemoryEngine

runs: Counter[str] = Counter()


def _run(name: str) -> str:
    runs[name] += 1
    return name


class Race(WorkflowEntrypoint[Any]):
    """Branch a needs two steps, branch b one: b usually wins on the first run (the steps
    run on threads, so a loaded machine may let a win), and whoever won must on replay."""

    async def run(self, event: Any, step: Any) -> Any:
        async def branch_a() -> str:
            await step.do("a1", lambda: _run("a1"))
            return str(await step.do("a2", lambda: _run("a2")))

        task_a = asyncio.ensure_future(branch_a())
        task_b = asyncio.ensure_future(step.do("b", lambda: _run("b")))
        done, _ = await asyncio.wait({task_a, task_b}, return_when=asyncio.FIRST_COMPLETED)
        first = "a" if task_a in done else "b"
        await task_a
        await step.sleep("replay me", "1 minute")
        # A step named after the winner: a replay that saw another winner fails loudly.
        return await step.do(f"winner {first}", lambda: first)


APP = WorkflowApp([Workflow("race", Race)])


def test_replay_hands_results_back_in_their_original_completion_order() -> None:
    runs.clear()
    memory = MemoryEngine(APP)
    instance = memory.engine.binding("race").create(id="o")
    memory.run()
    status = instance.status().to_dict()
    assert status["status"] == "complete", status
    winner = status["output"]
    assert winner in {"a", "b"}
    assert dict(runs) == {"a1": 1, "a2": 1, "b": 1}
    positions = {s["name"]: s["position"] for s in status["steps"]}
    assert positions == {
        "a1": "0.0:0",
        "a2": "0.0:1",
        "b": "0.1:0",
        "replay me": "0:0",
        f"winner {winner}": "0:1",
    }
