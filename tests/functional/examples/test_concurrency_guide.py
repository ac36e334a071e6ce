"""The example of docs/guide.md's "Concurrency limits", verbatim (tests/unit/test_docs.py
checks it)."""
# mypy: allow-untyped-defs, allow-untyped-calls, disable-error-code="type-arg"

from lambda_workflows import Workflow, WorkflowApp, WorkflowEntrypoint
from lambda_workflows.testing import WorkflowTestEnv


class Export(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.do("call the partner API", lambda: {"rows": 100})
        await step.sleep("let it settle", "1 hour")  # a sleeping instance keeps its slot
        return "exported"


app = WorkflowApp([Workflow("export", Export, concurrency=2)])


def test_at_most_two_exports_at_once():
    with WorkflowTestEnv(app) as env:
        exports = env.binding("export")
        exports.create_batch([{"id": f"export-{n}"} for n in range(3)])
        env.run_until_idle()
        statuses = [exports.get(f"export-{n}").status().status for n in range(3)]
        assert statuses == ["waiting", "waiting", "queued"]
        last = env.wait_for_status("export", "export-2", "complete")  # an hour later
        first = exports.get("export-0").status()
        assert last.started_at == first.ended_at
