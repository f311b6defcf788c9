"""学生心理健康筛查与干预 (pathways/school_screening.bpmn), walked as its users would:

a township class teacher screens a student of 太平村 (PHQ-9); a positive screen goes to the city
mental-health centre's experts for a remote consult within 2 working days; not confirmed → the
school psychology teacher talks with the student; confirmed → a joint plan by the school
psychology teacher and the family doctor in parallel; severe → the county psychiatrist, reviewed
monthly until recovery; mild/moderate → school-based intervention, reviewed monthly; after
recovery the county HR & social-security bureau recommends sheltered employment when the student
is 16 or older; then a social worker follows up monthly until social function has recovered or
six follow-ups are done. A consult left undone climbs the default escalation ladder.

Clock: T0 = Monday 2026-11-02 09:00 Shanghai; November 2026 has no holidays. Deadlines written
`${workdays(N)}` end at 18:00 of the Nth working day after the day the task appears.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine import people
from engine.errors import PermissionDenied, TaskNotOpen
from engine.escalation import actions
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import SHANGHAI, T0, deploy_pathways

PROCESS = "school_screening"
CITY, COUNTY, TOWNSHIP, VILLAGE = "510700", "510781", "510781001", "510781001001"
PROVINCE = "510000"


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return local(2026, 11, day, hour, minute)


# --- form submissions (each valid for its form in forms/school_screening/) ---------------------

def screening_form(score: int, item9: int = 0, born: str = "2010-12-15") -> dict:
    return {"student_birth_date": born, "grade": "g9", "screening_date": "2026-11-02",
            "phq9_score": score, "phq9_item9": item9, "screening_notes": "近两周上课注意力下降"}


def consult_confirmed(severity: str) -> dict:
    return {"consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作",
            "severity": severity, "expert_opinion": "视频会诊确认抑郁发作，建议家校医联合干预。"}


CONSULT_NOT_CONFIRMED = {"consult_mode": "phone", "consult_result": "not_confirmed",
                         "expert_opinion": "情绪低落与近期考试压力相关，未达诊断标准。"}
TALK = {"talk_date": "2026-11-04", "talk_summary": "与学生面谈，压力来源为考试，已教授放松方法。",
        "watch_next_screening": True}
PLAN_SCHOOL = {"school_measures": ["individual_counselling", "home_school"], "guardian_consent": True,
               "school_plan_notes": "每周一次个别辅导"}
PLAN_MEDICAL = {"medical_plan": "家庭医生每两周随访一次，评估睡眠与情绪。", "medication": "specialist",
                "next_visit_date": "2026-11-19"}
REFERRAL = {"visit_date": "2026-11-06", "referral_diagnosis": "重度抑郁发作", "icd10_code": "F32.2",
            "treatment_setting": "outpatient", "treatment_plan": "舍曲林治疗，配合认知行为治疗，每两周复诊。"}
INTERVENTION = {"intervention_types": ["individual", "family"], "sessions_per_week": 2,
                "intervention_start": "2026-11-06"}


def treatment_review(status: str) -> dict:
    return {"treatment_status": status, "treatment_review_notes": "情绪与睡眠明显改善，按时服药。"}


def intervention_review(status: str) -> dict:
    return {"intervention_status": status, "sessions_held": 8,
            "intervention_review_notes": "本月完成个别辅导 8 次，情绪稳定。"}


EMPLOYMENT = {"employment_decision": "recommended", "employer": "江油市阳光庇护工场", "job_title": "烘焙学徒"}


def social_followup(recovered: bool) -> dict:
    return {"visit_mode": "home", "psp_score": 78 if recovered else 55,
            "recovered_social_function": recovered, "followup_notes": "入户随访，了解学习、家庭与交友情况。"}


# --- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def school(region):
    deploy_pathways(region, PROCESS)
    return region


def start(ctx, ref: str, born: str) -> int:
    people.register_person(ctx, ref, "李同学", VILLAGE, gender="女", birth_date=born)
    return services.start_instance(ctx, PROCESS, VILLAGE, {}, person=ref).instance


def inbox(ctx, moment: datetime, username: str) -> list[str]:
    return [t["element"] for t in services.tasks_for_user(ctx.at(moment), username)]


def the_task(ctx, moment: datetime, username: str, element: str) -> dict:
    found = [t for t in services.tasks_for_user(ctx.at(moment), username) if t["element"] == element]
    assert len(found) == 1, f"{username} should hold one {element!r}, has {inbox(ctx, moment, username)}"
    return found[0]


def complete(ctx, moment: datetime, username: str, element: str, data: dict) -> services.Outcome:
    task = the_task(ctx, moment, username, element)
    return services.complete(ctx.at(moment), task["id"], username, data)


def owner(task: dict) -> tuple:
    return task["role"], task["org"], task["status"], task["assignee"], task["candidate_roles"]


def open_elements(outcome: services.Outcome) -> list[str]:
    return sorted(t["element"] for t in outcome.tasks)


def variables(ctx, instance: int) -> dict:
    return instance_detail(ctx, instance)["data"]


def plus_one_month(moment: datetime) -> datetime:
    year, month = divmod(moment.month, 12)
    return moment.replace(year=moment.year + year, month=month + 1)


def wait_for_timer(ctx, due: datetime, username: str, element: str) -> dict:
    """Nothing a minute before the timer; at it, one tick fires it and the task is in the inbox."""
    assert services.tick(ctx.at(due - timedelta(minutes=1)))["timers_fired"] == 0
    assert element not in inbox(ctx, due, username)
    assert services.tick(ctx.at(due))["timers_fired"] == 1
    return the_task(ctx, due, username, element)


def workdays_close(ctx, moment: datetime, n: int) -> datetime:
    """For deadlines in 2027, whose official schedule is not published: the engine's calendar."""
    return ctx.calendar().add_workdays(moment, n).at


def through_joint_plan(ctx, ref: str, born: str, severity: str) -> int:
    """Screened positive Monday 10:00, confirmed by the experts Tuesday 10:00, both halves of the
    joint plan done by Thursday 10:00."""
    instance = start(ctx, ref, born)
    complete(ctx, nov(2, 10), "teacher_wang", "screening", screening_form(18))
    complete(ctx, nov(3, 10), "expert_chen", "remote_consult", consult_confirmed(severity))
    complete(ctx, nov(4, 10), "psych_liu", "joint_plan_school", PLAN_SCHOOL)
    complete(ctx, nov(5, 10), "fdoc_zhou", "joint_plan_medical", PLAN_MEDICAL)
    return instance


# --- the walks ---------------------------------------------------------------------------------

def test_negative_screen_ends_at_the_school(school):
    instance = start(school, "S-NEG", "2011-04-02")
    screening = the_task(school, T0, "teacher_wang", "screening")
    assert owner(screening) == ("education.teacher", VILLAGE, "open", None, ["education.teacher"])
    assert screening["form_key"] == "school_screening/screening.form"
    assert screening["due_at"] == nov(9, 18)              # 5 working days: Tue 3 … Mon 9, 18:00
    assert screening["remaining"]["text"] == "还剩 5 个工作日"
    # Jurisdiction: teachers of another township (中坝镇) or county (涪城区) do not see it.
    assert inbox(school, T0, "teacher_li") == [] and inbox(school, T0, "teacher_song") == []

    done = complete(school, nov(2, 11), "teacher_wang", "screening", screening_form(6))
    assert (done.status, done.tasks) == ("completed", [])
    assert variables(school, instance)["phq9_score"] == 6
    assert inbox(school, nov(2, 11), "expert_chen") == []


def test_self_harm_item_alone_is_positive_and_an_unconfirmed_case_ends_with_a_talk(school):
    instance = start(school, "S-TALK", "2011-04-02")
    after = complete(school, nov(2, 10), "teacher_wang", "screening", screening_form(7, item9=1))
    consult = after.tasks[0]
    assert open_elements(after) == ["remote_consult"]
    # orgLevel=city: the city mental-health centre takes the consult for the village's student.
    assert owner(consult) == ("health.mh_center_expert", CITY, "open", None, ["health.mh_center_expert"])
    assert consult["due_at"] == nov(4, 18)                # within 2 working days: Tue 3, Wed 4
    assert inbox(school, nov(2, 10), "expert_chen") == ["remote_consult"]
    assert inbox(school, nov(2, 10), "expert_lin") == ["remote_consult"]
    assert inbox(school, nov(2, 10), "teacher_wang") == []

    after = complete(school, nov(3, 9), "expert_lin", "remote_consult", CONSULT_NOT_CONFIRMED)
    talk = after.tasks[0]
    assert open_elements(after) == ["followup_talk"]
    assert owner(talk) == ("education.school_psychologist", VILLAGE, "open", None,
                           ["education.school_psychologist"])
    assert talk["due_at"] == nov(10, 18)                  # Wed 4 … Tue 10
    assert inbox(school, nov(3, 9), "psych_fang") == []   # 中坝镇's psychology teacher

    done = complete(school, nov(4, 15), "psych_liu", "followup_talk", TALK)
    assert done.status == "completed"
    history = {(t["element"], t["status"], t["completed_by"])
               for t in services.list_tasks(school, instance_id=instance, status="all")}
    assert history == {("screening", "completed", "teacher_wang"),
                       ("remote_consult", "completed", "expert_lin"),
                       ("followup_talk", "completed", "psych_liu")}


def test_severe_case_referral_monthly_treatment_employment_and_follow_ups_until_recovered(school):
    # Born 15 Dec 2010: 15 at the screening, 16 when treatment ends in January 2027.
    instance = start(school, "S-SEVERE", "2010-12-15")
    complete(school, nov(2, 10), "teacher_wang", "screening", screening_form(18))

    consult = the_task(school, nov(3, 10), "expert_chen", "remote_consult")
    services.claim(school.at(nov(3, 10)), consult["id"], "expert_chen")
    assert inbox(school, nov(3, 10), "expert_lin") == []  # claimed by a colleague
    after = services.complete(school.at(nov(3, 10)), consult["id"], "expert_chen", consult_confirmed("severe"))

    # Joint plan: two tasks at once, one per agency, each due in 5 working days (Wed 4 … Tue 10).
    assert open_elements(after) == ["joint_plan_medical", "joint_plan_school"]
    plans = {t["element"]: t for t in after.tasks}
    assert owner(plans["joint_plan_school"])[:2] == ("education.school_psychologist", VILLAGE)
    assert owner(plans["joint_plan_medical"])[:2] == ("health.family_doctor", VILLAGE)
    assert {t["due_at"] for t in after.tasks} == {nov(10, 18)}
    assert inbox(school, nov(3, 10), "psych_liu") == ["joint_plan_school"]
    assert inbox(school, nov(3, 10), "fdoc_zhou") == ["joint_plan_medical"]
    assert inbox(school, nov(3, 10), "fdoc_deng") == []   # 中坝镇's family doctor
    with pytest.raises(PermissionDenied):
        services.complete(school.at(nov(3, 11)), plans["joint_plan_medical"]["id"], "psych_liu", PLAN_MEDICAL)

    half = complete(school, nov(4, 10), "psych_liu", "joint_plan_school", PLAN_SCHOOL)
    assert open_elements(half) == ["joint_plan_medical"]  # the parallel join waits for the doctor
    after = complete(school, nov(5, 10), "fdoc_zhou", "joint_plan_medical", PLAN_MEDICAL)

    referral = after.tasks[0]
    assert open_elements(after) == ["psychiatric_referral"]
    assert owner(referral) == ("health.psychiatrist", COUNTY, "open", None, ["health.psychiatrist"])
    assert referral["due_at"] == nov(10, 18)              # 3 working days: Fri 6, Mon 9, Tue 10
    assert inbox(school, nov(5, 10), "psychiatrist_bai") == []   # 涪城区's psychiatrist
    after = complete(school, nov(6, 15), "psychiatrist_zheng", "psychiatric_referral", REFERRAL)
    assert after.tasks == []                              # treatment for a month

    review = wait_for_timer(school, local(2026, 12, 6, 15), "psychiatrist_zheng", "treatment_review")
    assert owner(review)[:2] == ("health.psychiatrist", COUNTY)
    assert review["due_at"] == local(2026, 12, 11, 18)    # appears Sunday: Mon 7 … Fri 11
    complete(school, local(2026, 12, 7, 10), "psychiatrist_zheng", "treatment_review", treatment_review("continue"))

    review = wait_for_timer(school, local(2027, 1, 7, 10), "psychiatrist_zheng", "treatment_review")
    assert review["due_at"] == local(2027, 1, 14, 18)     # Fri 8 … Thu 14
    assert review["due_provisional"] is True              # 2027's official schedule is not imported yet
    after = complete(school, local(2027, 1, 8, 10), "psychiatrist_zheng", "treatment_review",
                     treatment_review("recovered"))

    # Recovered at 16 (age counted on the engine clock when treatment ends): sheltered employment.
    assert variables(school, instance)["student_age"] == 16
    employment = after.tasks[0]
    assert open_elements(after) == ["employment_recommendation"]
    assert owner(employment) == ("hrss.employment_officer", COUNTY, "open", None, ["hrss.employment_officer"])
    assert employment["due_at"] == local(2027, 1, 22, 18)  # 10 working days: Mon 11 … Fri 22
    after = complete(school, local(2027, 1, 11, 10), "hrss_li", "employment_recommendation", EMPLOYMENT)
    assert after.tasks == []

    # Monthly social-work follow-up until social function has recovered (here: the second visit).
    followup = wait_for_timer(school, local(2027, 2, 11, 10), "sw_tang", "social_followup")
    assert owner(followup) == ("civil.social_worker", VILLAGE, "open", None, ["civil.social_worker"])
    assert followup["due_at"] == workdays_close(school, local(2027, 2, 11, 10), 5)
    assert inbox(school, local(2027, 2, 11, 10), "sw_pan") == []   # 中坝镇's social worker
    complete(school, local(2027, 2, 12, 10), "sw_tang", "social_followup", social_followup(False))
    wait_for_timer(school, local(2027, 3, 12, 10), "sw_tang", "social_followup")
    done = complete(school, local(2027, 3, 15, 10), "sw_tang", "social_followup", social_followup(True))

    assert done.status == "completed"
    assert variables(school, instance)["followups_done"] == 2
    assert services.tick(school.at(local(2027, 4, 15, 10)))["timers_fired"] == 0
    elements = [t["element"] for t in services.list_tasks(school, instance_id=instance, status="all")]
    assert elements == ["screening", "remote_consult", "joint_plan_school", "joint_plan_medical",
                        "psychiatric_referral", "treatment_review", "treatment_review",
                        "employment_recommendation", "social_followup", "social_followup"]


def test_mild_case_school_intervention_under_16_skips_employment_and_stops_after_six_follow_ups(school):
    # Born 1 Sep 2012: 14 when the intervention ends, so no employment recommendation.
    instance = start(school, "S-MILD", "2012-09-01")
    complete(school, nov(2, 10), "teacher_wang", "screening", {**screening_form(12), "student_birth_date": "2012-09-01"})
    after = complete(school, nov(3, 10), "expert_lin", "remote_consult", consult_confirmed("mild"))
    assert open_elements(after) == ["joint_plan_medical", "joint_plan_school"]
    complete(school, nov(4, 10), "fdoc_zhou", "joint_plan_medical", PLAN_MEDICAL)    # doctor first this time
    after = complete(school, nov(4, 11), "psych_liu", "joint_plan_school", PLAN_SCHOOL)

    intervention = after.tasks[0]
    assert open_elements(after) == ["school_intervention"]
    assert owner(intervention)[:2] == ("education.school_psychologist", VILLAGE)
    assert intervention["due_at"] == nov(11, 18)          # Thu 5 … Wed 11
    assert inbox(school, nov(4, 11), "psychiatrist_zheng") == []
    complete(school, nov(5, 10), "psych_liu", "school_intervention", INTERVENTION)

    review = wait_for_timer(school, local(2026, 12, 5, 10), "psych_liu", "intervention_review")
    assert review["due_at"] == local(2026, 12, 11, 18)    # appears Saturday: Mon 7 … Fri 11
    complete(school, local(2026, 12, 7, 10), "psych_liu", "intervention_review", intervention_review("continue"))
    wait_for_timer(school, local(2027, 1, 7, 10), "psych_liu", "intervention_review")
    after = complete(school, local(2027, 1, 8, 10), "psych_liu", "intervention_review",
                     intervention_review("recovered"))

    assert after.tasks == []                              # straight to the social-work follow-ups
    assert variables(school, instance)["student_age"] == 14
    assert inbox(school, local(2027, 1, 8, 10), "hrss_li") == []

    completed_at = local(2027, 1, 8, 10)
    for visit in range(1, 7):
        appears = plus_one_month(completed_at)
        followup = wait_for_timer(school, appears, "sw_tang", "social_followup")
        assert followup["due_at"] == workdays_close(school, appears, 5)
        completed_at = appears + timedelta(days=1)
        outcome = complete(school, completed_at, "sw_tang", "social_followup", social_followup(False))
        assert outcome.status == ("completed" if visit == 6 else "running")

    assert variables(school, instance)["followups_done"] == 6
    assert services.tick(school.at(plus_one_month(completed_at)))["timers_fired"] == 0
    elements = [t["element"] for t in services.list_tasks(school, instance_id=instance, status="all")]
    assert "employment_recommendation" not in elements and "psychiatric_referral" not in elements
    assert elements.count("social_followup") == 6 and elements.count("intervention_review") == 2


def test_missed_consult_climbs_the_default_ladder_to_the_city_supervisor(school):
    instance = start(school, "S-LATE", "2010-06-01")
    complete(school, T0, "teacher_wang", "screening", screening_form(15))
    consult = the_task(school, T0, "expert_chen", "remote_consult")
    assert consult["due_at"] == nov(4, 18)

    def tick(moment):
        return services.tick(school.at(moment))["escalations_raised"]

    assert tick(nov(4, 17, 59)) == 0
    assert tick(nov(4, 18)) == 1                          # level 1 at the deadline: remind the experts
    assert tick(nov(4, 18)) == 0                          # idempotent
    assert the_task(school, nov(5, 9), "expert_chen", "remote_consult")["remaining"]["overdue"] is True
    assert tick(nov(5, 17, 59)) == 0
    assert tick(nov(5, 18)) == 1                          # level 2: due + 1 working day
    assert tick(nov(9, 17, 59)) == 0                      # (the weekend does not count)
    assert tick(nov(9, 18)) == 1                          # level 3: due + 3 working days

    queue = {e["level"]: e for e in actions.list_escalations(school)}
    assert {level: (e["role"], e["org"], e["raised_at"]) for level, e in queue.items()} == {
        1: ("health.mh_center_expert", CITY, nov(4, 18)),
        2: ("health.supervisor", CITY, nov(5, 18)),       # nearest health supervisor at/above the city
        3: ("health.supervisor", PROVINCE, nov(9, 18)),   # one unit further up
    }
    raised = {e["level"]: e["recipients"] for e in instance_detail(school, instance)["events"]
              if e["kind"] == "escalation_raised"}
    assert raised == {1: ["expert_chen", "expert_lin"], 2: ["health_sup_city"], 3: ["health_sup_prov"]}
    # The county's queue holds nothing of a city task; its supervisor was not notified.
    assert actions.list_escalations(school, org=COUNTY) == []
    from engine.notify import list_for_user
    with school.db.unit_of_work() as session:
        city = list_for_user(session, "health_sup_city", 20, 0)
        county = list_for_user(session, "health_sup_jy", 20, 0)
    assert len(city) == 1 and "超过截止时间" in city[0]["body"] and county == []

    # The city supervisor works the queue: acknowledges, hands the consult to 林芳.
    with pytest.raises(PermissionDenied):
        actions.acknowledge(school, queue[2]["id"], "health_sup_jy")
    actions.acknowledge(school.at(nov(10, 9)), queue[2]["id"], "health_sup_city", "已电话联系会诊专家")
    moved = actions.reassign(school.at(nov(10, 9)), consult["id"], "health_sup_city",
                             to_user="expert_lin", reason="陈明外出，改由林芳会诊")
    assert (moved["status"], moved["assignee"]) == ("claimed", "expert_lin")
    assert inbox(school, nov(10, 9), "expert_chen") == []
    with pytest.raises(TaskNotOpen):
        services.claim(school.at(nov(10, 9)), consult["id"], "expert_chen")
    after = complete(school, nov(10, 11), "expert_lin", "remote_consult", CONSULT_NOT_CONFIRMED)
    assert open_elements(after) == ["followup_talk"]
    assert {e["status"] for e in actions.list_escalations(school, status="all")} == {"resolved"}


def test_an_invalid_screening_is_refused_naming_the_field(school):
    from engine.errors import FormInvalid   # arrives with server-side form validation

    start(school, "S-BAD", "2011-04-02")
    screening = the_task(school, T0, "teacher_wang", "screening")
    with pytest.raises(FormInvalid) as refused:
        services.complete(school, screening["id"], "teacher_wang", screening_form(30))   # PHQ-9 max is 27
    assert "phq9_score" in refused.value.fields
    assert inbox(school, T0, "teacher_wang") == ["screening"]
    assert inbox(school, T0, "expert_chen") == []

    # Severity is hidden unless the diagnosis is confirmed; once confirmed, it is required.
    complete(school, nov(2, 10), "teacher_wang", "screening", screening_form(14))
    consult = the_task(school, nov(3, 10), "expert_chen", "remote_consult")
    unsure = {k: v for k, v in consult_confirmed("severe").items() if k != "severity"}
    with pytest.raises(FormInvalid) as refused:
        services.complete(school.at(nov(3, 10)), consult["id"], "expert_chen", unsure)
    assert list(refused.value.fields) == ["severity"]
    assert inbox(school, nov(3, 10), "expert_chen") == ["remote_consult"]
