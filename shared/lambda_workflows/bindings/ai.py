"""`AI`: a Bedrock model behind one call, `run(prompt, image=...) -> text`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.errors import ValidationError

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})


def _check(prompt: str, image: bytes | None, image_format: str) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("AI.run needs a non-empty prompt")
    if image is not None and not image:
        raise ValidationError("AI.run: the image is empty")
    if image_format not in IMAGE_FORMATS:
        raise ValidationError(f"AI.run: image_format must be one of {sorted(IMAGE_FORMATS)}")


class BedrockAI:
    """The live `AI` binding on AWS: Bedrock's Converse API."""

    def __init__(self, bedrock: Any, model_id: str) -> None:
        self._bedrock = bedrock
        self.model_id = model_id

    def run(
        self,
        prompt: str,
        *,
        image: bytes | None = None,
        image_format: str = "png",
        system: str | None = None,
        max_tokens: int = 512,
    ) -> str:
        """Ask the model; return its text answer."""
        _check(prompt, image, image_format)
        content: list[dict[str, Any]] = [{"text": prompt}]
        if image is not None:
            content.append({"image": {"format": image_format, "source": {"bytes": image}}})
        kwargs: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [{"role": "user", "content": content}],
            "inferenceConfig": {"maxTokens": max_tokens},
        }
        if system:
            kwargs["system"] = [{"text": system}]
        response = self._bedrock.converse(**kwargs)
        blocks = response["output"]["message"]["content"]
        return "".join(block.get("text", "") for block in blocks)


class LocalAI:
    """The `AI` binding on the local cloud, where no model runs (moto has no Bedrock
    inference): a deterministic answer that says so, derived from the inputs."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def run(
        self,
        prompt: str,
        *,
        image: bytes | None = None,
        image_format: str = "png",
        system: str | None = None,
        max_tokens: int = 512,
    ) -> str:
        """A placeholder answer naming the prompt and a digest of the image."""
        _check(prompt, image, image_format)
        seen = (
            f", image sha256 {hashlib.sha256(image).hexdigest()[:12]}" if image is not None else ""
        )
        return f"[local {self.model_id} placeholder: no model runs locally] {prompt[:80]}{seen}"


@dataclass(frozen=True)
class AI(BindingSpec):
    """A Bedrock model. Locally (`lwf dev`, tests) a placeholder answers instead: mock the
    step in tests (`mock_step_result`) to give it the answer you need."""

    model_id: str = DEFAULT_MODEL

    def bind(self, name: str, resources: Resources) -> BedrockAI | LocalAI:
        if resources.is_local:
            return LocalAI(self.model_id)
        return BedrockAI(resources.client("bedrock-runtime"), self.model_id)
