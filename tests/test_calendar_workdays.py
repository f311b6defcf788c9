"""Working-day classification and deadline arithmetic, on real chinese_calendar/holidays data.

Facts pinned here come from chinese_calendar 1.11 (official data 2004-2026) and holidays 0.109.
2027 is the projected year: if an upgrade of chinese_calendar ships 2027, the provisional-year
tests fail on purpose (`test_2027_is_not_in_the_official_package_data`) and the fixtures must move
to the next uncovered year.
"""
from __future__ import annotations

import time as wallclock
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from engine.calendar import (OFFICIAL_SOURCE, PROJECTION_SOURCE, Calendar, CalendarLayer,
                             DayRule, Deadline, load_layer, missing_official_year_warning)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).parent / "data" / "calendar"
COUNTY_CHAIN = ["510000", "510700", "510781"]
SIBLING_CHAIN = ["510000", "510700", "510703"]


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def national() -> Calendar:
    return Calendar()


@pytest.fixture(scope="module")
def official_2027() -> CalendarLayer:
    return load_layer(DATA / "national-2027.yaml")


@pytest.fixture(scope="module")
def with_2027(official_2027: CalendarLayer) -> Calendar:
    return Calendar([official_2027])


@pytest.fixture(scope="module")
def regional() -> Calendar:
    return Calendar([load_layer(DATA / "city-510700.yaml"),
                     load_layer(DATA / "county-510781.yaml")])


# -- day classification ---------------------------------------------------------------------

@pytest.mark.parametrize("day, workday, name", [
    (date(2026, 9, 20), True, "国庆节调休上班"),   # Sunday, adjusted working day
    (date(2026, 10, 10), True, "国庆节调休上班"),  # Saturday, adjusted working day
    (date(2026, 10, 1), False, "国庆节"),
    (date(2026, 10, 4), False, "国庆节"),
    (date(2026, 10, 7), False, "国庆节"),
    (date(2026, 9, 19), False, None),             # ordinary Saturday
    (date(2026, 10, 8), True, None),              # ordinary Thursday
])
def test_official_2026_days(national: Calendar, day: date, workday: bool, name: str | None) -> None:
    info = national.day_info(day)
    assert (info.workday, info.provisional, info.source, info.name) == (
        workday, False, OFFICIAL_SOURCE, name)


def test_national_day_week_2026_is_entirely_off(national: Calendar) -> None:
    week = [date(2026, 10, 1) + timedelta(days=offset) for offset in range(7)]
    assert [national.is_workday(day) for day in week] == [False] * 7


def test_2027_is_not_in_the_official_package_data(national: Calendar) -> None:
    assert national.has_official_year(2026)
    assert not national.has_official_year(2027)


def test_holidays_package_knows_adjusted_workdays_only_for_published_years() -> None:
    """What the fallback can rely on: `holidays` encodes 调休 workdays of published notices."""
    china = holidays.China(years=2026)
    assert {date(2026, 9, 20), date(2026, 10, 10)} <= set(china.weekend_workdays)
    assert date(2026, 10, 1) in china


def test_projected_year_is_provisional(national: Calendar) -> None:
    national_day = national.day_info(date(2027, 10, 1))
    assert (national_day.workday, national_day.provisional, national_day.source) == (
        False, True, PROJECTION_SOURCE)
    ordinary_tuesday = national.day_info(date(2027, 3, 2))
    assert (ordinary_tuesday.workday, ordinary_tuesday.provisional) == (True, True)
    fixture_saturday = national.day_info(date(2027, 2, 20))
    assert (fixture_saturday.provisional, fixture_saturday.source) == (True, PROJECTION_SOURCE)


def test_imported_official_year_replaces_the_projection(with_2027: Calendar) -> None:
    assert with_2027.has_official_year(2027)
    source = "official:测试样例：2027年部分节假日安排（非国务院原文）"
    adjusted_saturday = with_2027.day_info(date(2027, 2, 20))
    assert adjusted_saturday.workday and not adjusted_saturday.provisional
    assert (adjusted_saturday.source, adjusted_saturday.name) == (source, "春节补班")
    assert not with_2027.is_workday(date(2027, 10, 6))  # in the fixture's 国庆节 range
    unlisted_tuesday = with_2027.day_info(date(2027, 3, 2))
    assert (unlisted_tuesday.workday, unlisted_tuesday.provisional, unlisted_tuesday.source) == (
        True, False, source)
    assert with_2027.day_info(date(2027, 3, 6)).workday is False  # unlisted Saturday
    assert with_2027.day_info(date(2026, 9, 20)).source == OFFICIAL_SOURCE  # other years: base


def test_an_unofficial_national_layer_stays_provisional() -> None:
    draft = CalendarLayer(region=None, source="草案", official=False, years={2027},
                          rules={date(2027, 2, 20): DayRule(date(2027, 2, 20), "work", "草案补班")})
    info = Calendar([draft]).day_info(date(2027, 2, 20))
    assert (info.workday, info.provisional, info.source) == (True, True, "unofficial:草案")
    assert not Calendar([draft]).has_official_year(2027)


def test_day_results_are_cached(national: Calendar) -> None:
    assert national.day_info(date(2026, 5, 6)) is national.day_info(date(2026, 5, 6))


# -- regional layers ------------------------------------------------------------------------

def test_county_layer_applies_to_its_county_only(regional: Calendar) -> None:
    county, sibling = regional.for_region(COUNTY_CHAIN), regional.for_region(SIBLING_CHAIN)
    assert not county.is_workday(date(2026, 11, 2))
    assert county.day_info(date(2026, 11, 2)).source == "official:510781:测试样例：县级地方安排（虚构）"
    assert sibling.is_workday(date(2026, 11, 2))
    assert county.is_workday(date(2026, 11, 7)) and not sibling.is_workday(date(2026, 11, 7))


def test_most_specific_region_wins(regional: Calendar) -> None:
    """The city makes 2026-11-03 a day off; the county overrides it back to work."""
    assert regional.for_region(COUNTY_CHAIN).is_workday(date(2026, 11, 3))
    assert not regional.for_region(SIBLING_CHAIN).is_workday(date(2026, 11, 3))
    assert regional.for_region(["510000"]).is_workday(date(2026, 11, 3))
    assert regional.is_workday(date(2026, 11, 3))  # national view ignores regional layers


def test_regional_deadlines_differ(regional: Calendar) -> None:
    friday = at(2026, 10, 30)
    county = regional.for_region(COUNTY_CHAIN).add_workdays(friday, 1)
    sibling = regional.for_region(SIBLING_CHAIN).add_workdays(friday, 1)
    assert county.at == at(2026, 11, 3, 18)
    assert sibling.at == at(2026, 11, 2, 18)
    assert "official:510781:测试样例：县级地方安排（虚构）" in county.source.split(",")


def test_region_views_are_reused_and_keep_added_layers(regional: Calendar,
                                                       official_2027: CalendarLayer) -> None:
    assert regional.for_region(COUNTY_CHAIN) is regional.for_region(tuple(COUNTY_CHAIN))
    extended = regional.for_region(COUNTY_CHAIN).with_layers(official_2027)
    assert extended.chain == tuple(COUNTY_CHAIN)
    assert extended.is_workday(date(2026, 11, 3)) and extended.is_workday(date(2027, 2, 20))


# -- add_workdays ---------------------------------------------------------------------------

def test_two_workdays_from_friday_counts_the_adjusted_sunday(national: Calendar) -> None:
    deadline = national.add_workdays(at(2026, 9, 18, 10), 2)
    assert deadline == Deadline(at(2026, 9, 21, 18), provisional=False, source=OFFICIAL_SOURCE)
    assert deadline.date == date(2026, 9, 21)
    assert national.add_workdays(at(2026, 9, 18, 10), 1).at == at(2026, 9, 20, 18)


def test_one_workday_before_national_day_is_the_8th(national: Calendar) -> None:
    assert national.add_workdays(at(2026, 9, 30, 10), 1).at == at(2026, 10, 8, 18)
    assert national.add_workdays(at(2026, 9, 30, 23, 59), 1).at == at(2026, 10, 8, 18)


def test_start_is_read_in_the_calendar_time_zone(national: Calendar) -> None:
    saturday_morning_local = datetime(2026, 9, 18, 20, 0, tzinfo=timezone.utc)  # 09-19 04:00 +08
    deadline = national.add_workdays(saturday_morning_local, 1)
    assert deadline.at == at(2026, 9, 20, 18) and deadline.at.tzinfo == SHANGHAI


def test_zero_workdays_means_close_of_today_or_next_workday(national: Calendar) -> None:
    assert national.add_workdays(at(2026, 9, 18, 10), 0).at == at(2026, 9, 18, 18)
    assert national.add_workdays(at(2026, 9, 19, 10), 0).at == at(2026, 9, 20, 18)  # Saturday
    assert national.add_workdays(at(2026, 9, 18, 19), 0).at == at(2026, 9, 20, 18)  # after close
    assert national.add_workdays(at(2026, 10, 1, 10), 0).at == at(2026, 10, 8, 18)


def test_negative_workdays_and_naive_datetimes_are_refused(national: Calendar) -> None:
    with pytest.raises(ValueError):
        national.add_workdays(at(2026, 9, 18), -1)
    with pytest.raises(ValueError):
        national.add_workdays(datetime(2026, 9, 18, 10), 1)


def test_closing_time_is_configurable() -> None:
    early = Calendar(close_time=time(17, 30))
    assert early.add_workdays(at(2026, 9, 18), 2).at == at(2026, 9, 21, 17, 30)
    with pytest.raises(ValueError):
        Calendar(open_time=time(18), close_time=time(9))


def test_other_time_zone() -> None:
    utc_calendar = Calendar(tz="UTC")
    deadline = utc_calendar.add_workdays(datetime(2026, 9, 18, 10, tzinfo=timezone.utc), 2)
    assert deadline.at == datetime(2026, 9, 21, 18, tzinfo=ZoneInfo("UTC"))


def test_deadline_into_projected_year_is_provisional(national: Calendar,
                                                     with_2027: Calendar) -> None:
    projected = national.add_workdays(at(2026, 12, 31), 1)
    assert projected.at == at(2027, 1, 4, 18)
    assert projected.provisional
    assert projected.source.split(",")[0] == PROJECTION_SOURCE
    inside_2026 = national.add_workdays(at(2026, 12, 30), 1)
    assert not inside_2026.provisional and inside_2026.at == at(2026, 12, 31, 18)
    official = with_2027.add_workdays(at(2027, 2, 19), 1)
    assert official.at == at(2027, 2, 20, 18) and not official.provisional


def test_sixty_workdays_is_fast(national: Calendar) -> None:
    national.add_workdays(at(2026, 3, 2), 60)  # warm the per-day cache
    started = wallclock.perf_counter()
    for _ in range(1000):
        national.add_workdays(at(2026, 3, 2), 60)
    per_call = (wallclock.perf_counter() - started) / 1000
    assert per_call < 0.002


# -- hours, calendar days -------------------------------------------------------------------

def test_workhours_skip_nights_weekends_and_holidays(national: Calendar) -> None:
    assert national.add_workhours(at(2026, 9, 18, 16), 4).at == at(2026, 9, 20, 11)
    assert national.add_workhours(at(2026, 9, 18, 8), 9).at == at(2026, 9, 18, 18)
    assert national.add_workhours(at(2026, 9, 30, 17), 2).at == at(2026, 10, 8, 10)
    half_hour = national.add_workhours(at(2026, 9, 19, 23), timedelta(minutes=30))
    assert half_hour.at == at(2026, 9, 20, 9, 30)
    assert national.add_workhours(at(2026, 9, 19, 23), 0).at == at(2026, 9, 19, 23)
    with pytest.raises(ValueError):
        national.add_workhours(at(2026, 9, 18), -1)


def test_elapsed_hours_and_calendar_days_ignore_the_calendar(national: Calendar) -> None:
    assert national.add_elapsed_hours(at(2026, 9, 30, 17), 30).at == at(2026, 10, 1, 23)
    three_days = national.add_days(at(2026, 9, 30, 17), 3)
    assert (three_days.at, three_days.provisional) == (at(2026, 10, 3, 17), False)
    with pytest.raises(ValueError):
        national.add_days(at(2026, 9, 30), -1)


def test_working_time_between(national: Calendar) -> None:
    friday_afternoon, sunday_morning = at(2026, 9, 18, 16), at(2026, 9, 20, 11)
    assert national.working_time_between(friday_afternoon, sunday_morning) == timedelta(hours=4)
    assert national.working_time_between(sunday_morning, friday_afternoon) == timedelta(hours=-4)
    assert national.working_time_between(at(2026, 10, 1), at(2026, 10, 7, 23)) == timedelta(0)


@pytest.mark.parametrize("hours", [0.5, 4, 9, 13, 40])
def test_workhours_and_working_time_agree(national: Calendar, hours: float) -> None:
    start = at(2026, 9, 29, 15, 20)
    due = national.add_workhours(start, hours)
    assert national.working_time_between(start, due.at) == timedelta(hours=hours)


# -- remaining working days -----------------------------------------------------------------

def test_remaining_workdays_counts_down_to_zero_then_negative(national: Calendar) -> None:
    due = national.add_workdays(at(2026, 9, 18, 10), 2).at  # Monday 09-21 18:00
    assert national.remaining_workdays(at(2026, 9, 18, 10), due) == 2
    assert national.remaining_workdays(at(2026, 9, 19, 10), due) == 2
    assert national.remaining_workdays(at(2026, 9, 20, 10), due) == 1
    assert national.remaining_workdays(at(2026, 9, 21, 10), due) == 0
    assert national.remaining_workdays(at(2026, 9, 21, 19), due) == 0  # overdue today
    assert national.remaining_workdays(at(2026, 9, 22, 10), due) == -1


def test_remaining_workdays_is_the_inverse_of_add_workdays(national: Calendar) -> None:
    for offset in range(30):
        start = at(2026, 9, 10) + timedelta(days=offset)
        for n in range(1, 8):
            due = national.add_workdays(start, n).at
            assert national.remaining_workdays(start, due) == n


# -- pauses ---------------------------------------------------------------------------------

def test_pause_extends_by_working_days_touched(national: Calendar) -> None:
    deadline = national.add_workdays(at(2026, 9, 18, 10), 2)  # Monday 09-21 18:00
    one_day = national.extend_by_working_time(deadline, at(2026, 9, 18, 17), at(2026, 9, 19, 12))
    assert one_day.at == at(2026, 9, 22, 18)
    three_days = national.extend_by_working_time(deadline, at(2026, 9, 18, 10), at(2026, 9, 21, 10))
    assert three_days.at == at(2026, 9, 24, 18)  # Fri, Sun (调休), Mon touched; 09-25 is 中秋


def test_pause_outside_working_hours_changes_nothing(national: Calendar) -> None:
    deadline = national.add_workdays(at(2026, 9, 18, 10), 2)
    weekend = (at(2026, 9, 18, 18, 30), at(2026, 9, 20, 8))
    holidays_week = (at(2026, 10, 1), at(2026, 10, 7, 23))
    assert national.extend_by_working_time(deadline, *weekend) is deadline
    assert national.extend_by_working_time(deadline, *holidays_week) is deadline
    with pytest.raises(ValueError):
        national.extend_by_working_time(deadline, at(2026, 9, 21), at(2026, 9, 20))


def test_pause_into_projected_year_makes_the_deadline_provisional(national: Calendar) -> None:
    deadline = national.add_workdays(at(2026, 12, 28), 2)
    assert not deadline.provisional
    extended = national.extend_by_working_time(deadline, at(2026, 12, 28, 10), at(2026, 12, 29, 11))
    assert extended.at == at(2027, 1, 4, 18)
    assert extended.provisional and PROJECTION_SOURCE in extended.source.split(",")


# -- next-year warning ----------------------------------------------------------------------

def test_december_warning_for_missing_next_year(national: Calendar, with_2027: Calendar) -> None:
    warning = missing_official_year_warning(date(2026, 12, 1), national)
    assert warning == "2027 年的国务院节假日安排尚未导入，2027 年的工作日期限为推算结果（暂定）"
    assert missing_official_year_warning(date(2026, 11, 30), national) is None
    assert missing_official_year_warning(date(2026, 12, 1), with_2027) is None


def test_warning_when_the_current_year_is_projected(national: Calendar) -> None:
    assert "2027 年" in (missing_official_year_warning(date(2027, 3, 1), national) or "")
