"""The modeler's dry run: the school screening pathway (real BPMN, real SQLite, the demo region)
walked on the engine's clock and the Chinese working-day calendar, from a Friday before the
National Day holiday: who gets each task, at which unit, due when; tasks done at once or at their
deadline; a missing variable stops the walk at the gateway that needs it; the saved draft is what
is walked; nothing is written; only analysts may run it, and the page shows the steps in Chinese."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine import workspace
from engine.dryrun import dry_run, start_units
from engine.errors import InvalidInput, PermissionDenied
from engine.store.models import Event, HumanTask, Instance, Message

from conftest import SHANGHAI, deploy_pathways
from test_modeler_workspace import VILLAGE, analyst, app, edited  # noqa: F401  (app is a fixture)
from web import WebClient, text_of

# Friday 25 September 2026, 16:00: a weekend, then three working days, then the National Day
# holiday (1–7 October), then Thursday 8 and Friday 9 October, then Saturday 10 October, a 调休
# working day.
FRIDAY = datetime(2026, 9, 25, 16, 0, tzinfo=SHANGHAI)
CONFIRMED_MILD = {"phq9_score": 14, "phq9_item9": 0, "consult_result": "confirmed", "severity": "mild",
                  "intervention_status": "recovered", "student_birth_date": "2012-03-01",
                  "recovered_social_function": True}
CITY = "510700"


def local(day: datetime, month: int, hour: int = 18) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)


def routed(step) -> tuple:
    return (step.kind, step.element, step.role, step.role_name, step.org, step.org_name,
            step.due_at.astimezone(SHANGHAI) if step.due_at else None)


@pytest.fixture
def screening(region):
    deploy_pathways(region, "school_screening")
    return region


def counts(ctx) -> dict:
    with ctx.db.unit_of_work() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Instance, HumanTask, Event, Message)}


def test_each_task_is_routed_as_the_engine_would_and_done_at_once(screening):
    run = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD)

    assert run.outcome == "completed" and run.revision == 0 and run.org_name == "太平村"
    first, consult, plan_school, plan_medical = run.steps[:4]
    assert routed(first) == ("task", "screening", "education.teacher", "班主任", VILLAGE, "太平村",
                             local(9, 10))   # 5 working days: 28, 29, 30 Sep, 8, 9 Oct
    assert routed(consult) == ("task", "remote_consult", "health.mh_center_expert", "精神卫生中心专家",
                               CITY, "绵阳市", local(29, 9))   # 2 working days after the weekend
    assert routed(plan_school) == ("task", "joint_plan_school", "education.school_psychologist", "学校心理教师",
                                   VILLAGE, "太平村", local(9, 10))
    assert routed(plan_medical)[:3] == ("task", "joint_plan_medical", "health.family_doctor")
    assert {step.at for step in run.steps[:5]} == {FRIDAY} and first.done_at == FRIDAY

    assert [(s.kind, s.element) for s in run.steps[4:]] == [
        ("task", "school_intervention"), ("timer", "intervention_wait"), ("task", "intervention_review"),
        ("timer", "followup_wait"), ("task", "social_followup"), ("end", "-")]
    intervention_wait = run.steps[5]
    assert intervention_wait.at.astimezone(SHANGHAI) == datetime(2026, 10, 25, 16, 0, tzinfo=SHANGHAI)
    review = run.steps[6]
    assert review.at == intervention_wait.at and review.due_at.astimezone(SHANGHAI) == local(30, 10)


def test_at_deadline_each_task_is_done_at_its_due_time_and_the_next_is_counted_from_there(screening):
    run = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD, pace="at_deadline")

    first, consult, plan_school, plan_medical = run.steps[:4]
    assert first.done_at.astimezone(SHANGHAI) == local(9, 10)
    assert consult.at == first.done_at
    # Friday 9 October 18:00 + 2 working days: Saturday 10 October (调休) and Monday 12 October.
    assert routed(consult) == ("task", "remote_consult", "health.mh_center_expert", "精神卫生中心专家",
                               CITY, "绵阳市", local(12, 10))
    assert consult.done_at == consult.due_at == plan_school.at == plan_medical.at
    assert plan_school.due_at.astimezone(SHANGHAI) == local(19, 10)
    assert run.outcome == "completed"

    at_once = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD)
    assert at_once.steps[1].due_at.astimezone(SHANGHAI) == local(29, 9)


def test_a_missing_variable_stops_at_the_gateway_that_needs_it(screening):
    run = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE,
                  {"phq9_score": 14, "phq9_item9": 0})

    assert run.outcome == "error"
    assert [(s.kind, s.element) for s in run.steps] == [
        ("task", "screening"), ("task", "remote_consult"), ("error", "gw_confirmed")]
    error = run.steps[-1]
    assert error.name == "会诊确诊？" and "consult_result" in error.note

    negative = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE,
                       {"phq9_score": 3, "phq9_item9": 0})
    assert negative.outcome == "completed"
    assert [(s.kind, s.element) for s in negative.steps] == [("task", "screening"), ("end", "-")]


def test_the_saved_draft_is_what_the_dry_run_walks(screening):
    deployed = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD)
    assert deployed.steps[1].due_at.astimezone(SHANGHAI) == local(29, 9)

    saved = workspace.save_pathway(screening, "analyst_xu", "school_screening", edited(due="${workdays(3)}"), 0)
    assert saved.revision == 1

    draft = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD)
    assert draft.revision == 1
    assert routed(draft.steps[1]) == ("task", "remote_consult", "health.mh_center_expert", "精神卫生中心专家",
                                      CITY, "绵阳市", local(30, 9))


def test_a_loop_stops_after_max_steps(screening):
    still_ill = {**CONFIRMED_MILD, "intervention_status": "ongoing"}
    run = dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, still_ill, max_steps=12)
    assert run.outcome == "max_steps" and len(run.steps) == 12 and "12" in run.note
    assert [s.element for s in run.steps[5:12]] == ["intervention_wait", "intervention_review"] * 3 + \
        ["intervention_wait"]


def test_nothing_is_written_and_only_analysts_may_run_it(screening):
    before = counts(screening)
    for variables, pace in ((CONFIRMED_MILD, "at_once"), (CONFIRMED_MILD, "at_deadline"),
                            ({"phq9_score": 14}, "at_once")):
        dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, variables, pace=pace)
    assert counts(screening) == before and before["events"] > 0

    with pytest.raises(PermissionDenied):
        dry_run(screening, "teacher_wang", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD)
    with pytest.raises(PermissionDenied):
        start_units(screening, "teacher_wang")
    with pytest.raises(InvalidInput):
        dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD, pace="later")
    with pytest.raises(InvalidInput):
        dry_run(screening, "analyst_xu", "school_screening", FRIDAY, VILLAGE, CONFIRMED_MILD, max_steps=201)
    assert counts(screening) == before


def test_the_start_units_are_the_villages_and_townships_the_analyst_covers(screening):
    units = start_units(screening, "analyst_xu")
    assert {u["level"] for u in units} == {"village", "township"}
    assert VILLAGE in [u["code"] for u in units] and "510781001" in [u["code"] for u in units]
    assert all(u["code"].startswith("5107") for u in units)     # analyst_xu works for 绵阳市 (510700)


# --- the page ------------------------------------------------------------------------------------

def test_the_page_runs_the_dry_run_and_shows_the_steps_in_chinese(app):
    client = analyst(app)
    url = "/modeler/pathways/school_screening/dry-run"
    form = client.get(url)
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'value="2026-11-02T09:00"' in html and ">{}</textarea>" in html
    units = start_units(app.extensions["carepath"].ctx, "analyst_xu")
    first_village = next(u for u in units if u["level"] == "village")
    assert f'<option value="{first_village["code"]}" selected>' in html and html.count(" selected>") == 2

    page = client.post(url, {"start": "2026-09-25T16:00", "org": VILLAGE, "org_code": "",
                             "variables": json.dumps(CONFIRMED_MILD), "pace": "at_once", "max_steps": "40"})
    text = text_of(page)
    assert page.status_code == 200 and "演练结果" in text
    rows = page.get_data(as_text=True).split('data-step="')[1:]
    consult = next(r for r in rows if 'data-element="remote_consult"' in r)
    assert "精神卫生中心专家" in consult and "绵阳市" in consult and "2026-09-29 18:00" in consult
    assert 'data-kind="end"' in rows[-1]
    assert "角色" in text and "截止" in text and "Role" not in text

    bad = client.post(url, {"start": "2026-09-25T16:00", "org": VILLAGE, "variables": "{phq9",
                            "pace": "at_once", "max_steps": "40"})
    assert bad.status_code == 200 and "变量不是有效的 JSON" in text_of(bad) and 'data-testid="dry-run"' not in \
        bad.get_data(as_text=True)

    teacher = WebClient(app)
    teacher.login("teacher_wang")
    assert teacher.get(url).status_code == 403
