"""Reminders for administrators about missing official calendar data."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .workdays import Calendar

WARNING_FROM_MONTH = 12
"""The State Council usually publishes next year's schedule in November; warn from 1 December."""


def _missing_year_message(year: int) -> str:
    return f"{year} 年的国务院节假日安排尚未导入，{year} 年的工作日期限为推算结果（暂定）"


def missing_official_year_warning(today: date, calendar: Calendar) -> str | None:
    """A warning (Chinese) when deadlines are being computed from a projection, else None.

    From 1 December: warns if next year has no official national data (neither in
    `chinese_calendar` nor an imported official national layer). Any day of the year: warns if
    the current year itself has none. `calendar` should be the national calendar or the org
    unit's; only official *national* data counts.
    """
    if not calendar.has_official_year(today.year):
        return _missing_year_message(today.year)
    if today.month >= WARNING_FROM_MONTH and not calendar.has_official_year(today.year + 1):
        return _missing_year_message(today.year + 1)
    return None
