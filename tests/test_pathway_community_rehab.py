"""Community rehabilitation, the Tongzhou "19511" model (DOMAIN pathway 3), walked as its users
would: the township rehab station checks intake criteria, the county psychiatrist assesses the
recovery level, the station opens the rehab record and individual plan, HR & social security
records the pastry certificate, the station reviews the recovery level every three months (one
sub-process per cycle, at most four a year), a relapse or a drop of two levels goes back to the
psychiatrist within one working day, and the township social worker's satisfaction survey
closes the loop: "基本复元" at level 5, otherwise "续期" (a renewed year is a new instance).

The person lives in 太平村 (太平镇, 江油市). Clock: T0 = Monday 2 November 2026, 09:00 Shanghai."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import FormInvalid, PermissionDenied
from engine.escalation import actions
from engine.notify import list_for_user
from engine.people import register_person
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import SHANGHAI, T0, deploy_pathways, task_by_element
from pathway_steps import do, ended_at, inbox_task, open_elements

PROCESS = "community_rehab"
VILLAGE = "510781001001"      # 太平村, where the person lives and the instance starts
TOWNSHIP = "510781001"        # 太平镇: rehab station, social worker
COUNTY = "510781"             # 江油市: psychiatrists, HR & social security, supervisors
REHAB = "rehab_luo"           # dpf.rehab_worker @ 太平镇
PSYCHIATRIST = "psychiatrist_zheng"   # health.psychiatrist @ 江油市
HRSS = "hrss_li"              # hrss.employment_officer @ 江油市
SOCIAL_WORKER = "sw_tang"     # civil.social_worker @ 太平镇
DPF_SUPERVISOR = "dpf_sup_jy"  # dpf.supervisor @ 江油市


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


ELIGIBLE = {"age": 18, "illness_months": 13, "disease_phase": "stable", "severity": "moderate",
            "referral_source": "mh_doctor", "intake_notes": "精防医生转介，病情稳定两年"}


def assessment(level: int) -> dict:
    return {"recovery_level": level, "psp_score": 55, "sdss_score": 8,
            "medication_adherence": "regular", "assessment_notes": f"复元等级 {level} 级，社会功能部分受损"}


def plan(vocational: str) -> dict:
    return {"archive_no": "KF2026-0007", "rehab_groups": ["music_dance", "life_skills"],
            "content_areas": ["medication_training", "relapse_prevention", "social_skills",
                              "vocational_rehab", "family_support"],
            "vocational_track": vocational, "plan_goals": "规律服药，每周参加两次小组活动"}


def review(level: int, relapse: str = "no") -> dict:
    return {"review_level": level, "relapse": relapse, "sessions_attended": 20,
            "review_adherence": "regular", "review_notes": "按计划参加小组"}


SURVEY = {"respondent": "both", "satisfaction": "very_satisfied", "satisfaction_score": 95,
          "suggestions": "希望增加面点培训班次"}
REFERRAL = {"seen_date": "2027-05-26", "referral_outcome": "adjust_treatment",
            "referral_notes": "加量奥氮平，两周后复诊"}


@pytest.fixture
def rehab(region):
    deploy_pathways(region, PROCESS)
    register_person(region, "KF-001", "李康", VILLAGE, gender="女", birth_date="1990-05-01")
    return region


def start(ctx, at: datetime = T0):
    return services.start_instance(ctx.at(at), PROCESS, VILLAGE, {}, person="KF-001")


def assert_task(task: dict, role: str, org: str, due: datetime, provisional: bool = False) -> None:
    assert (task["role"], task["org"], task["status"], task["assignee"]) == (role, org, "open", None)
    assert task["due_at"] == due
    assert task["due_provisional"] is provisional


def review_quarter(ctx, instance: int, fires: datetime, due: datetime, done: datetime, data: dict,
                   provisional: bool = True):
    """One review cycle: nothing until the 3-month timer, then the station's review task."""
    before = services.tick(ctx.at(fires - timedelta(minutes=1)))
    assert before["timers_fired"] == 0 and open_elements(ctx, instance) == []
    fired = services.tick(ctx.at(fires))
    assert fired["timers_fired"] == 1 and fired["instances"] == [instance]
    task = inbox_task(ctx, fires, REHAB, "recovery_review")
    assert_task(task, "dpf.rehab_worker", TOWNSHIP, due, provisional)
    return services.complete(ctx.at(done), task["id"], REHAB, data)


# --- intake -------------------------------------------------------------------------------------

@pytest.mark.parametrize("unmet, answers", [
    ("under_18", {"age": 17}),
    ("short_illness", {"illness_months": 12}),
    ("not_stable", {"disease_phase": "recovering"}),
    ("severe", {"severity": "severe"}),
])
def test_an_unmet_intake_criterion_is_told_and_referred_to_other_services(rehab, unmet, answers):
    started = start(rehab)
    intake = task_by_element(started.tasks, "intake_check")
    # 3 working days from Monday 09:00: Tue, Wed, Thu → Thursday 5 November 18:00.
    assert_task(intake, "dpf.rehab_worker", TOWNSHIP, local(2026, 11, 5, 18))
    assert intake["form_key"] == "community_rehab/intake_check.form"
    assert inbox_task(rehab, T0, REHAB, "intake_check")["remaining"]["text"] == "还剩 3 个工作日"

    after = do(rehab, local(2026, 11, 2, 10), REHAB, "intake_check", {**ELIGIBLE, **answers})
    inform = task_by_element(after.tasks, "inform_ineligible")
    assert_task(inform, "dpf.rehab_worker", TOWNSHIP, local(2026, 11, 5, 18))
    assert [t["element"] for t in after.tasks] == ["inform_ineligible"]    # no assessment

    done = do(rehab, local(2026, 11, 3, 10), REHAB, "inform_ineligible", {
        "unmet_criteria": [unmet], "other_services": ["mh_followup", "family_doctor"],
        "informed_date": "2026-11-03", "inform_notes": "已向本人及家属说明"})
    assert done.status == "completed" and done.tasks == []
    assert ended_at(rehab, started.instance) == ["end_ineligible"]


# --- a whole year: vocational track, a missed deadline, a relapse, four reviews, renewal ------

def test_a_year_with_pastry_certificate_escalation_relapse_and_renewal(rehab):
    started = start(rehab)
    instance = started.instance
    after = do(rehab, local(2026, 11, 2, 10), REHAB, "intake_check", ELIGIBLE)   # 18 y, 13 months

    # Assessment by the county psychiatrists (orgLevel county), 5 working days: Mon 9 Nov 18:00.
    assess = task_by_element(after.tasks, "assessment")
    assert_task(assess, "health.psychiatrist", COUNTY, local(2026, 11, 9, 18))
    assert services.tasks_for_user(rehab.at(local(2026, 11, 2, 10)), "psychiatrist_bai") == []  # 涪城区
    assert services.tasks_for_user(rehab.at(local(2026, 11, 2, 10)), REHAB) == []
    with pytest.raises(PermissionDenied):
        services.complete(rehab.at(local(2026, 11, 2, 11)), assess["id"], "psychiatrist_bai", assessment(3))
    after = do(rehab, local(2026, 11, 3, 10), PSYCHIATRIST, "assessment", assessment(3))

    # Record and plan by the station, 3 working days from Tue 3 Nov: Friday 6 Nov 18:00 — missed.
    plan_task = task_by_element(after.tasks, "archive_plan")
    assert_task(plan_task, "dpf.rehab_worker", TOWNSHIP, local(2026, 11, 6, 18))
    assert services.tick(rehab.at(local(2026, 11, 6, 17, 59)))["escalations_raised"] == 0
    assert services.tick(rehab.at(local(2026, 11, 6, 18)))["escalations_raised"] == 1
    level1 = actions.list_escalations(rehab, org=TOWNSHIP)
    assert [(e["level"], e["role"], e["org"], e["task"]) for e in level1] == [
        (1, "dpf.rehab_worker", TOWNSHIP, plan_task["id"])]
    # Level 2 one working day later (Monday 9 Nov 18:00, over the weekend) to the 残联 supervisor
    # of the nearest staffed unit: 江油市.
    assert services.tick(rehab.at(local(2026, 11, 9, 17, 59)))["escalations_raised"] == 0
    assert services.tick(rehab.at(local(2026, 11, 9, 18)))["escalations_raised"] == 1
    queue = {e["level"]: e for e in actions.list_escalations(rehab, org=COUNTY)}
    assert (queue[2]["role"], queue[2]["org"], queue[2]["status"]) == ("dpf.supervisor", COUNTY, "open")
    assert actions.list_escalations(rehab, org="510781002") == []     # 中坝镇 sees nothing of it
    with rehab.db.unit_of_work() as session:
        reminded = list_for_user(session, REHAB, 20, 0)
        supervisor = list_for_user(session, DPF_SUPERVISOR, 20, 0)
    assert [n["title"] for n in reminded] == ["任务到期提醒"]
    assert [n["title"] for n in supervisor] == ["2 级督办：任务超期"]
    acked = actions.acknowledge(rehab.at(local(2026, 11, 10, 8, 30)), queue[2]["id"], DPF_SUPERVISOR,
                                "已电话督促康复站，今日上午完成")
    assert acked["status"] == "acknowledged"
    after = do(rehab, local(2026, 11, 10, 9), REHAB, "archive_plan", plan("yes"))
    assert {e["status"] for e in actions.list_escalations(rehab, status="all")} == {"resolved"}

    # Vocational track: HR & social security (county) records the pastry certificate, 10 working
    # days from Tue 10 Nov: Tuesday 24 Nov 18:00.
    certificate = task_by_element(after.tasks, "vocational_certificate")
    assert_task(certificate, "hrss.employment_officer", COUNTY, local(2026, 11, 24, 18))
    after = do(rehab, local(2026, 11, 23, 10), HRSS, "vocational_certificate", {
        "training_course": "chinese_pastry", "certificate_obtained": "yes",
        "certificate_no": "JY2026-0153", "certificate_date": "2026-11-20",
        "employment_next": "sheltered", "training_notes": "通过考核"})
    assert after.status == "running" and after.tasks == []      # the first 3-month wait

    # Review 1: 3 months after Mon 23 Nov 10:00 → Tue 23 Feb 2027 10:00; 5 working days on the
    # projected 2027 calendar (no official schedule yet: provisional) → Tue 2 Mar 18:00.
    after = review_quarter(rehab, instance, local(2027, 2, 23, 10), local(2027, 3, 2, 18),
                           local(2027, 2, 24, 10), review(4))
    assert after.tasks == []
    # Review 2, 3 months after Wed 24 Feb 10:00: Mon 24 May → due Mon 31 May. Relapse ticked.
    after = review_quarter(rehab, instance, local(2027, 5, 24, 10), local(2027, 5, 31, 18),
                           local(2027, 5, 25, 10), review(4, relapse="yes"))
    referral = task_by_element(after.tasks, "urgent_referral")
    assert_task(referral, "health.psychiatrist", COUNTY, local(2027, 5, 26, 18), provisional=True)
    assert services.tasks_for_user(rehab.at(local(2027, 5, 25, 10)), "psychiatrist_bai") == []
    after = do(rehab, local(2027, 5, 26, 9), PSYCHIATRIST, "urgent_referral", REFERRAL)

    # Back to assessment, then a new plan (no vocational track this time).
    assert_task(task_by_element(after.tasks, "assessment"), "health.psychiatrist", COUNTY,
                local(2027, 6, 2, 18), provisional=True)
    after = do(rehab, local(2027, 5, 27, 10), PSYCHIATRIST, "assessment", assessment(3))
    assert_task(task_by_element(after.tasks, "archive_plan"), "dpf.rehab_worker", TOWNSHIP,
                local(2027, 6, 1, 18), provisional=True)
    after = do(rehab, local(2027, 5, 28, 10), REHAB, "archive_plan", plan("no"))
    assert after.tasks == []

    # Review 3: the timer (Fri 28 May + 3 months) falls on Saturday 28 Aug; 5 working days from a
    # Saturday start on Monday → Friday 3 Sep. Level 3 → 2 is a drop of one: carry on.
    after = review_quarter(rehab, instance, local(2027, 8, 28, 10), local(2027, 9, 3, 18),
                           local(2027, 8, 30, 10), review(2))
    assert after.tasks == []
    # Review 4 (Mon 30 Aug + 3 months = Tue 30 Nov): the fourth and last of this year.
    after = review_quarter(rehab, instance, local(2027, 11, 30, 10), local(2027, 12, 7, 18),
                           local(2027, 12, 1, 10), review(3))

    # The year is complete: the township social worker's survey closes the loop.
    survey = task_by_element(after.tasks, "satisfaction_survey")
    assert_task(survey, "civil.social_worker", TOWNSHIP, local(2027, 12, 8, 18), provisional=True)
    assert services.tasks_for_user(rehab.at(local(2027, 12, 1, 10)), "sw_pan") == []   # 中坝镇
    done = do(rehab, local(2027, 12, 2, 10), SOCIAL_WORKER, "satisfaction_survey", SURVEY)
    assert done.status == "completed"
    assert ended_at(rehab, instance) == ["end_renewal"]

    # Bounded state: four reviews, two assessments, one referral — and nothing left waiting.
    detail = instance_detail(rehab, instance)
    elements = [t["element"] for t in detail["tasks"]]
    assert elements.count("recovery_review") == 4
    assert elements.count("assessment") == 2 and elements.count("urgent_referral") == 1
    assert detail["wake_at"] is None
    assert (detail["data"]["review_count"], detail["data"]["recovery_level"]) == (4, 3)


# --- a drop of two levels, then full recovery ---------------------------------------------------

def test_a_two_level_drop_refers_urgently_and_level_five_closes_as_recovered(rehab):
    monday = local(2026, 12, 14, 9)
    instance = start(rehab, monday).instance
    do(rehab, local(2026, 12, 14, 10), REHAB, "intake_check", {**ELIGIBLE, "age": 45, "severity": "mild"})
    do(rehab, local(2026, 12, 14, 15), PSYCHIATRIST, "assessment", assessment(4))
    after = do(rehab, local(2026, 12, 15, 10), REHAB, "archive_plan", plan("no"))
    assert after.tasks == []

    # 3 months after Tue 15 Dec 10:00: Mon 15 Mar 2027. Level 4 → 2 without relapse ticked.
    after = review_quarter(rehab, instance, local(2027, 3, 15, 10), local(2027, 3, 22, 18),
                           local(2027, 3, 15, 15), review(2))
    referral = task_by_element(after.tasks, "urgent_referral")
    assert_task(referral, "health.psychiatrist", COUNTY, local(2027, 3, 16, 18), provisional=True)
    do(rehab, local(2027, 3, 16, 9), PSYCHIATRIST, "urgent_referral", {
        **REFERRAL, "seen_date": "2027-03-16", "referral_outcome": "observe"})
    do(rehab, local(2027, 3, 16, 11), PSYCHIATRIST, "assessment", assessment(3))
    after = do(rehab, local(2027, 3, 16, 15), REHAB, "archive_plan", plan("no"))
    assert after.tasks == []

    # Next quarter (Tue 16 Mar 15:00 → Wed 16 Jun 15:00): level 5 → survey → closed as recovered.
    after = review_quarter(rehab, instance, local(2027, 6, 16, 15), local(2027, 6, 23, 18),
                           local(2027, 6, 17, 10), review(5))
    survey = task_by_element(after.tasks, "satisfaction_survey")
    assert_task(survey, "civil.social_worker", TOWNSHIP, local(2027, 6, 24, 18), provisional=True)
    done = do(rehab, local(2027, 6, 18, 10), SOCIAL_WORKER, "satisfaction_survey", SURVEY)
    assert done.status == "completed"
    assert ended_at(rehab, instance) == ["end_recovered"]
    assert instance_detail(rehab, instance)["data"]["review_count"] == 2


def test_a_relapse_at_the_fourth_review_is_treated_but_starts_no_fifth_review(rehab):
    instance = start(rehab, local(2026, 12, 14, 9)).instance
    do(rehab, local(2026, 12, 14, 10), REHAB, "intake_check", ELIGIBLE)
    do(rehab, local(2026, 12, 14, 15), PSYCHIATRIST, "assessment", assessment(3))
    do(rehab, local(2026, 12, 15, 10), REHAB, "archive_plan", plan("no"))
    # Each cycle's timer runs 3 months from the end of the previous step: (fires, due, done).
    quarters = [
        (local(2027, 3, 15, 10), local(2027, 3, 22, 18), local(2027, 3, 15, 11), review(3)),
        (local(2027, 6, 15, 11), local(2027, 6, 22, 18), local(2027, 6, 16, 10), review(4)),
        (local(2027, 9, 16, 10), local(2027, 9, 23, 18), local(2027, 9, 16, 11), review(4)),
        (local(2027, 12, 16, 11), local(2027, 12, 23, 18), local(2027, 12, 16, 15), review(4, "yes")),
    ]
    for fires, due, done, data in quarters:
        after = review_quarter(rehab, instance, fires, due, done, data)
    referral = task_by_element(after.tasks, "urgent_referral")
    assert_task(referral, "health.psychiatrist", COUNTY, local(2027, 12, 17, 18), provisional=True)
    do(rehab, local(2027, 12, 17, 9), PSYCHIATRIST, "urgent_referral", {**REFERRAL, "seen_date": "2027-12-17"})
    do(rehab, local(2027, 12, 17, 11), PSYCHIATRIST, "assessment", assessment(2))
    after = do(rehab, local(2027, 12, 17, 15), REHAB, "archive_plan", plan("no"))
    # Four reviews done: the year is over, so the new plan goes to the renewal survey, not to a
    # fifth review cycle; no timer is left to fire.
    assert [t["element"] for t in after.tasks] == ["satisfaction_survey"]
    assert instance_detail(rehab, instance)["wake_at"] is None
    done = do(rehab, local(2027, 12, 20, 10), SOCIAL_WORKER, "satisfaction_survey", SURVEY)
    assert done.status == "completed" and ended_at(rehab, instance) == ["end_renewal"]
    elements = [t["element"] for t in instance_detail(rehab, instance)["tasks"]]
    assert elements.count("recovery_review") == 4 and elements.count("urgent_referral") == 1


# --- forms --------------------------------------------------------------------------------------

def test_assessment_refuses_a_recovery_level_outside_one_to_five(rehab):
    started = start(rehab)
    do(rehab, local(2026, 11, 2, 10), REHAB, "intake_check", ELIGIBLE)
    assess = inbox_task(rehab, local(2026, 11, 2, 11), PSYCHIATRIST, "assessment")
    with pytest.raises(FormInvalid) as refused:
        services.complete(rehab.at(local(2026, 11, 2, 11)), assess["id"], PSYCHIATRIST, assessment(6))
    assert "recovery_level" in refused.value.fields
    # Nothing was applied: the assessment is still open with the psychiatrists.
    assert open_elements(rehab, started.instance) == ["assessment"]
