"""Deployment settings, read from environment variables into a typed object."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from lambda_workflows.errors import ValidationError

ENV_PREFIX = "LWF_"


class Settings(BaseModel):
    """Where the engine's AWS resources are. Each field is `LWF_<FIELD>` in the environment."""

    model_config = ConfigDict(frozen=True)

    table_name: str
    queue_url: str
    bucket_name: str
    queue_arn: str | None = None
    scheduler_role_arn: str | None = None
    schedule_group: str = "default"
    results_prefix: str = "lwf-results"
    region: str | None = None
    endpoint_url: str | None = None
    """Set only for local dev (a moto server); empty on AWS."""
    heartbeat_ms: int = 1000
    """How much step time may pass between two looks at the instance (lease renewal, pause
    requests); 0 looks at every step boundary (`LWF_HEARTBEAT_MS`)."""
    metrics_namespace: str = "LambdaWorkflows"
    """The CloudWatch namespace of the engine's metrics (`LWF_METRICS_NAMESPACE`)."""
    bindings: dict[str, str] = {}
    """Physical resource names of the app's bindings (`LWF_BINDINGS`, a JSON object)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        values: dict[str, object] = {
            name: source[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in source
        }
        try:
            if "bindings" in values:
                values["bindings"] = json.loads(str(values["bindings"]))
            return cls.model_validate(values)
        except json.JSONDecodeError:
            raise ValidationError(f"{ENV_PREFIX}BINDINGS must be a JSON object") from None
        except PydanticValidationError as exc:
            missing = [ENV_PREFIX + str(e["loc"][0]).upper() for e in exc.errors()]
            raise ValidationError(f"missing or invalid settings: {', '.join(missing)}") from None

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings."""
        return {
            ENV_PREFIX + name.upper(): json.dumps(value) if isinstance(value, dict) else str(value)
            for name, value in self.model_dump().items()
            if value is not None
        }


def heartbeat_ms(default: int, environ: Mapping[str, str] | None = None) -> int:
    """`LWF_HEARTBEAT_MS` from the environment, or `default` when it is not set."""
    source = os.environ if environ is None else environ
    raw = source.get(f"{ENV_PREFIX}HEARTBEAT_MS")
    if raw is None:
        return default
    if not raw.isdigit():
        raise ValidationError(f"{ENV_PREFIX}HEARTBEAT_MS must be a whole number of ms: {raw!r}")
    return int(raw)
