from __future__ import annotations

from datetime import timedelta

import pytest
from lambda_workflows import RetryPolicy, StepConfig, ValidationError, parse_duration
from lambda_workflows.config import step_config


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1500, timedelta(milliseconds=1500)),
        (timedelta(hours=2), timedelta(hours=2)),
        ("1 second", timedelta(seconds=1)),
        ("10 seconds", timedelta(seconds=10)),
        ("5 minutes", timedelta(minutes=5)),
        ("24 hours", timedelta(hours=24)),
        ("7 days", timedelta(days=7)),
        ("2 weeks", timedelta(weeks=2)),
        ("1 month", timedelta(days=30)),
        ("1 year", timedelta(days=365)),
        ("1.5 hours", timedelta(minutes=90)),
    ],
)
def test_durations(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["10", "ten seconds", "5 fortnights", "24h", "-1 second", True, None, -5]
)
def test_bad_durations_raise_clearly(value: object) -> None:
    with pytest.raises(ValidationError):
        parse_duration(value)  # type: ignore[arg-type]


def test_defaults_are_cloudflares() -> None:
    config = StepConfig()
    assert config.retries.limit == 5
    assert config.retries.backoff == "exponential"
    assert config.retries.delay_after(1) == timedelta(seconds=10)
    assert config.timeout == timedelta(minutes=10)
    assert config.retries.max_attempts == 6


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [("constant", [5, 5, 5]), ("linear", [5, 10, 15]), ("exponential", [5, 10, 20])],
)
def test_backoff(backoff: str, delays: list[int]) -> None:
    policy = RetryPolicy(limit=3, delay="5 seconds", backoff=backoff)  # type: ignore[arg-type]
    assert [policy.delay_after(n).total_seconds() for n in (1, 2, 3)] == delays


def test_dynamic_delay() -> None:
    policy = RetryPolicy(delay=lambda attempt: f"{attempt * 3} seconds")
    assert policy.delay_after(2) == timedelta(seconds=6)


def test_partial_config_inherits_the_rest() -> None:
    config = step_config({"limit": 1}, None)
    assert config.retries.limit == 1
    assert config.retries.delay_after(1) == timedelta(seconds=10)
    assert config.timeout == timedelta(minutes=10)
    merged = step_config(None, "30 seconds", {"retries": {"backoff": "constant"}})
    assert merged.retries.backoff == "constant"
    assert merged.timeout == timedelta(seconds=30)
    assert merged.describe()["timeout"] == "0:00:30"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"retries": {"limit": -1}},
        {"retries": {"limit": 1.5}},
        {"retries": {"backoff": "random"}},
        {"retries": {"delay": "soon"}},
        {"retries": {"tries": 3}},
        {"retries": [1]},
        {"timeout": "0 seconds"},
        {"timeout": "forever"},
        {"config": {"retry": {}}},
    ],
)
def test_bad_configs_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        step_config(**kwargs)  # type: ignore[arg-type]
