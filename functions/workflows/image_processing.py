"""Image processing: read the image from the bucket, describe it with AI, wait 24 h for a
human's approval, then publish it (or reject it)."""

from __future__ import annotations

from typing import Any

from lambda_workflows import (
    NonRetryableError,
    WaitTimeoutError,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
)
from pydantic import BaseModel

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


class ImageParams(BaseModel):
    image_key: str


class ImageProcessingWorkflow(WorkflowEntrypoint[ImageParams]):
    async def run(self, event: WorkflowEvent[ImageParams], step: WorkflowStep) -> Any:
        key = event.payload.image_key
        bucket = self.env.BUCKET

        def fetch_metadata() -> dict[str, Any]:
            head = bucket.head(key)
            if head is None:
                raise NonRetryableError(f"no image at {key!r}")
            return {"key": key, "size": head.size, "content_type": head.content_type}

        meta = await step.do("fetch image metadata", fetch_metadata)

        def describe() -> str:
            image = bucket.get(key)
            if image is None:
                raise NonRetryableError(f"{key!r} disappeared")
            image_format = IMAGE_FORMATS.get(meta["content_type"] or "", "png")
            prompt = "Describe this image in one sentence."
            return str(self.env.AI.run(prompt, image=image.body, image_format=image_format))

        description = await step.do(
            "describe image",
            describe,
            retries={"limit": 3, "delay": "5 seconds"},
            timeout="2 minutes",
        )
        try:
            approval = await step.wait_for_event(
                "await approval", type="approval", timeout="24 hours"
            )
            approved = bool((approval["payload"] or {}).get("approved"))
            reason = "approved" if approved else "rejected by reviewer"
        except WaitTimeoutError:
            approved, reason = False, "no approval within 24 hours"

        if approved:

            def publish() -> str:
                image = bucket.get(key)
                if image is None:
                    raise NonRetryableError(f"{key!r} disappeared")
                target = f"public/{key}"
                bucket.put(target, image.body, content_type=meta["content_type"])
                return target

            published = await step.do("publish", publish)
            return {"image_key": key, "description": description, "published": published}

        def reject() -> str:
            record = f"rejected/{key}.json"
            bucket.put(record, {"image_key": key, "reason": reason, "description": description})
            return record

        await step.do("reject", reject)
        return {"image_key": key, "description": description, "published": None, "reason": reason}
