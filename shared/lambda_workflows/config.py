"""Step configuration: durations, retry policies and timeouts, with Cloudflare's defaults."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeAlias

from lambda_workflows.errors import ValidationError

Duration: TypeAlias = int | float | timedelta | str
"""Milliseconds, a `timedelta`, or `"<n> <unit>[s]"` (second|minute|hour|day|week|month|year)."""

Backoff = Literal["constant", "linear", "exponential"]
DelayFunction: TypeAlias = Callable[[int], Duration]

_UNITS: dict[str, timedelta] = {
    "millisecond": timedelta(milliseconds=1),
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
    "year": timedelta(days=365),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$")
MAX_SLEEP = timedelta(days=365)


def parse_duration(value: Duration, *, what: str = "duration") -> timedelta:
    """Turn a user duration into a `timedelta`; raise `ValidationError` on anything else."""
    if isinstance(value, bool):
        raise ValidationError(f"{what}: expected a duration, got a bool")
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float):
        result = timedelta(milliseconds=value)
    elif isinstance(value, str):
        match = _DURATION.match(value.lower())
        if not match or match.group(2) not in _UNITS:
            raise ValidationError(
                f"{what}: {value!r} is not a duration; use milliseconds, a timedelta, "
                f'or "<number> <unit>" with unit one of {", ".join(_UNITS)} (e.g. "10 seconds")'
            )
        result = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValidationError(f"{what}: expected a duration, got {type(value).__name__}")
    if result < timedelta(0):
        raise ValidationError(f"{what}: a duration cannot be negative")
    return result


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed step attempt is retried. Defaults are Cloudflare's."""

    limit: int = 5
    delay: Duration | DelayFunction = "10 seconds"
    backoff: Backoff = "exponential"

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise ValidationError(f"retries.limit must be a whole number >= 0, got {self.limit!r}")
        if self.backoff not in ("constant", "linear", "exponential"):
            raise ValidationError(
                f"retries.backoff must be constant, linear or exponential, got {self.backoff!r}"
            )
        if not callable(self.delay):
            parse_duration(self.delay, what="retries.delay")

    def delay_after(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1-based); a delay function
        that raises or returns no duration is a `ValidationError` saying so."""
        if callable(self.delay):
            try:
                dynamic: Duration = self.delay(attempt)
            except Exception as exc:
                raise ValidationError(
                    f"retries.delay({attempt}) raised {type(exc).__name__}: {exc}"
                ) from exc
            return parse_duration(dynamic, what=f"retries.delay({attempt})")
        base = parse_duration(self.delay, what="retries.delay")
        if self.backoff == "constant":
            return base
        if self.backoff == "linear":
            return base * attempt
        return base * (1 << (attempt - 1))

    @property
    def max_attempts(self) -> int:
        return self.limit + 1


@dataclass(frozen=True)
class StepConfig:
    """Retries and per-attempt timeout of one step."""

    retries: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        """Take any duration for `timeout` and a dict for `retries`, as `step.do` does."""
        object.__setattr__(self, "retries", _retry_policy(self.retries))
        timeout = parse_duration(self.timeout, what="timeout")
        if timeout <= timedelta(0):
            raise ValidationError("timeout must be positive")
        object.__setattr__(self, "timeout", timeout)

    def describe(self) -> dict[str, Any]:
        delay = self.retries.delay
        return {
            "retries": {
                "limit": self.retries.limit,
                "delay": "dynamic" if callable(delay) else str(parse_duration(delay)),
                "backoff": self.retries.backoff,
            },
            "timeout": str(self.timeout),
        }


RetriesInput: TypeAlias = RetryPolicy | Mapping[str, Any] | None


def _retry_policy(retries: RetriesInput) -> RetryPolicy:
    if retries is None:
        return RetryPolicy()
    if isinstance(retries, RetryPolicy):
        return retries
    if not isinstance(retries, Mapping):
        raise ValidationError(
            f"retries must be a dict or RetryPolicy, got {type(retries).__name__}"
        )
    unknown = set(retries) - {"limit", "delay", "backoff"}
    if unknown:
        raise ValidationError(f"retries: unknown keys {sorted(unknown)}")
    return RetryPolicy(**dict(retries))


def step_config(
    retries: RetriesInput = None,
    timeout: Duration | None = None,
    config: Mapping[str, Any] | StepConfig | None = None,
) -> StepConfig:
    """Build a StepConfig from keyword arguments and/or a Cloudflare-style `config` dict.

    A partial config inherits the rest from the defaults.
    """
    if retries is None and timeout is None and config is None:
        return DEFAULT_STEP_CONFIG
    if isinstance(config, StepConfig):
        base = config
    elif config is not None:
        unknown = set(config) - {"retries", "timeout"}
        if unknown:
            raise ValidationError(f"config: unknown keys {sorted(unknown)}")
        base = step_config(config.get("retries"), config.get("timeout"))
    else:
        base = StepConfig()
    policy = base.retries if retries is None else _retry_policy(retries)
    limit = base.timeout if timeout is None else parse_duration(timeout, what="timeout")
    if limit <= timedelta(0):
        raise ValidationError("timeout must be positive")
    return StepConfig(retries=policy, timeout=limit)


DEFAULT_STEP_CONFIG = StepConfig()
"""Cloudflare's defaults (a frozen value, shared by every step that sets nothing)."""
