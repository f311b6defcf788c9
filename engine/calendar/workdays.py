"""`Calendar`: which days are working days for an org unit, and deadlines counted on them.

Day classification: weekends and statutory holidays are off, adjusted working days (调休) are on.
The answer for a date comes from the first layer that decides it (regional layers of the unit and
its ancestors, then national imported layers, then the package base: `chinese_calendar` where it
has the year, else a provisional projection from `holidays`). See `engine.calendar.layers` and
`engine.calendar.national`.

A `Calendar` is immutable: `with_layers` and `for_region` return new calendars. Each calendar
caches its per-day answers, and `for_region` views are cached on their parent, so classifying a
day in a hot path is a dict lookup after the first time.

The deadline arithmetic lives in `engine.calendar.deadlines`; the methods here are its front door
and never read the wall clock: every instant is passed in (tz-aware).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from . import deadlines
from .deadlines import Deadline
from .layers import CalendarLayer, DayInfo, layers_for_chain
from .national import NATIONAL_BASE, NationalBase

DEFAULT_TIME_ZONE = "Asia/Shanghai"
DEFAULT_OPEN_TIME = time(9, 0)
DEFAULT_CLOSE_TIME = time(18, 0)


class Calendar:
    """Working days for one org unit (or nationally), with deadline arithmetic.

    `layers`: every imported layer known to the deployment, national and regional; which of them
    apply is decided by `for_region`. A calendar built directly applies only the national ones.
    `tz`: local time zone of the dates (default Asia/Shanghai). `open_time`/`close_time`: the
    working hours of a working day (default 09:00-18:00, no lunch break); a working-day deadline
    falls at `close_time`.
    """

    def __init__(self, layers: Iterable[CalendarLayer] = (), *,
                 tz: str | ZoneInfo = DEFAULT_TIME_ZONE,
                 open_time: time = DEFAULT_OPEN_TIME,
                 close_time: time = DEFAULT_CLOSE_TIME,
                 base: NationalBase | None = None) -> None:
        if not open_time < close_time:
            raise ValueError(f"open_time {open_time} must be before close_time {close_time}")
        self._layers = tuple(layers)
        self._tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self._open_time = open_time
        self._close_time = close_time
        self._base = base or NATIONAL_BASE
        self._chain: tuple[str, ...] = ()
        self._applicable = layers_for_chain(self._layers, self._chain)
        self._days: dict[date, DayInfo] = {}
        self._regions: dict[tuple[str, ...], Calendar] = {}

    # -- configuration ---------------------------------------------------------------------

    @property
    def layers(self) -> tuple[CalendarLayer, ...]:
        """All layers given to the calendar, in the order they were added."""
        return self._layers

    @property
    def chain(self) -> tuple[str, ...]:
        """The org-unit chain (root first) this calendar was resolved for; () = national."""
        return self._chain

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    @property
    def open_time(self) -> time:
        return self._open_time

    @property
    def close_time(self) -> time:
        return self._close_time

    def with_layers(self, *layers: CalendarLayer) -> Calendar:
        """A new calendar with `layers` added after the existing ones (so they take precedence)."""
        extended = Calendar((*self._layers, *layers), tz=self._tz, open_time=self._open_time,
                            close_time=self._close_time, base=self._base)
        return extended.for_region(self._chain) if self._chain else extended

    def for_region(self, chain: Sequence[str]) -> Calendar:
        """The calendar of the org unit whose ancestor chain (root first, unit last) is `chain`.

        E.g. `["510000", "510700", "510781"]`: the county's layers win over the city's, the
        city's over the province's, those over national imported layers, those over the base.
        Views are cached, so calling this per request is cheap.
        """
        key = tuple(chain)
        view = self._regions.get(key)
        if view is None:
            view = Calendar(self._layers, tz=self._tz, open_time=self._open_time,
                            close_time=self._close_time, base=self._base)
            view._chain = key
            view._applicable = layers_for_chain(self._layers, key)
            self._regions[key] = view
        return view

    # -- classification --------------------------------------------------------------------

    def day_info(self, day: date) -> DayInfo:
        """Whether `day` is a working day, whether that is provisional, and what decided it."""
        info = self._days.get(day)
        if info is None:
            info = self._days[day] = self._classify(day)
        return info

    def _classify(self, day: date) -> DayInfo:
        for layer in self._applicable:
            decided = layer.decide(day)
            if decided is not None:
                return decided
        return self._base.day_info(day)

    def is_workday(self, day: date) -> bool:
        return self.day_info(day).workday

    def has_official_year(self, year: int) -> bool:
        """Whether `year` has official national data: in `chinese_calendar`, or an imported
        official national layer covering it. Without it, results in that year are provisional."""
        if any(layer.official and layer.covers_year(year) for layer in self._applicable):
            return True
        return self._base.has_official_year(year)

    def local(self, instant: datetime) -> datetime:
        """`instant` in the calendar's time zone; naive datetimes are refused."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"a time zone-aware datetime is required, got {instant!r}")
        return instant.astimezone(self._tz)

    def closing(self, day: date) -> datetime:
        """The closing instant of `day` (local close time)."""
        return datetime.combine(day, self._close_time, self._tz)

    def opening(self, day: date) -> datetime:
        """The opening instant of `day` (local open time)."""
        return datetime.combine(day, self._open_time, self._tz)

    # -- arithmetic (see engine.calendar.deadlines for the semantics) ----------------------

    def add_workdays(self, start: datetime, n: int) -> Deadline:
        """Close of the n-th working day after the start's local date; n=0: see deadlines."""
        return deadlines.add_workdays(self, start, n)

    def add_workhours(self, start: datetime, hours: float | timedelta) -> Deadline:
        """The instant when `hours` of working time (open-close on working days) have elapsed."""
        return deadlines.add_workhours(self, start, hours)

    def add_elapsed_hours(self, start: datetime, hours: float | timedelta) -> Deadline:
        """`hours` of plain elapsed time after `start`."""
        return deadlines.add_elapsed_hours(self, start, hours)

    def add_days(self, start: datetime, n: int) -> Deadline:
        """`n` calendar days after `start`, same local wall-clock time."""
        return deadlines.add_days(self, start, n)

    def remaining_workdays(self, now: datetime, due: datetime) -> int:
        """Working days left before `due` (negative: overdue by that many working days)."""
        return deadlines.remaining_workdays(self, now, due)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time (open-close on working days) between two instants."""
        return deadlines.working_time_between(self, start, end)

    def extend_by_working_time(self, deadline: Deadline, paused_from: datetime,
                               paused_to: datetime) -> Deadline:
        """Push `deadline` back by the working days a pause touched."""
        return deadlines.extend_by_working_time(self, deadline, paused_from, paused_to)
