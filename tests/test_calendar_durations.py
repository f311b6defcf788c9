"""Durations and cycles count calendar months and years in the deployment time zone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.bpmn.moments import MomentError, add_duration, parse_cycle, to_instant

from conftest import SHANGHAI


def local(year, month, day, hour=9, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize("text, start, expected", [
    ("P1M", local(2027, 1, 31), local(2027, 2, 28)),            # clamped to a short month
    ("P1M", local(2028, 1, 31), local(2028, 2, 29)),            # leap year
    ("P1M", local(2026, 11, 5, 10), local(2026, 12, 5, 10)),
    ("P3M", local(2026, 11, 30), local(2027, 2, 28)),
    ("P1Y", local(2028, 2, 29), local(2029, 2, 28)),
    ("P1Y2M", local(2026, 12, 15), local(2028, 2, 15)),
    ("P1W", local(2026, 11, 2), local(2026, 11, 9)),
    ("P2DT4H", local(2026, 11, 2, 22), local(2026, 11, 5, 2)),
    ("PT36H", local(2026, 11, 2, 9), local(2026, 11, 3, 21)),
])
def test_calendar_arithmetic(text, start, expected):
    assert add_duration(text, start, SHANGHAI) == expected


def test_months_are_counted_in_the_deployment_time_zone_not_utc():
    # 1 Feb 00:30 in Shanghai is still 31 Jan in UTC; a month later is 1 Mar, not 28 Feb.
    start = local(2027, 2, 1, 0, 30)
    assert start.astimezone(timezone.utc).day == 31
    assert add_duration("P1M", start, SHANGHAI) == local(2027, 3, 1, 0, 30)


def test_multiples_count_from_the_start_so_a_clamped_month_does_not_stick():
    start = local(2027, 1, 31)
    assert [add_duration("P1M", start, SHANGHAI, k) for k in (1, 2, 3)] == [
        local(2027, 2, 28), local(2027, 3, 31), local(2027, 4, 30)]


def test_relative_literal_from_now_uses_calendar_months():
    assert to_instant("P1M", local(2027, 1, 31), SHANGHAI) == local(2027, 2, 28)


def test_fractional_months_are_refused_with_a_hint():
    with pytest.raises(MomentError, match="P1.5M"):
        add_duration("P1.5M", local(2026, 11, 2), SHANGHAI)
    assert add_duration("P1.5D", local(2026, 11, 2), SHANGHAI) == local(2026, 11, 3, 21)


def test_monthly_cycle_from_the_31st_follows_the_calendar():
    cycle = parse_cycle("R/2027-01-31T10:00/P1M", local(2027, 1, 1), SHANGHAI)
    assert [cycle.firing(k) for k in range(4)] == [
        local(2027, 1, 31, 10), local(2027, 2, 28, 10), local(2027, 3, 31, 10), local(2027, 4, 30, 10)]
    assert cycle.remaining == -1


def test_cycle_relative_to_now_and_ending_at_an_instant():
    now = local(2026, 11, 5, 10)
    relative = parse_cycle("R12/P1M", now, SHANGHAI)
    assert relative.remaining == 12
    assert relative.next_at == local(2026, 12, 5, 10)
    assert relative.firing(11) == local(2027, 11, 5, 10)
    ending = parse_cycle("R2/P1D/2026-11-10T09:00", now, SHANGHAI)
    assert [ending.firing(0), ending.firing(1)] == [local(2026, 11, 9), local(2026, 11, 10)]
    assert ending.firing(1) - ending.firing(0) == timedelta(days=1)
