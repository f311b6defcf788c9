"""A person's journey across agencies as one timeline (engine.journeys.person_journey), walked on
the demo region with the real pathways: a student's school screening whose remote consult is
missed and escalated, then reassigned, done late and followed by a joint plan whose school half
the supervisor extends; a patient whose diagnosis starts civil-affairs relief by message, so the
journey spans two instances and three agencies. Clock: T0 = Monday 2 November 2026 09:00 Shanghai
(November 2026 has no holidays)."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import event

from engine.errors import NotFound
from engine.escalation import actions
from engine.journeys import person_journey
from engine.people import register_person
from engine.runtime import services, sla
from engine.store.people import person_by_ref

from conftest import SHANGHAI, T0, deploy_pathways, task_by_element
from plans import explain, scans
from test_pathway_diagnosis_relief import CONFIRMED_DIBAO, ELIGIBLE, PLAN, SETTLED

CITY, COUNTY, VILLAGE = "510700", "510781", "510781001001"

SCREEN_POSITIVE = {"student_birth_date": "2010-06-01", "grade": "g9", "screening_date": "2026-11-02",
                   "phq9_score": 15, "phq9_item9": 0, "screening_notes": "近两周上课注意力下降"}
CONSULT_MILD = {"consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作",
                "severity": "mild", "expert_opinion": "视频会诊确认轻度抑郁发作，建议家校医联合干预。"}
PLAN_SCHOOL = {"school_measures": ["individual_counselling", "home_school"], "guardian_consent": True,
               "school_plan_notes": "每周一次个别辅导"}


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def dec(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def person_id(ctx, ref: str) -> int:
    with ctx.db.unit_of_work() as session:
        return person_by_ref(session, ref).id


def open_task(ctx, instance: int, element: str) -> dict:
    return task_by_element(services.list_tasks(ctx, instance_id=instance), element)


def complete(ctx, moment: datetime, username: str, instance: int, element: str, data: dict):
    return services.complete(ctx.at(moment), open_task(ctx, instance, element)["id"], username, data)


def local(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).strftime("%m-%d %H:%M") if moment else None


def rows(journey: dict) -> list[tuple]:
    """(when, kind, instance, element, actor, role, org, on_time, level) of each timeline entry."""
    return [(local(e["at"]), e["kind"], e["instance"], e["element"], e["actor"], e["role"], e["org"],
             e["on_time"], e["level"]) for e in journey["timeline"]]


# --- school screening: a missed consult, escalated, reassigned, done late ------------------------

@pytest.fixture
def student(region):
    """S-1 of 太平村: screened positive Monday 10:00; the city's consult (due Wed 4 Nov 18:00) is
    missed, escalated at the deadline and a working day later, acknowledged and reassigned by the
    city's health supervisor on Friday and done late at 11:00; the joint plan follows."""
    deploy_pathways(region, "school_screening")
    register_person(region, "S-1", "李同学", VILLAGE, gender="女", birth_date="2010-06-01")
    instance = services.start_instance(region.at(T0), "school_screening", VILLAGE, {}, person="S-1").instance
    complete(region, nov(2, 10), "teacher_wang", instance, "screening", SCREEN_POSITIVE)
    consult = open_task(region, instance, "remote_consult")
    assert services.tick(region.at(nov(4, 18)))["escalations_raised"] == 1
    assert services.tick(region.at(nov(5, 18)))["escalations_raised"] == 1
    level2 = [e for e in actions.list_escalations(region) if e["level"] == 2][0]
    actions.acknowledge(region.at(nov(6, 9)), level2["id"], "health_sup_city", "已电话联系会诊专家")
    actions.reassign(region.at(nov(6, 9, 5)), consult["id"], "health_sup_city", to_user="expert_lin",
                     reason="陈明外出，改由林芳会诊")
    services.complete(region.at(nov(6, 11)), consult["id"], "expert_lin", CONSULT_MILD)
    return region, instance


def test_the_timeline_tells_the_late_consult_in_order_with_who_where_and_whether_on_time(student):
    ctx, instance = student
    journey = person_journey(ctx.at(nov(6, 12)), person_id(ctx, "S-1"))

    assert rows(journey) == [
        ("11-02 09:00", "person_registered", None, None, None, None, VILLAGE, None, None),
        ("11-02 09:00", "instance_started", instance, None, None, None, VILLAGE, None, None),
        ("11-02 09:00", "task_created", instance, "screening", None, "education.teacher", VILLAGE, None, None),
        ("11-02 10:00", "task_completed", instance, "screening", "teacher_wang", "education.teacher", VILLAGE,
         True, None),
        ("11-02 10:00", "task_created", instance, "remote_consult", "teacher_wang", "health.mh_center_expert",
         CITY, None, None),
        ("11-04 18:00", "escalation_raised", instance, "remote_consult", None, "health.mh_center_expert", CITY,
         None, 1),
        ("11-05 18:00", "escalation_raised", instance, "remote_consult", None, "health.supervisor", CITY, None, 2),
        ("11-06 09:00", "escalation_acknowledged", instance, "remote_consult", "health_sup_city",
         "health.supervisor", CITY, None, 2),
        ("11-06 09:05", "task_reassigned", instance, "remote_consult", "health_sup_city",
         "health.mh_center_expert", CITY, None, None),
        ("11-06 11:00", "task_completed", instance, "remote_consult", "expert_lin", "health.mh_center_expert",
         CITY, False, None),
        ("11-06 11:00", "task_created", instance, "joint_plan_school", "expert_lin",
         "education.school_psychologist", VILLAGE, None, None),
        ("11-06 11:00", "task_created", instance, "joint_plan_medical", "expert_lin", "health.family_doctor",
         VILLAGE, None, None),
    ]
    timeline = journey["timeline"]
    # Who, in people's names; which agency; the deadline that applied; a sentence to read.
    assert [(e["actor_name"], e["agency"]) for e in timeline if e["actor"]] == [
        ("王老师", "education"), ("王老师", "health"), ("钱卫国", "health"), ("钱卫国", "health"),
        ("林芳", "health"), ("林芳", "education"), ("林芳", "health")]
    assert {e["process_id"] for e in timeline[1:]} == {"school_screening"}
    consult = [e for e in timeline if e["element"] == "remote_consult"]
    assert {e["task"] for e in consult} == {consult[0]["task"]} and consult[0]["task_name"] == "市精神卫生中心远程会诊"
    assert {e["due_at"] for e in consult} == {nov(4, 18)}
    assert [e["org_name"] for e in consult] == ["绵阳市"] * 6
    assert [e["text"] for e in consult] == [
        "新任务「市精神卫生中心远程会诊」：精神卫生中心专家（绵阳市）办理，截止 2026-11-04 18:00",
        "「市精神卫生中心远程会诊」已到截止时间，提醒精神卫生中心专家（绵阳市）",
        "「市精神卫生中心远程会诊」超期，2 级督办：卫健督导（绵阳市）",
        "钱卫国 确认 2 级督办：已电话联系会诊专家",
        "钱卫国 将「市精神卫生中心远程会诊」改派给 林芳：陈明外出，改由林芳会诊",
        "林芳 完成「市精神卫生中心远程会诊」（超期）",
    ]
    assert timeline[0]["text"] == "登记为服务对象（太平村）"
    assert timeline[1]["text"] == "开始「学生心理健康筛查与干预」（太平村）"
    assert timeline[3]["text"] == "王老师 完成「学生心理筛查（PHQ-9）」（按时）"

    assert journey["person"] == {
        "id": person_id(ctx, "S-1"), "ref": "S-1", "name": "李同学", "gender": "女",
        "birth_date": datetime(2010, 6, 1).date(), "org": VILLAGE, "org_name": "太平村", "registered_at": T0}
    assert journey["instances"] == [{
        "instance": instance, "process_id": "school_screening", "pathway_name": "学生心理健康筛查与干预",
        "version": 1, "status": "running", "started_at": T0, "ended_at": None, "org": VILLAGE,
        "org_name": "太平村", "started_by_message": False, "parent": None, "error": None}]


def test_an_extended_deadline_reorders_current_tasks_and_a_completion_within_it_is_on_time(student):
    ctx, instance = student
    pid = person_id(ctx, "S-1")
    school = open_task(ctx, instance, "joint_plan_school")
    medical = open_task(ctx, instance, "joint_plan_medical")
    assert school["due_at"] == medical["due_at"] == nov(13, 18) and school["id"] < medical["id"]
    # The county's education supervisor gives the school half two more working days.
    actions.extend(ctx.at(nov(9, 9)), school["id"], "edu_sup_jy", workdays=2, reason="学生请假，延后制定")

    journey = person_journey(ctx.at(nov(9, 10)), pid)
    assert [(t["element"], t["due_at"], t["overdue"]) for t in journey["current_tasks"]] == [
        ("joint_plan_medical", nov(13, 18), False), ("joint_plan_school", nov(17, 18), False)]
    assert journey["summary"] == {"completed": 2, "late": 1, "open": 2, "overdue": 0}
    extended = journey["timeline"][-1]
    assert (extended["kind"], extended["actor"], extended["role"], extended["due_at"], extended["text"]) == (
        "deadline_extended", "edu_sup_jy", "education.school_psychologist", nov(17, 18),
        "朱教督 将「联合干预方案（学校部分）」截止时间延至 2026-11-17 18:00：学生请假，延后制定")

    # Done on Monday 16th: after the original deadline, within the extended one.
    complete(ctx, nov(16, 10), "psych_liu", instance, "joint_plan_school", PLAN_SCHOOL)
    journey = person_journey(ctx.at(nov(16, 10)), pid)
    done = journey["timeline"][-1]
    assert (done["kind"], done["element"], done["actor_name"], done["due_at"], done["on_time"]) == (
        "task_completed", "joint_plan_school", "刘心", nov(17, 18), True)
    # The doctor's half is still open and its deadline (Fri 13th 18:00) has passed.
    assert [(t["element"], t["overdue"]) for t in journey["current_tasks"]] == [("joint_plan_medical", True)]
    assert journey["summary"] == {"completed": 3, "late": 1, "open": 1, "overdue": 1}


def test_a_paused_sla_clock_is_not_overdue_unless_it_already_was_when_paused(region):
    deploy_pathways(region, "school_screening")
    for ref in ("S-P1", "S-P2"):
        register_person(region, ref, "学生" + ref, VILLAGE)
        services.start_instance(region.at(T0), "school_screening", VILLAGE, {}, person=ref)
    screening = {t["instance"]: t for t in services.list_tasks(region)}
    first, second = sorted(screening)
    assert {t["due_at"] for t in screening.values()} == {nov(9, 18)}
    # S-P1's teacher pauses before the deadline (the student is away), S-P2's only after it.
    sla.pause(region.at(nov(5, 9)), screening[first]["id"], "teacher_wang", "学生请假，暂时联系不上")
    sla.pause(region.at(nov(10, 9)), screening[second]["id"], "teacher_wang", "学生失联")

    paused_in_time = person_journey(region.at(nov(12, 9)), person_id(region, "S-P1"))
    assert paused_in_time["summary"] == {"completed": 0, "late": 0, "open": 1, "overdue": 0}
    assert [(t["element"], t["paused"], t["overdue"]) for t in paused_in_time["current_tasks"]] == [
        ("screening", True, False)]
    assert paused_in_time["timeline"][-1]["text"] == "王老师 暂停「学生心理筛查（PHQ-9）」计时：学生请假，暂时联系不上"
    paused_late = person_journey(region.at(nov(12, 9)), person_id(region, "S-P2"))
    assert paused_late["summary"] == {"completed": 0, "late": 0, "open": 1, "overdue": 1}


# --- diagnosis → relief: two instances, three agencies ------------------------------------------

@pytest.fixture
def patient(region):
    deploy_pathways(region, "diagnosis", "relief")
    register_person(region, "P-A", "张某", VILLAGE, gender="男", birth_date="1979-03-12")
    diagnosis = services.start_instance(region.at(nov(2, 10)), "diagnosis", VILLAGE, {}, person="P-A").instance
    complete(region, nov(2, 10), "psychiatrist_zheng", diagnosis, "diagnose", CONFIRMED_DIBAO)
    return region, diagnosis


def test_a_diagnosis_that_starts_relief_makes_one_journey_across_two_instances(patient):
    ctx, diagnosis = patient
    pid = person_id(ctx, "P-A")
    journey = person_journey(ctx.at(nov(2, 11)), pid)
    relief = journey["instances"][1]["instance"]
    assert [(i["instance"], i["process_id"], i["pathway_name"], i["started_by_message"], i["parent"], i["status"])
            for i in journey["instances"]] == [
        (diagnosis, "diagnosis", "门诊诊断与治疗", False, None, "running"),
        (relief, "relief", "民政医疗救助", True, diagnosis, "running")]
    # Both open tasks, one per agency, soonest deadline first.
    assert [(t["instance"], t["element"], t["due_at"], t["overdue"]) for t in journey["current_tasks"]] == [
        (diagnosis, "treatment_plan", nov(4, 18), False), (relief, "verify_eligibility", nov(5, 18), False)]

    complete(ctx, nov(3, 9), "psychiatrist_zheng", diagnosis, "treatment_plan", PLAN)
    complete(ctx, nov(3, 10), "relief_wu", relief, "verify_eligibility", ELIGIBLE)
    complete(ctx, nov(11, 15), "mi_he", relief, "settlement", SETTLED)          # due Tue 10th: late
    complete(ctx, nov(12, 9), "relief_wu", relief, "approve_relief",
             {"approved_relief_amount": 1800, "approval_opinion": "低保家庭，按结算核准"})
    journey = person_journey(ctx.at(nov(12, 10)), pid)

    assert rows(journey) == [
        ("11-02 09:00", "person_registered", None, None, None, None, VILLAGE, None, None),
        ("11-02 10:00", "instance_started", diagnosis, None, None, None, VILLAGE, None, None),
        ("11-02 10:00", "task_created", diagnosis, "diagnose", None, "health.psychiatrist", COUNTY, None, None),
        ("11-02 10:00", "task_completed", diagnosis, "diagnose", "psychiatrist_zheng", "health.psychiatrist",
         COUNTY, True, None),
        ("11-02 10:00", "task_created", diagnosis, "treatment_plan", "psychiatrist_zheng", "health.psychiatrist",
         COUNTY, None, None),
        ("11-02 10:00", "message_thrown", diagnosis, None, "psychiatrist_zheng", None, VILLAGE, None, None),
        ("11-02 10:00", "instance_started", relief, None, None, None, VILLAGE, None, None),
        ("11-02 10:00", "task_created", relief, "verify_eligibility", None, "civil.relief_officer", COUNTY,
         None, None),
        ("11-02 10:00", "message_delivered", relief, None, None, None, VILLAGE, None, None),
        ("11-03 09:00", "task_completed", diagnosis, "treatment_plan", "psychiatrist_zheng",
         "health.psychiatrist", COUNTY, True, None),
        ("11-03 10:00", "task_completed", relief, "verify_eligibility", "relief_wu", "civil.relief_officer",
         COUNTY, True, None),
        ("11-03 10:00", "task_created", relief, "settlement", "relief_wu", "medical_insurance.settlement_officer",
         COUNTY, None, None),
        ("11-11 15:00", "task_completed", relief, "settlement", "mi_he", "medical_insurance.settlement_officer",
         COUNTY, False, None),
        ("11-11 15:00", "task_created", relief, "approve_relief", "mi_he", "civil.relief_officer", COUNTY,
         None, None),
        ("11-12 09:00", "task_completed", relief, "approve_relief", "relief_wu", "civil.relief_officer", COUNTY,
         True, None),
        ("11-12 09:00", "message_thrown", relief, None, "relief_wu", None, VILLAGE, None, None),
        ("11-12 09:00", "instance_completed", relief, None, "relief_wu", None, VILLAGE, None, None),
        ("11-12 09:00", "task_created", diagnosis, "adjust_treatment", None, "health.psychiatrist", COUNTY,
         None, None),
        ("11-12 09:00", "message_delivered", diagnosis, None, None, None, VILLAGE, None, None),
    ]
    timeline = journey["timeline"]
    assert [e["agency"] for e in timeline if e["kind"] == "task_completed"] == [
        "health", "health", "civil", "medical_insurance", "civil"]
    assert [e["text"] for e in timeline if e["kind"].startswith(("message", "instance"))] == [
        "开始「门诊诊断与治疗」（太平村）",
        "发出消息「确诊低收入患者」",
        "收到消息「确诊低收入患者」，开始「民政医疗救助」（太平村）",
        "收到消息「确诊低收入患者」",
        "发出消息「救助结果」",
        "「民政医疗救助」结束",
        "收到消息「救助结果」",
    ]
    assert [i["status"] for i in journey["instances"]] == ["running", "completed"]
    assert journey["instances"][1]["ended_at"] == nov(12, 9)
    assert [(t["instance"], t["element"]) for t in journey["current_tasks"]] == [(diagnosis, "adjust_treatment")]
    assert journey["summary"] == {"completed": 5, "late": 1, "open": 1, "overdue": 0}


def test_a_fired_timer_is_named_in_the_timeline(patient):
    ctx, diagnosis = patient
    complete(ctx, nov(2, 16), "psychiatrist_zheng", diagnosis, "treatment_plan", PLAN)
    # No relief result within 20 working days (Mon 30 Nov 18:00): the social worker chases.
    services.tick(ctx.at(nov(30, 18)))
    journey = person_journey(ctx.at(dec(1, 9)), person_id(ctx, "P-A"))
    fired = [e for e in journey["timeline"] if e["kind"] == "timer_fired"]
    assert [(local(e["at"]), e["instance"], e["element"], e["actor"], e["org"], e["text"]) for e in fired] == [
        ("11-30 18:00", diagnosis, "relief_overdue", None, VILLAGE, "定时事件「20 个工作日未收到结果」触发")]
    after = journey["timeline"][journey["timeline"].index(fired[0]) + 1]
    assert (after["kind"], after["element"], after["role"], after["due_at"]) == (
        "task_created", "chase_relief", "health.medical_social_worker", dec(2, 18))


# --- refusals and cost ---------------------------------------------------------------------------

def test_an_unknown_person_is_not_found_and_a_new_one_has_only_their_registration(region):
    with pytest.raises(NotFound, match="人员 4242 不存在"):
        person_journey(region, 4242)
    register_person(region.at(nov(3, 9)), "P-NEW", "赵某", VILLAGE)
    journey = person_journey(region.at(nov(3, 10)), person_id(region, "P-NEW"))
    assert rows(journey) == [("11-03 09:00", "person_registered", None, None, None, None, VILLAGE, None, None)]
    assert (journey["instances"], journey["current_tasks"]) == ([], [])
    assert journey["summary"] == {"completed": 0, "late": 0, "open": 0, "overdue": 0}


def test_the_journey_takes_a_fixed_handful_of_indexed_queries_however_long_it_is(student):
    ctx, instance = student
    pid = person_id(ctx, "S-1")
    statements: list[tuple[str, object]] = []

    def listener(conn, cursor, statement, params, context, many):
        statements.append((statement, params))

    def count() -> tuple[int, int]:
        statements.clear()
        event.listen(ctx.db.engine, "before_cursor_execute", listener)
        try:
            journey = person_journey(ctx.at(dec(20, 9)), pid)
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", listener)
        return len(statements), len(journey["timeline"])

    short = count()
    complete(ctx, nov(9, 10), "psych_liu", instance, "joint_plan_school", PLAN_SCHOOL)
    complete(ctx, nov(9, 11), "fdoc_zhou", instance, "joint_plan_medical", {
        "medical_plan": "家庭医生每两周随访一次", "medication": "specialist", "next_visit_date": "2026-11-19"})
    complete(ctx, nov(10, 10), "psych_liu", instance, "school_intervention", {
        "intervention_types": ["individual"], "sessions_per_week": 2, "intervention_start": "2026-11-10"})
    assert services.tick(ctx.at(dec(10, 10)))["timers_fired"] == 1        # the monthly review
    complete(ctx, dec(11, 10), "psych_liu", instance, "intervention_review", {
        "intervention_status": "continue", "sessions_held": 8,
        "intervention_review_notes": "本月完成个别辅导 8 次，情绪稳定。"})
    long = count()
    assert long[1] >= short[1] + 7                     # more events...
    print(f"journey queries: {short[0]} for {short[1]} entries, {long[0]} for {long[1]}")
    assert long[0] == short[0] <= 8, statements        # ...the same few queries
    # The events of the person's instances come from the instance index, not a scan.
    sql, params = next((s, p) for s, p in statements if "FROM events" in s)
    with ctx.db.engine.connect() as connection:
        plan = explain(connection, sql, params)
    assert "ix_events_instance_id" in plan and not scans(plan, "events"), plan
