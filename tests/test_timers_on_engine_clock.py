"""Timers read the engine clock, accept unquoted ISO 8601 literals, and are found by index."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.pathways import deploy_files
from engine.runtime import services
from engine.store.models import Instance

from conftest import BPMN, SHANGHAI, T0, task_by_element

VILLAGE = "510781001001"


@pytest.fixture
def team(ctx):
    deploy_files(ctx, [BPMN / "timers.bpmn"])
    return ctx


def _wake_at(ctx, instance_id):
    with ctx.db.unit_of_work() as session:
        return session.get(Instance, instance_id).wake_at


def _elements(ctx, instance_id):
    return sorted(t["element"] for t in services.list_tasks(ctx, instance_id=instance_id))


def test_time_date_literal_waits_for_the_engine_clock(team):
    started = services.start_instance(team, "care_team", VILLAGE)
    assert started.tasks == []
    assert _wake_at(team, started.instance) == datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)

    assert services.tick(team.at(datetime(2026, 11, 3, 8, 59, tzinfo=SHANGHAI)))["timers_fired"] == 0
    fired = services.tick(team.at(datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)))
    assert fired["timers_fired"] == 1
    assert _elements(team, started.instance) == ["care"]


def test_cycle_fires_three_times_then_stops_and_duration_ends_the_period(team):
    day1 = datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)
    started = services.start_instance(team, "care_team", VILLAGE)
    services.tick(team.at(day1))
    assert _wake_at(team, started.instance) == day1 + timedelta(hours=1)

    services.tick(team.at(day1 + timedelta(hours=1)))
    assert _elements(team, started.instance) == ["care", "visit"]
    # Jumping the clock catches up on missed firings, but never beyond R3.
    services.tick(team.at(day1 + timedelta(hours=10)))
    assert _elements(team, started.instance) == ["care", "visit", "visit", "visit"]
    services.tick(team.at(day1 + timedelta(hours=11)))
    assert _elements(team, started.instance) == ["care", "visit", "visit", "visit"]
    assert _wake_at(team, started.instance) == day1 + timedelta(hours=30)

    services.tick(team.at(day1 + timedelta(hours=30)))
    elements = _elements(team, started.instance)
    assert "care" not in elements and elements.count("review") == 1
    review = task_by_element(services.list_tasks(team, instance_id=started.instance), "review")
    assert review["due_at"] == datetime(2026, 11, 10, 18, 0, tzinfo=SHANGHAI)   # quoted expression
    assert _wake_at(team, started.instance) is None


def test_tick_touches_only_due_instances(team):
    ids = [services.start_instance(team, "care_team", VILLAGE).instance for _ in range(5)]
    report = services.tick(team.at(T0 + timedelta(hours=1)))
    assert report["timers_fired"] == 0 and report["instances"] == []
    with team.db.unit_of_work() as session:
        due = session.scalars(select(Instance.id).where(
            Instance.wake_at <= datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI))).all()
    assert sorted(due) == sorted(ids)
    report = services.tick(team.at(datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)))
    assert sorted(report["instances"]) == sorted(ids) and report["timers_fired"] == 5
