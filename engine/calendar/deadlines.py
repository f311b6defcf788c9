"""Deadline arithmetic on a `Calendar`. Every instant is passed in; the wall clock is never read.

All instants must be time zone-aware; they are read in the calendar's time zone (default
Asia/Shanghai) and results are returned in it. Working hours are the calendar's
`open_time`-`close_time` (default 09:00-18:00, no lunch break).

Semantics:

* `add_workdays(start, n)`, "within n working days": the first working day is the NEXT working day
  after the start's local date (the start day never counts, whatever the hour); the deadline is the
  closing time of the n-th. Friday 2026-09-18 10:00, n=2 -> Sunday 2026-09-20 (调休) is the 1st,
  Monday 2026-09-21 the 2nd -> 2026-09-21 18:00.
  n=0, "today": the closing time of the start day if it is a working day and the start is before
  its close; otherwise the closing time of the next working day (so an n=0 deadline is never
  before its start). n < 0: ValueError.
* `add_workhours(start, hours)`: the earliest instant by which `hours` of working time have
  elapsed since `start`. Time outside working hours and non-working days does not count: 4 hours
  from Friday 16:00 is the next working day at 11:00. A deadline may fall exactly at close time.
  hours=0 returns `start`.
* `add_elapsed_hours(start, hours)` and `add_days(start, n)`: plain elapsed time, and calendar
  days at the same local wall-clock time; no working-day data involved, never provisional.
* `remaining_workdays(now, due)`: while `now <= due`, the number of working days after now's local
  date up to and including due's local date: the inverse of `add_workdays` for n >= 1, and 0 when
  no further working day remains (due today, or due on a non-working day before the next working
  day). Once `now > due`, minus the number of working days after due's local date up to and
  including now's (0 = overdue since earlier today); compare `now > due` to tell "due today" from
  "overdue today".
* `working_time_between(start, end)`: working time in [start, end]; negative if end < start.
* `extend_by_working_time(deadline, paused_from, paused_to)`: each working day whose working hours
  overlap the pause counts once, however long the overlap; the deadline moves forward by that
  many working days (n-th working day after the deadline's local date, same local time). A pause
  entirely outside working hours changes nothing.

Every result is a `Deadline` carrying `provisional` (any day the computation relied on was
provisional) and `source` (the distinct sources of those days, provisional ones first, joined by
",").
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from .layers import DayInfo

if TYPE_CHECKING:
    from .workdays import Calendar

ELAPSED_SOURCE = "elapsed"
MAX_DAYS_WITHOUT_WORK = 366
"""A calendar with no working day in this many consecutive days is treated as misconfigured."""


@dataclass(frozen=True)
class Deadline:
    """A computed instant, with how firm it is.

    `at`: tz-aware, in the calendar's time zone. `provisional`: it relied on projected or
    unofficial data and may move once the official schedule is imported. `source`: the sources it
    relied on, provisional ones first, comma-separated.
    """
    at: datetime
    provisional: bool
    source: str

    @property
    def date(self) -> date:
        """The local date of the deadline."""
        return self.at.date()


class _Reliance:
    """Collects the day classifications a computation relied on."""

    def __init__(self, inherited: str = "", provisional: bool = False) -> None:
        self._sources: dict[str, bool] = {}
        self._provisional = provisional
        for source in filter(None, inherited.split(",")):
            self._sources[source] = provisional

    def note(self, info: DayInfo) -> DayInfo:
        if info.provisional:
            self._provisional = True
            self._sources[info.source] = True
        else:
            self._sources.setdefault(info.source, False)
        return info

    def deadline(self, at: datetime) -> Deadline:
        firm_last = sorted(self._sources, key=lambda source: not self._sources[source])
        return Deadline(at, self._provisional, ",".join(firm_last) or ELAPSED_SOURCE)


def _next_workday(calendar: Calendar, day: date, reliance: _Reliance) -> date:
    """The first working day strictly after `day`."""
    for offset in range(1, MAX_DAYS_WITHOUT_WORK + 1):
        candidate = day + timedelta(days=offset)
        if reliance.note(calendar.day_info(candidate)).workday:
            return candidate
    raise ValueError(f"no working day within {MAX_DAYS_WITHOUT_WORK} days after {day}")


def _nth_workday_after(calendar: Calendar, day: date, n: int, reliance: _Reliance) -> date:
    for _ in range(n):
        day = _next_workday(calendar, day, reliance)
    return day


def _require_not_negative(name: str, value: float | timedelta) -> None:
    if (value < timedelta(0)) if isinstance(value, timedelta) else (value < 0):
        raise ValueError(f"{name} must not be negative, got {value!r}")


def _as_timedelta(hours: float | timedelta) -> timedelta:
    return hours if isinstance(hours, timedelta) else timedelta(hours=hours)


def add_workdays(calendar: Calendar, start: datetime, n: int) -> Deadline:
    """Closing time of the n-th working day after the start's local date (module docstring)."""
    _require_not_negative("n", n)
    local = calendar.local(start)
    reliance = _Reliance()
    if n == 0:
        today = reliance.note(calendar.day_info(local.date()))
        if today.workday and local.time() < calendar.close_time:
            return reliance.deadline(calendar.closing(local.date()))
        return reliance.deadline(calendar.closing(_next_workday(calendar, local.date(), reliance)))
    day = _nth_workday_after(calendar, local.date(), n, reliance)
    return reliance.deadline(calendar.closing(day))


def _working_window(calendar: Calendar, day: date, reliance: _Reliance
                    ) -> tuple[datetime, datetime] | None:
    """The working hours of `day`, or None if it is not a working day."""
    if not reliance.note(calendar.day_info(day)).workday:
        return None
    return calendar.opening(day), calendar.closing(day)


def add_workhours(calendar: Calendar, start: datetime, hours: float | timedelta) -> Deadline:
    """The earliest instant by which `hours` of working time have elapsed (module docstring)."""
    _require_not_negative("hours", hours)
    remaining = _as_timedelta(hours)
    cursor = calendar.local(start)
    reliance = _Reliance()
    if not remaining:
        return reliance.deadline(cursor)
    day, idle_days = cursor.date(), 0
    while idle_days < MAX_DAYS_WITHOUT_WORK:
        window = _working_window(calendar, day, reliance)
        if window is not None and max(cursor, window[0]) < window[1]:
            idle_days = 0
            begin = max(cursor, window[0])
            if remaining <= window[1] - begin:
                return reliance.deadline(begin + remaining)
            remaining -= window[1] - begin
        else:
            idle_days += 1
        day += timedelta(days=1)
    raise ValueError(f"no working time within {MAX_DAYS_WITHOUT_WORK} days after {start}")


def add_elapsed_hours(calendar: Calendar, start: datetime, hours: float | timedelta) -> Deadline:
    """`hours` of plain elapsed time after `start`, in the calendar's time zone."""
    _require_not_negative("hours", hours)
    return Deadline(calendar.local(start) + _as_timedelta(hours), False, ELAPSED_SOURCE)


def add_days(calendar: Calendar, start: datetime, n: int) -> Deadline:
    """`n` calendar days after `start` at the same local wall-clock time."""
    _require_not_negative("n", n)
    local = calendar.local(start)
    moved = datetime.combine(local.date() + timedelta(days=n), local.time(), calendar.tz)
    return Deadline(moved, False, ELAPSED_SOURCE)


def _count_workdays_after(calendar: Calendar, first: date, last: date) -> int:
    """Working days d with first < d <= last."""
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        count += calendar.day_info(day).workday
    return count


def remaining_workdays(calendar: Calendar, now: datetime, due: datetime) -> int:
    """Working days left until `due`; negative once overdue (module docstring)."""
    today, due_day = calendar.local(now).date(), calendar.local(due).date()
    if now <= due:
        return _count_workdays_after(calendar, today, due_day)
    return -_count_workdays_after(calendar, due_day, today)


def _overlap(start: datetime, end: datetime, window: tuple[datetime, datetime]) -> timedelta:
    return max(timedelta(0), min(end, window[1]) - max(start, window[0]))


def working_time_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Working time in [start, end]; negative when `end` is before `start`."""
    if end < start:
        return -working_time_between(calendar, end, start)
    first, last = calendar.local(start), calendar.local(end)
    total, day, reliance = timedelta(0), first.date(), _Reliance()
    while day <= last.date():
        window = _working_window(calendar, day, reliance)
        if window is not None:
            total += _overlap(first, last, window)
        day += timedelta(days=1)
    return total


def _workdays_touched(calendar: Calendar, start: datetime, end: datetime,
                      reliance: _Reliance) -> int:
    """Working days whose working hours overlap [start, end]."""
    touched, day = 0, start.date()
    while day <= end.date():
        window = _working_window(calendar, day, reliance)
        if window is not None and _overlap(start, end, window):
            touched += 1
        day += timedelta(days=1)
    return touched


def extend_by_working_time(calendar: Calendar, deadline: Deadline, paused_from: datetime,
                           paused_to: datetime) -> Deadline:
    """`deadline` moved forward by the working days the pause touched (module docstring)."""
    start, end = calendar.local(paused_from), calendar.local(paused_to)
    if end < start:
        raise ValueError(f"pause ends ({paused_to}) before it starts ({paused_from})")
    reliance = _Reliance(deadline.source, deadline.provisional)
    touched = _workdays_touched(calendar, start, end, reliance)
    if touched == 0:
        return deadline
    due = calendar.local(deadline.at)
    day = _nth_workday_after(calendar, due.date(), touched, reliance)
    moved = datetime.combine(day, due.time(), calendar.tz)
    return reliance.deadline(moved)
