"""What `lwf dev --seed-demo` starts for the example app: one instance of each example
that can finish on its own (the tour's first look). `lwf dev` calls `seed_demo(engine)`
of the app's module; a user's own app can define one too."""

from __future__ import annotations

from typing import Any

from lambda_workflows.engine import Engine

DEMO_IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(56)
DEMO_RECORDS = [{"id": n, "name": f"demo record {n}", "value": n} for n in range(250)]


def seed_demo(engine: Engine) -> list[tuple[str, str]]:
    """One instance of each example that can finish on its own (the tour's first look).

    What they need is put in place first (an image and records in the bucket), and the
    events a human would send are sent. `user-lifecycle` (a 7-day trial) and
    `daily-report` (started by its cron at midnight UTC) are left out.
    """
    names = set(engine.app.names)
    env = engine.env
    created: list[tuple[str, str]] = []

    def start(workflow: str, params: Any = None, event: tuple[str, Any] | None = None) -> None:
        if workflow not in names:
            return
        instance = engine.binding(workflow).create(id=f"demo-{workflow}", params=params)
        if event is not None:
            instance.send_event(*event)
        created.append((workflow, instance.id))

    if "BUCKET" in env:
        env.BUCKET.put("demo/cat.png", DEMO_IMAGE, content_type="image/png")
        env.BUCKET.put("demo/records.json", DEMO_RECORDS)
        start("image-processing", {"image_key": "demo/cat.png"}, ("approval", {"approved": True}))
        start("data-pipeline", {"source": "demo/records.json"})
    start("approval", {"user_id": "demo-user"}, ("approval-response", {"approved": True}))
    start("fan-out")
    start("parent-child")
    start("race", event=("override", {"supplier": "demo", "price": 1}))
    return created
