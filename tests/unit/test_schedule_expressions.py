from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lambda_workflows.errors import ValidationError
from lambda_workflows.schedule_expressions import (
    ScheduleExpression,
    ScheduleExpressionError,
    parse_schedule,
)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # daily midnight, also as bare fields; strictly after
        ("cron(0 0 * * ? *)", at(2026, 3, 14, 10, 7, 30), at(2026, 3, 15)),
        ("0 0 * * ? *", at(2026, 3, 15), at(2026, 3, 16)),
        ("0 0 * * ? *", at(2026, 12, 31, 23, 59, 59), at(2027, 1, 1)),
        # every 15 minutes
        ("cron(0/15 * * * ? *)", at(2026, 3, 14, 10, 7), at(2026, 3, 14, 10, 15)),
        ("cron(0/15 * * * ? *)", at(2026, 3, 14, 10, 45), at(2026, 3, 14, 11, 0)),
        ("cron(*/15 * * * ? *)", at(2026, 3, 14, 10, 44, 59), at(2026, 3, 14, 10, 45)),
        ("cron(5/15 * * * ? *)", at(2026, 3, 14, 10, 50), at(2026, 3, 14, 11, 5)),
        ("cron(10-50/10 * * * ? *)", at(2026, 3, 14, 10, 50), at(2026, 3, 14, 11, 10)),
        ("cron(0 8-10,14 * * ? *)", at(2026, 3, 14, 10, 0), at(2026, 3, 14, 14, 0)),
        # weekdays at 9:30 (2026-03-13 is a Friday)
        ("cron(30 9 ? * MON-FRI *)", at(2026, 3, 13, 9, 30), at(2026, 3, 16, 9, 30)),
        ("cron(30 9 ? * MON-FRI *)", at(2026, 3, 14, 12, 0), at(2026, 3, 16, 9, 30)),
        ("cron(30 9 ? * MON-FRI *)", at(2026, 3, 11, 8, 0), at(2026, 3, 11, 9, 30)),
        ("cron(30 9 ? * 2-6 *)", at(2026, 3, 13, 9, 30), at(2026, 3, 16, 9, 30)),
        # last day of the month, leap and non-leap Februaries
        ("cron(0 0 L * ? *)", at(2024, 2, 1), at(2024, 2, 29)),
        ("cron(0 0 L * ? *)", at(2023, 2, 1), at(2023, 2, 28)),
        ("cron(0 0 L * ? *)", at(2000, 2, 1), at(2000, 2, 29)),
        ("cron(0 0 L * ? *)", at(2100, 2, 1), at(2100, 2, 28)),
        ("cron(0 0 L * ? *)", at(2026, 4, 30), at(2026, 5, 31)),
        ("cron(0 0 L FEB ? *)", at(2024, 3, 1), at(2025, 2, 28)),
        # nearest weekday: 2026-08-15 is a Saturday, 2026-03-15 a Sunday, 2026-04-15 a Wednesday
        ("cron(0 8 15W * ? *)", at(2026, 8, 1), at(2026, 8, 14, 8)),
        ("cron(0 8 15W * ? *)", at(2026, 3, 1), at(2026, 3, 16, 8)),
        ("cron(0 8 15W * ? *)", at(2026, 4, 1), at(2026, 4, 15, 8)),
        ("cron(0 8 1W * ? *)", at(2026, 7, 31), at(2026, 8, 3, 8)),
        ("cron(0 8 31W * ? *)", at(2026, 4, 1), at(2026, 5, 29, 8)),
        ("cron(0 8 LW * ? *)", at(2026, 1, 1), at(2026, 1, 30, 8)),
        # nth weekday: third Friday, second Tuesday, fifth Monday (none in April or May 2026)
        ("cron(0 8 ? * 6#3 *)", at(2026, 2, 1), at(2026, 2, 20, 8)),
        ("cron(0 8 ? * FRI#3 *)", at(2026, 2, 20, 8), at(2026, 3, 20, 8)),
        ("cron(0 8 ? * 3#2 *)", at(2026, 3, 1), at(2026, 3, 10, 8)),
        ("cron(0 8 ? * 2#5 *)", at(2026, 4, 1), at(2026, 6, 29, 8)),
        # last weekday of the month; `L` alone is Saturday
        ("cron(0 8 ? * 5L *)", at(2026, 1, 1), at(2026, 1, 29, 8)),
        ("cron(0 8 ? * 5L *)", at(2026, 4, 1), at(2026, 4, 30, 8)),
        ("cron(0 8 ? * THUL *)", at(2026, 4, 1), at(2026, 4, 30, 8)),
        ("cron(0 8 ? * L *)", at(2026, 3, 14, 10), at(2026, 3, 21, 8)),
        # month and day names, any case, equal to numbers
        ("cron(0 12 ? JAN,JUL SUN *)", at(2026, 1, 10), at(2026, 1, 11, 12)),
        ("cron(0 12 ? JAN,JUL SUN *)", at(2026, 1, 25, 12), at(2026, 7, 5, 12)),
        ("cron(0 12 ? jan,jul sun *)", at(2026, 1, 25, 12), at(2026, 7, 5, 12)),
        ("cron(0 12 ? 1,7 1 *)", at(2026, 1, 25, 12), at(2026, 7, 5, 12)),
        ("cron(0 12 1 MAR-APR ? *)", at(2026, 3, 2), at(2026, 4, 1, 12)),
        # years
        ("cron(0 0 1 1 ? 2199)", at(2026, 3, 14), at(2199, 1, 1)),
        ("cron(0 0 1 1 ? 2030/5)", at(2031, 1, 1), at(2035, 1, 1)),
    ],
)
def test_cron_next_after(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(after) == expected


@pytest.mark.parametrize(
    ("expression", "after"),
    [
        ("cron(0 0 30 FEB ? *)", at(2026, 1, 1)),
        ("cron(0 0 31 APR,JUN ? *)", at(2026, 1, 1)),
        ("cron(0 0 * * ? 2020)", at(2026, 1, 1)),
        ("cron(0 0 1 1 ? 2199)", at(2199, 1, 1)),
        ("cron(0 0 * * ? *)", at(2199, 12, 31)),
        ("cron(0 0 * * ? *)", at(9999, 12, 31, 23, 59)),
    ],
)
def test_cron_that_never_fires_again_returns_none(expression: str, after: datetime) -> None:
    expression_ = parse_schedule(expression)
    assert expression_.next_after(after) is None
    assert expression_.fire_times(after, at(9999, 1, 1)) == []


@pytest.mark.parametrize(
    ("expression", "after", "anchor", "expected"),
    [
        ("rate(1 day)", at(2026, 3, 14, 10, 7), None, at(2026, 3, 15)),
        ("rate(1 day)", at(2026, 3, 14, 12), at(2026, 3, 14, 10, 7, 45), at(2026, 3, 15, 10, 7)),
        ("rate(1 day)", at(2026, 3, 1), at(2026, 3, 14, 10, 7), at(2026, 3, 14, 10, 7)),
        ("rate(5 minutes)", at(2026, 3, 14, 10, 7, 30), None, at(2026, 3, 14, 10, 10)),
        ("rate(5 minutes)", at(2026, 3, 14, 10, 10), None, at(2026, 3, 14, 10, 15)),
        (
            "rate(5 minutes)",
            at(2026, 3, 14, 10, 7, 30),
            at(2026, 3, 14, 10, 3),
            at(2026, 3, 14, 10, 8),
        ),
        ("rate(1 minute)", at(2026, 3, 14, 10, 7, 30), None, at(2026, 3, 14, 10, 8)),
        ("rate(2 hours)", at(2026, 3, 14, 11), None, at(2026, 3, 14, 12)),
        ("rate(1 hour)", at(2026, 3, 14, 11), at(2026, 3, 14, 9, 30), at(2026, 3, 14, 11, 30)),
    ],
)
def test_rate_next_after(
    expression: str, after: datetime, anchor: datetime | None, expected: datetime
) -> None:
    assert parse_schedule(expression).next_after(after, anchor=anchor) == expected


@pytest.mark.parametrize(
    ("expression", "start", "end", "anchor", "expected"),
    [
        (
            "cron(0 */6 * * ? *)",
            at(2026, 3, 14),
            at(2026, 3, 15),
            None,
            [at(2026, 3, 14, 6), at(2026, 3, 14, 12), at(2026, 3, 14, 18), at(2026, 3, 15)],
        ),
        (
            "cron(0 9 ? * MON-FRI *)",
            at(2026, 3, 13, 9),
            at(2026, 3, 16, 9),
            None,
            [at(2026, 3, 16, 9)],
        ),
        (
            "cron(0 0 L * ? *)",
            at(2024, 1, 1),
            at(2024, 4, 30),
            None,
            [at(2024, 1, 31), at(2024, 2, 29), at(2024, 3, 31), at(2024, 4, 30)],
        ),
        (
            "rate(10 minutes)",
            at(2026, 3, 14, 10, 0),
            at(2026, 3, 14, 10, 30),
            at(2026, 3, 14, 9, 55),
            [at(2026, 3, 14, 10, 5), at(2026, 3, 14, 10, 15), at(2026, 3, 14, 10, 25)],
        ),
        ("rate(1 day)", at(2026, 3, 14), at(2026, 3, 16), None, [at(2026, 3, 15), at(2026, 3, 16)]),
        ("cron(0 0 * * ? *)", at(2026, 3, 16), at(2026, 3, 14), None, []),
    ],
)
def test_fire_times_window(
    expression: str,
    start: datetime,
    end: datetime,
    anchor: datetime | None,
    expected: list[datetime],
) -> None:
    assert parse_schedule(expression).fire_times(start, end, anchor=anchor) == expected


def test_times_are_utc_whole_minutes_from_any_aware_input() -> None:
    plus_two = timezone(timedelta(hours=2))
    after = datetime(2026, 3, 14, 1, 30, 12, 345, tzinfo=plus_two)
    fire = parse_schedule("cron(0 0 * * ? *)").next_after(after)
    assert fire == at(2026, 3, 14)
    assert fire is not None
    assert fire.tzinfo is UTC


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.next_after(datetime(2026, 1, 1)),
        lambda e: e.next_after(at(2026, 1, 1), anchor=datetime(2026, 1, 1)),
        lambda e: e.fire_times(at(2026, 1, 1), datetime(2026, 1, 2)),
    ],
)
@pytest.mark.parametrize("expression", ["cron(0 0 * * ? *)", "rate(1 day)"])
def test_naive_datetimes_are_rejected(
    expression: str, call: Callable[[ScheduleExpression], object]
) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        call(parse_schedule(expression))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0 0 * * ? *", "cron(0 0 * * ? *)"),
        ("  cron(0   0 * * ?  *)  ", "cron(0 0 * * ? *)"),
        ("rate(5 minutes)", "rate(5 minutes)"),
    ],
)
def test_text_is_canonical(text: str, canonical: str) -> None:
    expression = ScheduleExpression.parse(text)
    assert expression.text == canonical
    assert expression == parse_schedule(canonical)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0 * * *", "expected 6 fields .* got 5 .*year"),
        ("cron(0 0 * * ? * *)", "expected 6 fields .* got 7"),
        ("", "got 0"),
        ("cron(0 0 * * * *)", "exactly one of the two must be '\\?'"),
        ("cron(0 0 ? * ? *)", "exactly one of the two must be '\\?'"),
        ("cron(0 0 1 * MON *)", "exactly one of the two must be '\\?'"),
        ("cron(60 0 * * ? *)", "minutes: 60 is out of range 0-59"),
        ("cron(0 24 * * ? *)", "hours: 24 is out of range 0-23"),
        ("cron(0 0 32 * ? *)", "day-of-month: 32 is out of range 1-31"),
        ("cron(0 0 0 * ? *)", "day-of-month: 0 is out of range 1-31"),
        ("cron(0 0 1 13 ? *)", "month: 13 is out of range 1-12"),
        ("cron(0 0 ? * 8 *)", "day-of-week: 8 is out of range 1-7"),
        ("cron(0 0 ? * 0 *)", "day-of-week: 0 is out of range 1-7"),
        ("cron(0 0 * * ? 1969)", "year: 1969 is out of range 1970-2199"),
        ("cron(0 0 * * ? 2200)", "year: 2200 is out of range 1970-2199"),
        ("cron(0 0 ? * 3#6 *)", "occurrence after '#' must be 1-5"),
        ("cron(0 0 ? * 3#1,6#3 *)", "'#' allows a single expression"),
        ("cron(0 0 ? * MON/2 *)", "'/' increments are not allowed"),
        ("cron(0/0 * * * ? *)", "increment must be at least 1"),
        ("cron(0 0 20-10 * ? *)", "range '20-10' runs backwards"),
        ("cron(0 0 * FOO ? *)", "month: 'FOO' is not a number or a name"),
        ("cron(0 0 MON * ? *)", "day-of-month: 'MON' is not a number"),
        ("cron(0 0 1,,2 * ? *)", "day-of-month: '' is not a value"),
        ("cron(0 ? * * ? *)", "hours: '\\?' is only allowed"),
        ("cron(0 0 1-5W * ? *)", "'W' takes one day"),
        ("cron(0 0 L-3 * ? *)", "'L' stands alone"),
        ("rate(1 days)", "a value of 1 takes the unit 'day'"),
        ("rate(5 minute)", "a value of 5 takes the unit 'minutes'"),
        ("rate(0 minutes)", "value must be a positive integer"),
        ("rate(-5 minutes)", "expected 'rate\\(value unit\\)'"),
        ("rate(5 weeks)", "expected 'rate\\(value unit\\)'"),
        ("rate(5)", "expected 'rate\\(value unit\\)'"),
        ("every day", "expected 6 fields"),
        ("at(2026-01-01T00:00:00)", "expected 'cron\\(...\\)', 'rate\\(...\\)' or 6 cron fields"),
        ("cron(0 0 * * ? *", "expected 'cron\\(...\\)'"),
    ],
)
def test_bad_expressions_raise_typed_error(text: str, message: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=message) as caught:
        parse_schedule(text)
    assert f"invalid schedule expression {text!r}" in str(caught.value)
    assert isinstance(caught.value, ValidationError)
    assert isinstance(caught.value, ValueError)


def test_non_string_is_rejected() -> None:
    with pytest.raises(ScheduleExpressionError, match="is a string"):
        ScheduleExpression(42)  # type: ignore[arg-type]
