"""`AI`: a Bedrock model behind one call, `run(prompt, image=...) -> text`."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Any

from lambda_workflows.bindings.base import BindingSpec, Resources
from lambda_workflows.errors import ValidationError

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})


@dataclass(frozen=True)
class Prompt:
    """One request to a model, checked."""

    text: str
    image: bytes | None
    image_format: str
    system: str | None
    max_tokens: int

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValidationError("AI.run needs a non-empty prompt")
        if self.image is not None and not self.image:
            raise ValidationError("AI.run: the image is empty")
        if self.image_format not in IMAGE_FORMATS:
            raise ValidationError(f"AI.run: image_format must be one of {sorted(IMAGE_FORMATS)}")


class Model(abc.ABC):
    """What `self.env.AI` is: `run(prompt, ...)` returns the model's text answer."""

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
        """Ask the model (optionally about an image); return its text answer."""
        return self._answer(Prompt(prompt, image, image_format, system, max_tokens))

    @abc.abstractmethod
    def _answer(self, prompt: Prompt) -> str: ...


class BedrockAI(Model):
    """The live `AI` binding on AWS: Bedrock's Converse API."""

    def __init__(self, bedrock: Any, model_id: str) -> None:
        super().__init__(model_id)
        self._bedrock = bedrock

    def _answer(self, prompt: Prompt) -> str:
        content: list[dict[str, Any]] = [{"text": prompt.text}]
        if prompt.image is not None:
            image = {"format": prompt.image_format, "source": {"bytes": prompt.image}}
            content.append({"image": image})
        kwargs: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [{"role": "user", "content": content}],
            "inferenceConfig": {"maxTokens": prompt.max_tokens},
        }
        if prompt.system:
            kwargs["system"] = [{"text": prompt.system}]
        response = self._bedrock.converse(**kwargs)
        blocks = response["output"]["message"]["content"]
        return "".join(block.get("text", "") for block in blocks)


class LocalAI(Model):
    """The `AI` binding on the local cloud, where no model runs (moto has no Bedrock
    inference): a deterministic answer that says so, derived from the inputs."""

    def _answer(self, prompt: Prompt) -> str:
        seen = ""
        if prompt.image is not None:
            seen = f", image sha256 {hashlib.sha256(prompt.image).hexdigest()[:12]}"
        return (
            f"[local {self.model_id} placeholder: no model runs locally] {prompt.text[:80]}{seen}"
        )


@dataclass(frozen=True)
class AI(BindingSpec):
    """A Bedrock model. Locally (`lwf dev`, tests) a placeholder answers instead: mock the
    step in tests (`mock_step_result`) to give it the answer you need."""

    model_id: str = DEFAULT_MODEL

    def bind(self, name: str, resources: Resources) -> BedrockAI | LocalAI:
        if resources.is_local:
            return LocalAI(self.model_id)
        return BedrockAI(resources.client("bedrock-runtime"), self.model_id)
