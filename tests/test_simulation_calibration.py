"""Calibration: a forecast of the demo region's school screening, with nothing stated but the
cohort (branch odds and handling times from the region's history, staff unlimited as they were
in effect), reproduces the on-time rate the region's own completed tasks show.

Stated tolerance: CALIBRATION_TOLERANCE (5 percentage points) on the share of completed tasks
done by their deadline, for a cohort of 300 over 40 days. The demo history has 17 completed
screening tasks of which 2 were late (0.88); three seeds of the forecast gave 0.887–0.898 when
this test was written. The same forecast with a stated handling time instead of history's (30
minutes, every task) is off by more than the tolerance, so the match is the history's doing."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.context import EngineContext
from engine.demo import load_demo
from engine.settings import Settings
from engine.simulation.history import observed_on_time
from engine.simulation.run import Forecast, Plan

from conftest import PATHWAYS, SHANGHAI

CALIBRATION_TOLERANCE = 0.05
DEMO_NOW = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)        # the demo cohort's layout


@pytest.fixture
def into(databases, tmp_path):
    urls = []

    def fresh():
        folder = tmp_path / f"forecast{len(urls)}"
        folder.mkdir()
        url, drop = databases.fresh(folder)
        urls.append(drop)
        return url
    yield fresh
    for drop in urls:
        drop()


def _forecast_rate(demo, url: str, **plan) -> tuple[float, dict]:
    result = Forecast(demo, Plan("school_screening", 300, date(2027, 3, 1), 40, into=url, **plan)).run()
    forecast = EngineContext(Settings(database_url=url), now=DEMO_NOW)
    kept = observed_on_time(forecast, {"school_screening"})
    forecast.db.dispose()
    return kept["on_time_rate"], result


def test_a_forecast_from_history_reproduces_the_observed_on_time_rate(region, into, tmp_path):
    demo = region.at(DEMO_NOW)
    load_demo(demo, PATHWAYS)
    observed = observed_on_time(demo, {"school_screening"})
    assert observed["completed_with_due"] >= 15 and 0.5 < observed["on_time_rate"] < 1   # late ones exist

    rate, result = _forecast_rate(demo, into(), seed=4)
    assert result["branches"] == "history" and result["errors"] == []
    assert result["totals"]["people"] == 300 and result["totals"]["completed"] > 600
    assert result["totals"]["on_time_rate"] == pytest.approx(rate, abs=1e-4)
    assert abs(rate - observed["on_time_rate"]) <= CALIBRATION_TOLERANCE, (rate, observed)

    staff = tmp_path / "staff.yaml"
    staff.write_text("default: {minutes: 30}\n", encoding="utf-8")
    stated, _ = _forecast_rate(demo, into(), seed=4, staff=str(staff))
    assert abs(stated - observed["on_time_rate"]) > CALIBRATION_TOLERANCE, stated
