"""Example 1, image processing: bucket read, AI step, approval wait, publish or reject."""

from __future__ import annotations

from datetime import datetime, timedelta

from lambda_workflows import NonRetryableError
from lambda_workflows.testing import WorkflowTestEnv

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _upload(workflows: WorkflowTestEnv, key: str = "images/cat.png") -> None:
    workflows.env.BUCKET.put(key, PNG, content_type="image/png")


def test_approved_image_is_published(workflows: WorkflowTestEnv) -> None:
    _upload(workflows)
    with workflows.introspect("image-processing", "img-1") as i:
        i.mock_step_result("describe image", "A cat asleep on a sofa.")
        i.mock_event("approval", {"approved": True})
        workflows.binding("image-processing").create(
            id="img-1", params={"image_key": "images/cat.png"}
        )
        assert i.wait_for_step_result("fetch image metadata") == {
            "key": "images/cat.png",
            "size": len(PNG),
            "content_type": "image/png",
        }
        assert i.wait_for_status("complete").output == {
            "image_key": "images/cat.png",
            "description": "A cat asleep on a sofa.",
            "published": "public/images/cat.png",
        }
        assert [s["name"] for s in i.steps()] == [
            "fetch image metadata",
            "describe image",
            "await approval",
            "publish",
        ]
    published = workflows.env.BUCKET.get("public/images/cat.png")
    assert published is not None
    assert published.body == PNG
    assert published.content_type == "image/png"


def test_no_approval_within_24_hours_rejects_the_image(workflows: WorkflowTestEnv) -> None:
    _upload(workflows)
    start = workflows.now()
    with workflows.introspect("image-processing", "img-2") as i:
        i.mock_step_result("describe image", "A dog.")
        i.force_event_timeout("await approval")
        workflows.binding("image-processing").create(
            id="img-2", params={"image_key": "images/cat.png"}
        )
        output = i.wait_for_status("complete").output
    assert output["published"] is None
    assert output["reason"] == "no approval within 24 hours"
    assert workflows.now() == start
    rejected = workflows.env.BUCKET.get("rejected/images/cat.png.json")
    assert rejected is not None
    assert rejected.json()["reason"] == "no approval within 24 hours"
    assert workflows.env.BUCKET.head("public/images/cat.png") is None


def test_the_real_24_hour_timeout_and_a_reviewers_rejection(workflows: WorkflowTestEnv) -> None:
    _upload(workflows)
    start = workflows.now()
    images = workflows.binding("image-processing")
    late = images.create(id="late", params={"image_key": "images/cat.png"})
    status = workflows.wait_for_status("image-processing", "late", "complete").to_dict()
    assert status["output"]["reason"] == "no approval within 24 hours"
    assert workflows.now() - start >= timedelta(hours=24)
    assert status["output"]["description"].startswith("[local ")  # no model runs locally
    assert late.status().to_dict()["steps"][2]["status"] == "timedOut"

    with workflows.introspect("image-processing", "no") as i:
        i.mock_event("approval", {"approved": False})
        images.create(id="no", params={"image_key": "images/cat.png"})
        assert i.wait_for_status("complete").output["reason"] == "rejected by reviewer"


def test_a_flaky_model_is_retried_at_its_own_delays(workflows: WorkflowTestEnv) -> None:
    _upload(workflows)
    start = workflows.now()
    with workflows.introspect("image-processing", "img-3") as i:
        i.mock_step_error("describe image", TimeoutError("model busy"), times=2)
        i.mock_step_result("describe image", "A cat.")
        i.disable_sleeps()
        workflows.binding("image-processing").create(
            id="img-3", params={"image_key": "images/cat.png"}
        )
        assert i.wait_for_step_result("describe image") == "A cat."
        describe = i.steps()[1]
    offsets = [
        (datetime.fromisoformat(a["started_at"]) - start).total_seconds()
        for a in describe["attempt_log"]
    ]
    assert offsets == [0, 5, 15]  # delay 5 s, exponential


def test_a_missing_image_errors_at_once(workflows: WorkflowTestEnv) -> None:
    with workflows.introspect("image-processing", "img-4") as i:
        workflows.binding("image-processing").create(
            id="img-4", params={"image_key": "images/none.png"}
        )
        status = i.wait_for_status("errored").to_dict()
        assert i.error() == status["error"]
    assert status["error"]["name"] == "StepError"
    assert "no image at 'images/none.png'" in status["error"]["message"]
    assert status["steps"][0]["attempts"] == 1
    assert NonRetryableError.__name__ in status["error"]["message"]
