"""Amazon EventBridge schedule expressions: `cron(...)` and `rate(...)`, parsed and evaluated.

Pure functions of their inputs: no clock is read, every time is passed in as an aware datetime
and every fire time comes back as an aware UTC datetime on a whole minute.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from lambda_workflows.errors import ValidationError

__all__ = ["ScheduleExpression", "ScheduleExpressionError", "parse_schedule"]


class ScheduleExpressionError(ValidationError):
    """A schedule expression EventBridge would reject; the message names the field and why."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
_FIELD_NAMES = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: n for n, name in enumerate(_MONTH_NAMES, 1)}
_WEEKDAYS = {name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_RATE_UNITS = {"minute": _MINUTE, "hour": timedelta(hours=1), "day": timedelta(days=1)}
_RATE_BODY = re.compile(r"([0-9]+)\s+([a-z]+)")
_ITEM = re.compile(r"(\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:/([0-9]+))?")
_NUMBER = re.compile(r"[0-9]+")

DayRule = Callable[[int, int], list[int]]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    steps: bool = True


_MINUTES = _Field("minutes", 0, 59, {})
_HOURS = _Field("hours", 0, 23, {})
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, {})
_MONTH = _Field("month", 1, 12, _MONTHS)
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, _WEEKDAYS, steps=False)
_YEAR = _Field("year", 1970, 2199, {})


def _fail(where: str, why: str) -> ScheduleExpressionError:
    return ScheduleExpressionError(f"{where}: {why}")


def _value(token: str, spec: _Field) -> int:
    if token in spec.names:
        value = spec.names[token]
    elif _NUMBER.fullmatch(token):
        value = int(token)
    else:
        kind = "a number or a name" if spec.names else "a number"
        raise _fail(spec.name, f"{token!r} is not {kind}")
    if not spec.low <= value <= spec.high:
        raise _fail(spec.name, f"{value} is out of range {spec.low}-{spec.high}")
    return value


def _values(text: str, spec: _Field) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise _fail(spec.name, f"{item!r} is not a value, range, list or increment")
        base, step = match.groups()
        if step is not None and not spec.steps:
            raise _fail(spec.name, "'/' increments are not allowed in this field")
        if base == "*":
            low, high = spec.low, spec.high
        elif "-" in base:
            low, high = (_value(part, spec) for part in base.split("-"))
            if low > high:
                raise _fail(spec.name, f"range {base!r} runs backwards")
        else:
            low = _value(base, spec)
            high = spec.high if step is not None else low
        if step is not None and int(step) == 0:
            raise _fail(spec.name, "an increment must be at least 1")
        values.update(range(low, high + 1, int(step or 1)))
    return tuple(sorted(values))


def _aws_weekday(year: int, month: int, day: int) -> int:
    return (date(year, month, day).weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    last = calendar.monthrange(year, month)[1]
    weekday = _aws_weekday(year, month, day)
    if weekday == 7:
        return day - 1 if day > 1 else day + 2
    if weekday == 1:
        return day + 1 if day < last else day - 2
    return day


def _day_of_month_rule(text: str) -> DayRule:
    if text == "L":
        return lambda y, m: [calendar.monthrange(y, m)[1]]
    if text == "LW":
        return lambda y, m: [_nearest_weekday(y, m, calendar.monthrange(y, m)[1])]
    if text.endswith("W"):
        if "," in text or "-" in text or "/" in text:
            raise _fail("day-of-month", "'W' takes one day, as in '15W'")
        day = _value(text[:-1], _DAY_OF_MONTH)
        return lambda y, m: (
            [_nearest_weekday(y, m, day)] if day <= calendar.monthrange(y, m)[1] else []
        )
    if "L" in text:
        raise _fail("day-of-month", f"{text!r}: 'L' stands alone, or as 'LW'")
    days = _values(text, _DAY_OF_MONTH)
    return lambda y, m: [d for d in days if d <= calendar.monthrange(y, m)[1]]


def _day_of_week_rule(text: str) -> DayRule:
    if "#" in text:
        weekday_text, _, nth_text = text.partition("#")
        if "," in text:
            raise _fail("day-of-week", "'#' allows a single expression, as in '3#2'")
        weekday = _value(weekday_text, _DAY_OF_WEEK)
        nth = int(nth_text) if _NUMBER.fullmatch(nth_text) else 0
        if not 1 <= nth <= 5:
            raise _fail("day-of-week", f"{text!r}: the occurrence after '#' must be 1-5")

        def nth_weekday(y: int, m: int) -> list[int]:
            day = 1 + (weekday - _aws_weekday(y, m, 1)) % 7 + 7 * (nth - 1)
            return [day] if day <= calendar.monthrange(y, m)[1] else []

        return nth_weekday
    if text.endswith("L") and text != "L":
        weekday = _value(text[:-1], _DAY_OF_WEEK)

        def last_weekday(y: int, m: int) -> list[int]:
            last = calendar.monthrange(y, m)[1]
            return [last - (_aws_weekday(y, m, last) - weekday) % 7]

        return last_weekday
    weekdays = frozenset(_values("7" if text == "L" else text, _DAY_OF_WEEK))
    return lambda y, m: [
        d for d in range(1, calendar.monthrange(y, m)[1] + 1) if _aws_weekday(y, m, d) in weekdays
    ]


@dataclass(frozen=True)
class _Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: DayRule
    months: tuple[int, ...]
    years: tuple[int, ...]

    def times_from(self, start: datetime) -> Iterator[datetime]:
        first = (start.year, start.month, start.day, start.hour, start.minute)
        for year in (y for y in self.years if y >= first[0]):
            for month in (m for m in self.months if (year, m) >= first[:2]):
                for day in (d for d in self.days(year, month) if (year, month, d) >= first[:3]):
                    for hour in self.hours:
                        if (year, month, day, hour) < first[:4]:
                            continue
                        for minute in self.minutes:
                            if (year, month, day, hour, minute) >= first:
                                yield datetime(year, month, day, hour, minute, tzinfo=UTC)


def _parse_cron(body: str) -> tuple[str, _Cron]:
    fields = body.split()
    if len(fields) != 6:
        raise _fail(
            "cron",
            f"expected 6 fields ({' '.join(_FIELD_NAMES)}), got {len(fields)}"
            + (" (EventBridge cron needs a year field)" if len(fields) == 5 else ""),
        )
    minutes, hours, day_of_month, month, day_of_week, year = (f.upper() for f in fields)
    if (day_of_month == "?") == (day_of_week == "?"):
        raise _fail(
            "day-of-month/day-of-week",
            "exactly one of the two must be '?' (EventBridge does not combine them)",
        )
    for name, text in (("minutes", minutes), ("hours", hours), ("month", month), ("year", year)):
        if "?" in text:
            raise _fail(name, "'?' is only allowed in day-of-month or day-of-week")
    if day_of_month == "?":
        days = _day_of_week_rule(day_of_week)
    else:
        days = _day_of_month_rule(day_of_month)
    cron = _Cron(
        _values(minutes, _MINUTES),
        _values(hours, _HOURS),
        days,
        _values(month, _MONTH),
        _values(year, _YEAR),
    )
    return f"cron({' '.join(fields)})", cron


def _parse_rate(body: str) -> tuple[str, timedelta]:
    match = _RATE_BODY.fullmatch(body.strip())
    unit = match.group(2).removesuffix("s") if match else ""
    if match is None or unit not in _RATE_UNITS:
        raise _fail("rate", "expected 'rate(value unit)' with unit minute(s), hour(s) or day(s)")
    value = int(match.group(1))
    if value == 0:
        raise _fail("rate", "the value must be a positive integer")
    expected = unit if value == 1 else f"{unit}s"
    if match.group(2) != expected:
        raise _fail("rate", f"a value of {value} takes the unit {expected!r}")
    return f"rate({value} {expected})", _RATE_UNITS[unit] * value


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (e.g. tzinfo=UTC), got {moment!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class ScheduleExpression:
    """A validated EventBridge schedule expression.

    `text` is the canonical form EventBridge accepts (`cron(...)` or `rate(...)`), also when
    the expression was written as six bare cron fields. Cron fire times are UTC.
    """

    text: str
    _plan: _Cron | timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ScheduleExpressionError(f"a schedule expression is a string, not {self.text!r}")
        raw = self.text.strip()
        try:
            if raw.startswith(("rate(", "cron(")) and raw.endswith(")"):
                parse = _parse_rate if raw.startswith("rate(") else _parse_cron
                canonical, plan = parse(raw[5:-1])
            elif "(" in raw or ")" in raw:
                raise _fail("expression", "expected 'cron(...)', 'rate(...)' or 6 cron fields")
            else:
                canonical, plan = _parse_cron(raw)
        except ScheduleExpressionError as error:
            raise ScheduleExpressionError(
                f"invalid schedule expression {self.text!r}: {error}"
            ) from None
        object.__setattr__(self, "text", canonical)
        object.__setattr__(self, "_plan", plan)

    @classmethod
    def parse(cls, text: str) -> ScheduleExpression:
        """Parse `cron(...)`, `rate(...)` or six bare cron fields; raise ScheduleExpressionError."""
        return cls(text)

    @property
    def is_rate(self) -> bool:
        """Whether this is a `rate(...)` expression (fire times depend on an anchor)."""
        return isinstance(self._plan, timedelta)

    def _times_after(self, after: datetime, anchor: datetime | None) -> Iterator[datetime]:
        after = _utc(after, "after")
        if isinstance(self._plan, timedelta):
            period = self._plan
            start = _EPOCH if anchor is None else _utc(anchor, "anchor")
            start = start.replace(second=0, microsecond=0)
            k = max(0, (after - start) // period + 1)
            try:
                while True:
                    yield start + k * period
                    k += 1
            except OverflowError:
                return
        else:
            if anchor is not None:
                _utc(anchor, "anchor")
            if after.year <= _YEAR.high:
                yield from self._plan.times_from(after.replace(second=0, microsecond=0) + _MINUTE)

    def next_after(self, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """The first fire time strictly after `after`, or None when there is none.

        Rate fire times are `anchor + k * period` for k >= 0 (anchor floored to the minute,
        defaulting to 1970-01-01T00:00Z); cron expressions ignore `anchor`.
        """
        return next(self._times_after(after, anchor), None)

    def fire_times(
        self, start: datetime, end: datetime, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """Every fire time t with `start < t <= end`, in order."""
        end = _utc(end, "end")
        times: list[datetime] = []
        for moment in self._times_after(start, anchor):
            if moment > end:
                break
            times.append(moment)
        return times


def parse_schedule(text: str) -> ScheduleExpression:
    """Parse an EventBridge schedule expression; raise ScheduleExpressionError if invalid."""
    return ScheduleExpression.parse(text)
