"""The national base calendar from package data: official where known, projected otherwise.

* Official: `chinese_calendar` carries the State Council schedules (statutory holidays and 调休
  working days) for the years it knows (2004-2026 in version 1.11) and raises
  NotImplementedError for any other year. Results are `official:chinese_calendar`, never
  provisional.
* Projection: for every other year the `holidays` package's China calendar is used. It computes the
  statutory holidays from the law (lunar dates included) and moves a holiday that falls on a
  weekend to the next working day (补假), but it only knows 调休 working days for years whose notice
  it has encoded (its `weekend_workdays`, empty for future years). A projected year is therefore
  "weekends + projected statutory holidays" and every answer in it is provisional with source
  `projection:holidays`, whatever the day turns out to be.

Nothing is computed at import: `holidays` (which reads package metadata when imported) is imported
on first use, and each year is computed once and cached.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import chinese_calendar

from .layers import DayInfo, is_weekend

OFFICIAL_SOURCE = "official:chinese_calendar"
PROJECTION_SOURCE = "projection:holidays"


@dataclass(frozen=True)
class _ProjectedYear:
    """The `holidays` package's view of one year: named days off and named weekend workdays."""
    off: dict[date, str]
    work: frozenset[date]


def _chinese_holiday_name(english: str | None) -> str | None:
    """chinese_calendar reports English names ("National Day"); show the Chinese one (国庆节)."""
    if english is None:
        return None
    try:
        return chinese_calendar.Holiday(english).chinese
    except ValueError:  # a name this version's enum does not list: keep it as given
        return english


def _project_year(year: int) -> _ProjectedYear:
    """Statutory holidays (with 补假) and known 调休 workdays for `year`, per `holidays`."""
    import holidays  # deferred: importing it reads package metadata

    china = holidays.China(years=year, language="zh_CN")
    off = {day: str(name) for day, name in china.items() if day.year == year}
    work = frozenset(day for day in china.weekend_workdays if day.year == year)
    return _ProjectedYear(off, work)


class NationalBase:
    """Classifies any date from package data; see the module docstring."""

    def __init__(self) -> None:
        self._official_years: dict[int, bool] = {}
        self._projections: dict[int, _ProjectedYear] = {}

    def has_official_year(self, year: int) -> bool:
        """Whether `chinese_calendar` has the State Council schedule for `year`."""
        known = self._official_years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 6, 1))
                known = True
            except NotImplementedError:
                known = False
            self._official_years[year] = known
        return known

    def day_info(self, day: date) -> DayInfo:
        """Official classification where available, projection (provisional) otherwise."""
        if self.has_official_year(day.year):
            return self._official_day_info(day)
        return self._projected_day_info(day)

    @staticmethod
    def _official_day_info(day: date) -> DayInfo:
        on_holiday, english = chinese_calendar.get_holiday_detail(day)
        name = _chinese_holiday_name(english)
        if not on_holiday and name is not None:
            name = f"{name}调休上班"
        return DayInfo(workday=not on_holiday, provisional=False, source=OFFICIAL_SOURCE, name=name)

    def _projected_day_info(self, day: date) -> DayInfo:
        projection = self._projections.get(day.year)
        if projection is None:
            projection = self._projections[day.year] = _project_year(day.year)
        holiday_name = projection.off.get(day)
        if holiday_name is not None:
            return DayInfo(False, True, PROJECTION_SOURCE, holiday_name)
        if day in projection.work:
            return DayInfo(True, True, PROJECTION_SOURCE, "调休上班")
        return DayInfo(not is_weekend(day), True, PROJECTION_SOURCE, None)


NATIONAL_BASE = NationalBase()
"""Shared instance: package data does not change while the process runs."""
