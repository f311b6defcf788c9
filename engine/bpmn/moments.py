"""Turning what analysts write in timers and due dates into instants on the engine clock.

Accepted everywhere a pathway takes a time (`camunda:dueDate`, `camunda:followUpDate`, timer
`timeDate`/`timeDuration`/`timeCycle`):

* unquoted ISO 8601 literals: `2026-10-09T09:00:00+08:00`, `2026-10-09`, `P2D`, `PT4H`,
  `R3/PT1H`, `R/2026-10-09T09:00:00+08:00/P1M`;
* expressions (sandboxed Python) returning an ISO string, a datetime, a date or a timedelta, e.g.
  `workdays(2)`, `hours(4)`, `due_date`, `"P2D"`.

A date-time without an offset, and a bare date, are read in the deployment time zone. A duration
counts from the engine clock's now; months and years are calendar months and years.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo



class MomentError(ValueError):
    """A timer or due-date value is neither a valid literal nor yields a time."""


_DURATION = re.compile(
    r"^P(?!$)(\d+(?:[.,]\d+)?Y)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?W)?(\d+(?:[.,]\d+)?D)?"
    r"(T(?=\d)(\d+(?:[.,]\d+)?H)?(\d+(?:[.,]\d+)?M)?(\d+(?:[.,]\d+)?S)?)?$", re.IGNORECASE)
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE)
_CYCLE = re.compile(r"^R\d*/", re.IGNORECASE)


def is_iso_literal(text: str) -> bool:
    """True for an unquoted ISO 8601 date-time, date, duration or repeating interval."""
    text = text.strip()
    return bool(_DURATION.match(text) or _DATETIME.match(text) or _CYCLE.match(text))


def _amount(text: str | None) -> float:
    return float(text[:-1].replace(",", ".")) if text else 0.0


def add_duration(text: str, start: datetime, tz: ZoneInfo, times: int = 1) -> datetime:
    """`start` plus `times` × an ISO 8601 duration, counted on the calendar of the deployment time zone.

    Years and months are calendar years and months, clamped to the end of a shorter month
    (31 January + P1M = 28/29 February; + 2 × P1M = 31 March, because multiples count from `start`,
    not from the clamped day). Weeks and days are calendar days at the same wall-clock time; hours,
    minutes and seconds are elapsed time.
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise MomentError(f"不是 ISO 8601 时长: {text!r} (not an ISO 8601 duration)")
    parts = match.groups()
    years, months, weeks, days, hours, minutes, seconds = (
        _amount(part) for part in parts[:4] + parts[5:])
    if years % 1 or months % 1:
        raise MomentError(
            f"年、月只能是整数: {text!r} (years and months must be whole numbers; write P45D, not P1.5M)")
    local = start.astimezone(tz)
    total_months = local.month - 1 + int(years * 12 + months) * times
    year, month = local.year + total_months // 12, total_months % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    moved = datetime.combine(date(year, month, day), local.timetz().replace(tzinfo=None), tz)
    moved += timedelta(days=(weeks * 7 + days) * times)
    moved = datetime.combine(moved.date(), moved.timetz().replace(tzinfo=None), tz)
    elapsed = timedelta(hours=hours, minutes=minutes, seconds=seconds) * times
    return moved.astimezone(timezone.utc) + elapsed


def parse_duration(text: str, start: datetime, tz: ZoneInfo = ZoneInfo("UTC")) -> timedelta:
    """An ISO 8601 duration as the timedelta it spans from `start` (see `add_duration`)."""
    return add_duration(text, start, tz) - start


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 date-time or date; no offset means the deployment time zone."""
    text = text.strip()
    if not _DATETIME.match(text):
        raise MomentError(f"不是 ISO 8601 日期时间: {text!r} (not an ISO 8601 date-time)")
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(timezone.utc)


def to_instant(value, now: datetime, tz: ZoneInfo) -> datetime:
    """Interpret an evaluated value (string, datetime, date, timedelta) as a UTC instant."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tz).astimezone(timezone.utc)
    if isinstance(value, timedelta):
        return now + value
    if isinstance(value, str):
        text = value.strip()
        if _DURATION.match(text):
            return add_duration(text, now, tz)
        return parse_instant(text, tz)
    raise MomentError(
        f"时间表达式的结果不是时间: {value!r} ({type(value).__name__}; expected a date-time or duration)")


@dataclass(frozen=True)
class Cycle:
    """A repeating interval: firings left (-1 = unbounded) and the step counted from an anchor.

    Firing k (k = 0, 1, ...) is due at `anchor + (first + k) × step`, each counted on the calendar
    from the anchor, so a monthly cycle started on the 31st fires on the last day of short months
    and on the 31st again after them.
    """
    remaining: int
    anchor: datetime
    step: str
    first: int
    tz: ZoneInfo

    def firing(self, k: int) -> datetime:
        """When firing number k (from 0) is due."""
        return add_duration(self.step, self.anchor, self.tz, self.first + k)

    @property
    def next_at(self) -> datetime:
        return self.firing(0)


def parse_cycle(text: str, now: datetime, tz: ZoneInfo) -> Cycle:
    """`R3/PT1H` (first firing one step from now), `R/2026-10-09T09:00/P1M`, `R2/P1D/2026-10-09`."""
    text = text.strip().upper()
    if not _CYCLE.match(text):
        raise MomentError(f"不是 ISO 8601 循环: {text!r} (expected R[n]/...)")
    parts = text.split("/")
    count_text = parts[0][1:]
    remaining = int(count_text) if count_text else -1
    if len(parts) == 2:
        add_duration(parts[1], now, tz)
        return Cycle(remaining, now, parts[1], 1, tz)
    if len(parts) != 3:
        raise MomentError(f"循环定义的段数不对: {text!r}")
    first, second = parts[1], parts[2]
    if _DURATION.match(first):
        end = parse_instant(second, tz)
        add_duration(first, end, tz)
        return Cycle(remaining, end, first, -1, tz)
    start = parse_instant(first, tz)
    add_duration(second, start, tz)
    return Cycle(remaining, start, second, 0, tz)


Evaluator = Callable[[str], object]


def resolve_moment(expression: str, evaluate: Evaluator, now: datetime, tz: ZoneInfo) -> datetime:
    """The instant an analyst's timer/due-date text means: a literal, or an evaluated expression."""
    text = (expression or "").strip()
    if not text:
        raise MomentError("时间表达式为空 (empty time expression)")
    if is_iso_literal(text):
        return to_instant(text, now, tz)
    return to_instant(evaluate(text), now, tz)


def resolve_cycle(expression: str, evaluate: Evaluator, now: datetime, tz: ZoneInfo) -> Cycle:
    text = (expression or "").strip()
    if not is_iso_literal(text):
        text = evaluate(text)
        if not isinstance(text, str):
            raise MomentError(f"循环表达式的结果必须是 ISO 8601 字符串: {text!r}")
    return parse_cycle(text, now, tz)
