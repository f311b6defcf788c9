"""Deadlines in Chinese working days, as pathways see them: 调休, provisional years, regional
layers by the task's org unit, recomputation after `calendar import`, the December warning."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.calendar import Calendar
from engine.calendars import import_calendar
from engine.deadlines import remaining
from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import BPMN, DATA, SHANGHAI, task_by_element

CALENDARS = DATA / "calendar"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def _follow_up_due(ctx, when: datetime, org: str = "510781001"):
    deployed = ctx.at(when)
    started = services.start_instance(deployed, "scored_referral", org, {})
    after = services.complete(deployed, started.tasks[0]["id"], "doctor_a" if org.startswith("510781") else "fc_doctor",
                              {"phq9": 1})
    return task_by_element(after.tasks, "follow_up")


@pytest.fixture
def referral(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    return ctx


def test_adjusted_working_days_count(referral):
    # Friday 18 Sep 2026: Sunday 20 Sep is a 调休 working day, so 2 working days end Monday 21st.
    follow = _follow_up_due(referral, local(2026, 9, 18, 10))
    assert follow["due_at"] == local(2026, 9, 21, 18)
    assert (follow["due_provisional"], follow["due_source"]) == (False, "official:chinese_calendar")
    # 30 Sep: 1-7 Oct are off, Saturday 10 Oct is worked: day 1 is Thu 8th, day 2 Fri 9th.
    assert _follow_up_due(referral, local(2026, 9, 30, 10))["due_at"] == local(2026, 10, 9, 18)
    assert _follow_up_due(referral, local(2026, 10, 9, 10))["due_at"] == local(2026, 10, 12, 18)


def test_remaining_working_time_for_the_inbox(referral):
    follow = _follow_up_due(referral, local(2026, 9, 18, 10))
    calendar = referral.calendar()
    assert remaining(calendar, local(2026, 9, 18, 11), follow["due_at"])["text"] == "还剩 2 个工作日"
    assert remaining(calendar, local(2026, 9, 19, 11), follow["due_at"])["text"] == "还剩 2 个工作日"  # Saturday
    assert remaining(calendar, local(2026, 9, 20, 11), follow["due_at"])["text"] == "还剩 1 个工作日"
    assert remaining(calendar, local(2026, 9, 21, 17), follow["due_at"])["text"] == "今日到期"
    assert remaining(calendar, local(2026, 9, 22, 9), follow["due_at"])["overdue"] is True


def test_provisional_year_then_official_import_recomputes(referral):
    start = local(2027, 2, 10, 10)
    projected = Calendar(tz=SHANGHAI).add_workdays(start, 2)
    follow = _follow_up_due(referral, start)
    assert follow["due_at"] == projected.at
    assert follow["due_provisional"] is True and "projection" in follow["due_source"]

    result = import_calendar(referral.at(local(2026, 12, 2, 9)), CALENDARS / "national-2027.yaml", actor="admin")
    assert result["imported"] is True
    assert [c["task"] for c in result["recomputed"]] == [follow["id"]]
    updated = task_by_element(services.list_tasks(referral, instance_id=follow["instance"]), "follow_up")
    # Official notice: 11-13 Feb off, Sunday 14 Feb worked: day 1 is the 14th, day 2 Monday 15th.
    assert updated["due_at"] == local(2027, 2, 15, 18) != projected.at
    assert updated["due_provisional"] is False
    event = [e for e in instance_detail(referral, follow["instance"])["events"] if e["kind"] == "deadline_recomputed"]
    assert len(event) == 1 and event[0]["reason"].startswith("日历导入") and event[0]["provisional"] is False

    again = import_calendar(referral, CALENDARS / "national-2027.yaml")
    assert again["imported"] is False and again["recomputed"] == []


def test_regional_layer_follows_the_tasks_org_unit(referral):
    import_calendar(referral, CALENDARS / "county-510781.yaml")
    # Friday 30 Oct: Monday 2 Nov is a local day off in 江油市 (510781) only.
    jiangyou = _follow_up_due(referral, local(2026, 10, 30, 10), org="510781001")
    fucheng = _follow_up_due(referral, local(2026, 10, 30, 10), org="510703001")
    assert jiangyou["due_at"] == local(2026, 11, 4, 18)    # Tue 3rd, Wed 4th
    assert fucheng["due_at"] == local(2026, 11, 3, 18)     # Mon 2nd, Tue 3rd
    assert "510781" in jiangyou["due_source"]


def test_calendar_cli_workdays_and_december_warning(cli):
    answer = cli.json("calendar", "workdays", "2026-09-18T10:00:00+08:00", "2")
    assert answer["date"] == "2026-09-21" and answer["provisional"] is False
    assert answer["source"] == "official:chinese_calendar"
    late = cli.run("calendar", "workdays", "2026-12-01T10:00:00+08:00", "30", "--json")
    assert "2027" in late.stderr and "警告" in late.stderr
    assert __import__("json").loads(late.stdout)["provisional"] is True
    november = cli.run("calendar", "workdays", "2026-11-30T10:00:00+08:00", "1", "--json")
    assert "警告" not in november.stderr
    cli.run("calendar", "import", str(CALENDARS / "national-2027.yaml"), "--now", "2026-12-01T10:00:00+08:00")
    after = cli.run("calendar", "workdays", "2026-12-01T10:00:00+08:00", "30", "--json")
    assert "警告" not in after.stderr
    assert __import__("json").loads(after.stdout)["provisional"] is False
    regional = cli.json("calendar", "workdays", "2026-10-30T10:00:00+08:00", "1", "--region", "510781001")
    assert regional["date"] == "2026-11-02"
    bad = cli.run("calendar", "import", str(DATA / "directory.yaml"), check=False)
    assert bad.returncode == 1 and "directory.yaml" in bad.stderr


def test_boundary_timer_in_working_days_is_the_deadline_and_fires_then(ctx):
    deploy_files(ctx, [BPMN / "consult_timer.bpmn"])
    start = local(2026, 9, 18, 10)          # Friday; Sunday 20th is a 调休 working day
    started = services.start_instance(ctx.at(start), "consult_timer", "510781001", {})
    consult = task_by_element(started.tasks, "consult")
    assert consult["due_at"] == local(2026, 9, 21, 18)
    assert consult["due_source"] == "official:chinese_calendar"
    assert services.tick(ctx.at(local(2026, 9, 21, 17, 59)))["timers_fired"] == 0
    assert services.tick(ctx.at(local(2026, 9, 21, 18)))["timers_fired"] == 1
    assert [t["element"] for t in services.list_tasks(ctx, instance_id=started.instance)] == ["escalated"]


def test_import_moves_a_working_day_timer_with_its_deadline(ctx):
    deploy_files(ctx, [BPMN / "consult_timer.bpmn"])
    started = services.start_instance(ctx.at(local(2027, 2, 10, 10)), "consult_timer", "510781001", {})
    before = task_by_element(started.tasks, "consult")
    assert before["due_provisional"] is True
    import_calendar(ctx.at(local(2026, 12, 2, 9)), CALENDARS / "national-2027.yaml")
    after = task_by_element(services.list_tasks(ctx, instance_id=started.instance), "consult")
    assert after["due_at"] == local(2027, 2, 15, 18) and after["due_provisional"] is False
    from engine.store.models import Instance
    with ctx.db.unit_of_work() as session:
        assert session.get(Instance, started.instance).wake_at == local(2027, 2, 15, 18)
    assert services.tick(ctx.at(local(2027, 2, 15, 17)))["timers_fired"] == 0
    assert services.tick(ctx.at(local(2027, 2, 15, 18)))["timers_fired"] == 1
