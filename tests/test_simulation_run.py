"""The forecast loop through the real engine, inspected in its own database (`Plan.into`): people
arrive only in working hours (调休 days included), a queue's staff never hold more tasks at once
than the staff file says, each task takes exactly its handling time in working hours, the staff
take the earliest-due task first, escalations are raised when their step falls due, the same seed
gives the same forecast, and a wrong plan is refused saying what is wrong."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine.calendars import chain_of
from engine.errors import InvalidInput, NotFound
from engine.simulation.report import CSV_COLUMNS, load_csv
from engine.simulation.run import Forecast, Plan
from engine.store.db import Database
from engine.store.models import Escalation, Event, HumanTask, Instance, OrgUnit

from conftest import deploy_pathways

COUNTY = "510781"                          # 江油市
EXPERT = "health.mh_center_expert"
ALL_POSITIVE = "branches:\n  school_screening:\n    gw_screen_positive: {remote_consult: 1}\n"


@pytest.fixture
def into(databases, tmp_path):
    """An empty database for the forecast to run in, kept for the test to read."""
    folder = tmp_path / "forecast"
    folder.mkdir()
    url, drop = databases.fresh(folder)
    yield url
    drop()


def _files(tmp_path, staff: str | None = None, branches: str = ALL_POSITIVE) -> dict:
    found = {}
    if staff is not None:
        (tmp_path / "staff.yaml").write_text(staff, encoding="utf-8")
        found["staff"] = str(tmp_path / "staff.yaml")
    (tmp_path / "branches.yaml").write_text(branches, encoding="utf-8")
    found["branches"] = str(tmp_path / "branches.yaml")
    return found


def test_people_arrive_in_working_hours_on_working_days_at_the_level_under_the_org(region, into, tmp_path):
    deploy_pathways(region, "school_screening")
    # 2026-09-19 … 10-11: National Day off 10-01…07; Sunday 09-20 and Saturday 10-10 are worked (调休).
    plan = Plan("school_screening", 400, date(2026, 9, 19), 23, seed=3, org=COUNTY, level="village",
                into=into, **_files(tmp_path))
    result = Forecast(region, plan).run()
    calendar = region.calendar()
    with Database(into).unit_of_work() as session:
        started = session.execute(select(Instance.started_at, Instance.org_code, OrgUnit.path)
                                  .join(OrgUnit, OrgUnit.code == Instance.org_code)).all()
    assert len(started) == result["totals"]["people"] == 400
    days = set()
    for moment, org, path in started:
        local = calendar.local(moment)
        days.add(local.date())
        assert calendar.is_workday(local.date()), local
        assert calendar.opening(local.date()) <= local < calendar.closing(local.date())
        assert path.startswith(f"/510000/510700/{COUNTY}/") and len(org) == 12      # villages of the county
    assert {date(2026, 9, 20), date(2026, 10, 10)} <= days                         # make-up workdays
    assert not days & {date(2026, 10, 1) + timedelta(n) for n in range(7)}
    with region.db.unit_of_work() as session:
        villages = set(session.scalars(select(OrgUnit.code).where(
            OrgUnit.level == "village", OrgUnit.path.startswith(f"/510000/510700/{COUNTY}/"))))
    arrived = [org for _, org, _ in started]
    assert set(arrived) == villages and len(villages) >= 3            # each village, evenly
    assert all(arrived.count(code) > 0.7 * 400 / len(villages) for code in villages)


STAFF = "roles:\n  health.mh_center_expert: {staff: 2, minutes: 180}\n"


def test_staff_hold_no_more_tasks_than_stated_each_for_its_handling_time_earliest_due_first(region, into, tmp_path):
    deploy_pathways(region, "school_screening")
    plan = Plan("school_screening", 120, date(2026, 11, 2), 12, seed=5, into=into, **_files(tmp_path, STAFF))
    result = Forecast(region, plan).run()
    with Database(into).unit_of_work() as session:
        tasks = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.role_code == EXPERT))}
        moves = session.execute(select(Event.task_id, Event.kind, Event.at).where(
            Event.task_id.in_(tasks), Event.kind.in_(("task_claimed", "task_completed")))).all()
    claimed = {task_id: at for task_id, kind, at in moves if kind == "task_claimed"}
    done = {task_id: at for task_id, kind, at in moves if kind == "task_completed"}
    assert len(tasks) > 60 and 0 < len(done) < len(tasks)         # more work than two people can do
    calendar = region.calendar(chain_of(next(iter(tasks.values())).org_path))
    for task_id, end in done.items():                              # three working hours each
        assert calendar.working_time_between(claimed[task_id], end) == timedelta(hours=3)
    marks = sorted([(at, 1) for at in claimed.values()] + [(at, -1) for at in done.values()])
    holding = peak = 0
    for _, step in marks:
        holding += step
        peak = max(peak, holding)
    assert peak == 2                                               # both busy, never a third
    for task_id, at in claimed.items():                            # the earliest due among those waiting
        waiting = [t for t in tasks.values() if t.created_at <= at and claimed.get(t.id, at) >= at]
        assert tasks[task_id].due_at == min(t.due_at for t in waiting)
    row = next(r for r in result["load"] if r["role"] == EXPERT)
    assert row["staff"] == 2 and row["total"] == len(tasks) and row["completed"] == len(done)
    assert row["queue_end"] == len(tasks) - len(done) and row["queue_max"] >= row["queue_end"]
    # Two people × 9 working hours ÷ 3 hours: at most 6 a day, and the backlog makes them late.
    per_day = {}
    for end in done.values():
        per_day[calendar.local(end).date()] = per_day.get(calendar.local(end).date(), 0) + 1
    assert max(per_day.values()) == 6
    assert row["on_time_rate"] is not None and row["on_time_rate"] < 0.5


def test_escalations_are_raised_when_their_step_falls_due(region, into, tmp_path):
    deploy_pathways(region, "school_screening")
    plan = Plan("school_screening", 80, date(2026, 11, 2), 10, seed=2, into=into,
                **_files(tmp_path, "roles:\n  health.mh_center_expert: {staff: 1, minutes: 240}\n"))
    result = Forecast(region, plan).run()
    with Database(into).unit_of_work() as session:
        raised = session.execute(select(Escalation.level, Escalation.raised_at, HumanTask)
                                 .join(HumanTask, HumanTask.id == Escalation.task_id)).all()
    assert raised and sum(level["count"] for level in result["escalations"]) == len(raised)
    assert {level["level"] for level in result["escalations"]} == {level for level, _, _ in raised}
    policy = region.policy()
    for level, at, task in raised:
        step = policy.ladder(task.escalation_ladder)[level - 1]
        moment = step.moment(task.due_at, region.calendar(chain_of(task.org_path)))
        assert moment <= at <= moment + timedelta(minutes=plan.sweep_minutes), (level, moment, at)


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("created_at", "seconds")}


def test_the_same_seed_gives_the_same_forecast_and_another_seed_another(region, tmp_path):
    deploy_pathways(region, "school_screening")
    files = _files(tmp_path, STAFF, "branches:\n  school_screening:\n"
                                    "    gw_screen_positive: {remote_consult: 0.4, end_negative: 0.6}\n")
    first = Forecast(region, Plan("school_screening", 60, date(2026, 11, 2), 7, seed=9, **files)).run()
    again = Forecast(region, Plan("school_screening", 60, date(2026, 11, 2), 7, seed=9, **files)).run()
    other = Forecast(region, Plan("school_screening", 60, date(2026, 11, 2), 7, seed=10, **files)).run()
    assert _comparable(first) == _comparable(again)
    assert first["load"] != other["load"]
    assert first["totals"]["people"] == 60 and first["branches"] == "file"
    assert len(first["weeks"]) == 1 and len(first["queue_daily"]["dates"]) == 7


def test_the_load_csv_has_a_row_per_queue_and_week(region, tmp_path):
    deploy_pathways(region, "school_screening")
    result = Forecast(region, Plan("school_screening", 30, date(2026, 11, 2), 14, **_files(tmp_path))).run()
    lines = load_csv(result).lstrip("\ufeff").splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS)
    assert len(lines) - 1 == 2 * len(result["load"])
    created = sum(int(line.split(",")[5]) for line in lines[1:])
    assert created == sum(row["total"] for row in result["load"]) == result["totals"]["tasks"]


@pytest.mark.parametrize("changes, message", [
    ({"pathway": "no_such"}, "路径 no_such 尚未部署"),
    ({"cohort": 0}, "--cohort"),
    ({"days": 0}, "--days"),
    ({"org": "999"}, "--org 999"),
    ({"level": "galaxy"}, "--level galaxy"),
    ({"start": date(2026, 10, 1), "days": 7}, "没有工作日"),
    ({"staff": "roles:\n  health.mh_expert: {staff: 2}\n"}, "是否指 health.mh_center_expert"),
    ({"staff": "roles:\n  health.mh_center_expert: {staff: 0}\n"}, "staff 应为正整数"),
    ({"staff": "roles:\n  health.mh_center_expert: {minutes: [30, 10, 60]}\n"}, "最少 ≤ 最可能 ≤ 最多"),
    ({"staff": "units:\n  '999': {}\n"}, "没有这个机构 999"),
])
def test_a_wrong_plan_is_refused_saying_what_is_wrong(region, tmp_path, changes, message):
    deploy_pathways(region, "school_screening")
    staff = changes.pop("staff", None)
    fields = {"pathway": "school_screening", "cohort": 5, "start": date(2026, 11, 2), "days": 5,
              **changes, **_files(tmp_path, staff)}
    with pytest.raises((InvalidInput, NotFound)) as refused:
        Forecast(region, Plan(**fields)).run()
    assert message in str(refused.value)
