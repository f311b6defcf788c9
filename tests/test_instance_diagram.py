"""An instance's diagram state (engine.journeys.instance_diagram): the BPMN deployed with its
version, and which elements the token passed (completed), waits at (active) and which of those
are user tasks past their deadline at the engine clock (overdue). Call activities run inside the
calling instance: the called pathway's elements are reported under its own process id, with its
own BPMN. Walked on the demo region with the real pathways; T0 = Monday 2 November 2026 09:00."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.errors import NotFound
from engine.journeys import instance_diagram
from engine.pathways import deploy_files
from engine.people import register_person
from engine.runtime import services

from conftest import BPMN, PATHWAYS, SHANGHAI, T0, deploy_pathways, task_by_element
from pathway_steps import do

TOWNSHIP, VILLAGE = "510781001", "510781001001"

SCREEN = {"student_birth_date": "2010-06-01", "grade": "g9", "screening_date": "2026-11-02",
          "phq9_item9": 0, "screening_notes": "近两周上课注意力下降"}
CONSULT_MILD = {"consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作",
                "severity": "mild", "expert_opinion": "视频会诊确认轻度抑郁发作，建议家校医联合干预。"}
PLAN_SCHOOL = {"school_measures": ["individual_counselling"], "guardian_consent": True,
               "school_plan_notes": "每周一次个别辅导"}
CONFIRMED_DIBAO = {"diagnosis_result": "confirmed", "icd10_code": "F20.0", "diagnosis_name": "偏执型精神分裂症",
                   "severity": "severe", "household_type": "dibao", "consent_share_civil": True}
PLAN = {"treatment_setting": "outpatient", "medication_plan": "利培酮 2mg 每日两次", "follow_up_interval": "1m"}
CHASE = {"contact_date": "2026-12-01", "contact_method": "phone", "civil_reply": "资料已补齐，今日审批"}


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def source(process_id: str) -> str:
    return (PATHWAYS / f"{process_id}.bpmn").read_text(encoding="utf-8")


def open_task(ctx, instance: int, element: str) -> dict:
    return task_by_element(services.list_tasks(ctx, instance_id=instance), element)


def complete(ctx, moment: datetime, username: str, instance: int, element: str, data: dict):
    return services.complete(ctx.at(moment), open_task(ctx, instance, element)["id"], username, data)


# --- school screening: one process, user tasks, gateways, a parallel join ------------------------

@pytest.fixture
def school(region):
    deploy_pathways(region, "school_screening")
    register_person(region, "S-1", "李同学", VILLAGE)
    return region


def screened(ctx, score: int) -> int:
    instance = services.start_instance(ctx.at(T0), "school_screening", VILLAGE, {}, person="S-1").instance
    complete(ctx, at(11, 2, 10), "teacher_wang", instance, "screening", {**SCREEN, "phq9_score": score})
    return instance


def test_a_consult_waiting_past_its_deadline_is_active_then_overdue(school):
    instance = screened(school, 15)
    consult = open_task(school, instance, "remote_consult")

    on_time = instance_diagram(school.at(at(11, 4, 18)), instance)      # at the deadline: not yet late
    assert on_time["markers"] == {"completed": ["gw_screen_positive", "screening", "start_screening"],
                                  "active": ["remote_consult"], "overdue": [], "error": []}
    assert on_time["elements"]["remote_consult"] == {
        "name": "市精神卫生中心远程会诊", "type": "User Task", "state": "active", "count": 0,
        "due_at": at(11, 4, 18), "completed_at": None, "by": None, "task": consult["id"], "status": "open",
        "assignee": None}
    screening = task_by_element(services.list_tasks(school, instance_id=instance, status="all"), "screening")
    assert on_time["elements"]["screening"] == {
        "name": "学生心理筛查（PHQ-9）", "type": "User Task", "state": "completed", "count": 1,
        "due_at": at(11, 9, 18), "completed_at": at(11, 2, 10), "by": "teacher_wang",
        "task": screening["id"], "status": "completed", "assignee": "teacher_wang"}
    assert on_time["elements"]["gw_screen_positive"]["type"] == "Exclusive Gateway"
    assert "end_negative" not in on_time["elements"]               # a path not taken is not marked

    late = instance_diagram(school.at(at(11, 4, 18, 1)), instance)
    assert (late["markers"]["active"], late["markers"]["overdue"]) == (["remote_consult"], ["remote_consult"])
    assert late["elements"]["remote_consult"]["state"] == "overdue"
    assert late["now"] == at(11, 4, 18, 1)

    # The deployed BPMN comes with it, and the instance's identity; no other instance is linked.
    assert late["xml"] == source("school_screening")
    assert (late["instance"], late["process_id"], late["pathway_name"], late["version"], late["status"],
            late["org"], late["org_name"], late["parent"], late["children"]) == (
        instance, "school_screening", "学生心理健康筛查与干预", 1, "running", VILLAGE, "太平村", None, [])
    assert late["markers_by_process"] == {"school_screening": late["markers"]}
    assert late["xml_by_process"] == {"school_screening": late["xml"]}


def test_a_parallel_join_waits_for_the_other_agency(school):
    instance = screened(school, 15)
    complete(school, at(11, 3, 10), "expert_chen", instance, "remote_consult", CONSULT_MILD)
    complete(school, at(11, 4, 10), "psych_liu", instance, "joint_plan_school", PLAN_SCHOOL)

    diagram = instance_diagram(school.at(at(11, 10, 9)), instance)   # the doctor's half is due Tue 10th
    assert diagram["markers"] == {
        "completed": ["fork_joint_plan", "gw_confirmed", "gw_screen_positive", "joint_plan_school",
                      "remote_consult", "screening", "start_screening"],
        "active": ["join_joint_plan", "joint_plan_medical"], "overdue": [], "error": []}
    consult = diagram["elements"]["remote_consult"]
    assert (consult["state"], consult["by"], consult["completed_at"], consult["due_at"]) == (
        "completed", "expert_chen", at(11, 3, 10), at(11, 4, 18))
    assert diagram["elements"]["join_joint_plan"]["type"] == "Parallel Gateway"


def test_a_finished_instance_is_all_completed(school):
    instance = screened(school, 6)                                  # negative: the pathway ends
    diagram = instance_diagram(school.at(at(11, 20, 9)), instance)
    assert diagram["status"] == "completed" and diagram["ended_at"] == at(11, 2, 10)
    assert diagram["markers"] == {"completed": ["end_negative", "gw_screen_positive", "screening",
                                                "start_screening"],
                                  "active": [], "overdue": [], "error": []}


# --- diagnosis → relief: message catch, boundary timer, linked instances -----------------------

@pytest.fixture
def patient(region):
    deploy_pathways(region, "diagnosis", "relief")
    register_person(region, "P-A", "张某", VILLAGE)
    instance = services.start_instance(region.at(at(11, 2, 10)), "diagnosis", VILLAGE, {}, person="P-A").instance
    complete(region, at(11, 2, 10), "psychiatrist_zheng", instance, "diagnose", CONFIRMED_DIBAO)
    complete(region, at(11, 2, 16), "psychiatrist_zheng", instance, "treatment_plan", PLAN)
    return region, instance


def test_waiting_for_a_message_with_a_timer_then_the_timer_fires_and_the_chase_goes_late(patient):
    ctx, diagnosis = patient
    waiting = instance_diagram(ctx.at(at(11, 20, 9)), diagnosis)
    relief = waiting["children"][0]
    assert waiting["children"] == [relief] and waiting["parent"] is None
    assert waiting["markers"] == {
        "completed": ["decide_relief", "diagnose", "gw_await_relief", "gw_confirmed", "gw_relief", "merge_plan",
                      "merge_wait", "notify_civil", "start", "treatment_plan"],
        "active": ["relief_overdue", "wait_relief"], "overdue": [], "error": []}
    timer = waiting["elements"]["relief_overdue"]
    assert (timer["type"], timer["name"], timer["state"], timer["due_at"], timer["completed_at"]) == (
        "Interrupting Timer Boundary Event", "20 个工作日未收到结果", "active", at(11, 30, 18), None)
    assert waiting["elements"]["wait_relief"]["type"] == "Receive Task"
    assert waiting["elements"]["notify_civil"]["type"] == "Message Intermediate Throw Event"

    # The relief case the diagnosis's message started knows where it came from.
    started = instance_diagram(ctx.at(at(11, 20, 9)), relief)
    assert (started["process_id"], started["parent"], started["children"]) == ("relief", diagnosis, [])
    assert started["xml"] == source("relief")
    assert started["markers"]["active"] == started["markers"]["overdue"] == ["verify_eligibility"]

    services.tick(ctx.at(at(11, 30, 18)))
    fired = instance_diagram(ctx.at(at(12, 2, 18)), diagnosis)
    assert fired["markers"]["active"] == ["chase_relief"] and fired["markers"]["overdue"] == []
    assert {"relief_overdue", "merge_wait", "treatment_plan"} <= set(fired["markers"]["completed"])
    assert "wait_relief" not in fired["markers"]["completed"]          # interrupted, not completed
    assert fired["elements"]["wait_relief"]["state"] == "cancelled"
    timer = fired["elements"]["relief_overdue"]
    assert (timer["state"], timer["completed_at"], timer["due_at"]) == ("completed", at(11, 30, 18), None)

    late = instance_diagram(ctx.at(at(12, 2, 18, 1)), diagnosis)
    assert late["markers"]["overdue"] == ["chase_relief"]
    complete(ctx, at(12, 3, 9), "msw_chen", diagnosis, "chase_relief", CHASE)
    chased = instance_diagram(ctx.at(at(12, 3, 9)), diagnosis)
    assert chased["elements"]["chase_relief"] == {
        "name": "催办民政救助", "type": "User Task", "state": "completed", "count": 1, "due_at": at(12, 2, 18),
        "completed_at": at(12, 3, 9), "by": "msw_chen", "task": chased["elements"]["chase_relief"]["task"],
        "status": "completed", "assignee": "msw_chen"}
    # Waiting again, with the timer armed anew: passed once, active again.
    assert chased["markers"]["active"] == ["relief_overdue", "wait_relief"]
    timer = chased["elements"]["relief_overdue"]
    assert (timer["state"], timer["count"], timer["completed_at"]) == ("active", 1, at(11, 30, 18))
    assert timer["due_at"] == at(12, 31, 18)                          # 20 working days from Thu 3 Dec


# --- care_chain: call activities and an embedded, event-triggered sub-process --------------------

SCREEN_POSITIVE = {"contact_date": "2026-11-02", "contact_type": "home_visit",
                   "literacy_topics": ["depression_signs", "help_seeking"], "resident_age": 46, "phq9_score": 14,
                   "phq9_item9": 0, "doctor_concern": "no", "screen_notes": "近两月失眠、兴趣减退"}
REFERRAL = {"referral_urgency": "routine", "referral_reason": "PHQ-9 14 分，失眠、兴趣减退两个月",
            "symptom_months": 2, "appointment_date": "2026-11-04", "consent_referral": True}
TEAM = {"family_member_name": "张家属", "family_member_relation": "spouse", "family_member_phone": "13800001234",
        "team_village_doctor": "赵村医", "team_social_worker": "唐社工", "team_consent": "yes"}
DIAGNOSED_CARE = {"treatment_setting": "outpatient", "medication_plan": "舍曲林 50mg 每日一次", "follow_up_interval": "1m"}


@pytest.fixture
def chain(region):
    deploy_pathways(region, "care_chain", "diagnosis", "relief", "community_rehab")
    register_person(region, "CC-1", "王某", VILLAGE)
    return region


def diagnosed(ctx, severity: str, icd10: str, name: str) -> int:
    instance = services.start_instance(ctx.at(T0), "care_chain", VILLAGE, {}, person="CC-1").instance
    do(ctx, at(11, 2, 10), "vdoc_zhao", "prevention_screen", SCREEN_POSITIVE)
    do(ctx, at(11, 3, 10), "fdoc_zhou", "referral", REFERRAL)
    do(ctx, at(11, 4, 10), "psychiatrist_zheng", "diagnose", {
        "diagnosis_result": "confirmed", "icd10_code": icd10, "diagnosis_name": name, "severity": severity,
        "household_type": "none"})
    do(ctx, at(11, 4, 15), "psychiatrist_zheng", "treatment_plan", DIAGNOSED_CARE)
    return instance


def test_called_pathways_are_reported_under_their_own_process_with_their_own_bpmn(chain):
    instance = diagnosed(chain, "severe", "F20.0", "偏执型精神分裂症")      # severe: rehabilitation is called
    diagram = instance_diagram(chain.at(at(11, 10, 9)), instance)

    assert sorted(diagram["markers_by_process"]) == ["care_chain", "community_rehab", "diagnosis"]
    assert diagram["markers"] == diagram["markers_by_process"]["care_chain"] == {
        "completed": ["call_diagnosis", "gw_confirmed", "gw_rehab", "gw_risk", "prevention_screen", "referral",
                      "start"],
        "active": ["call_rehab"], "overdue": [], "error": []}
    assert diagram["markers_by_process"]["diagnosis"] == {
        "completed": ["decide_relief", "diagnose", "end_plan_only", "gw_await_relief", "gw_confirmed",
                      "gw_relief", "merge_plan", "start", "treatment_plan"],
        "active": [], "overdue": [], "error": []}
    # The rehabilitation intake appeared Wed 4 Nov 15:00, due in 3 working days (Mon 9th 18:00).
    assert diagram["markers_by_process"]["community_rehab"] == {
        "completed": ["start"], "active": ["intake_check"], "overdue": ["intake_check"], "error": []}

    # Same element id in two pathways, two different elements.
    care_gw = diagram["elements_by_process"]["care_chain"]["gw_confirmed"]
    diagnosis_gw = diagram["elements_by_process"]["diagnosis"]["gw_confirmed"]
    assert (care_gw["type"], diagnosis_gw["type"]) == ("Exclusive Gateway", "Exclusive Gateway")
    diagnose = diagram["elements_by_process"]["diagnosis"]["diagnose"]
    assert (diagnose["by"], diagnose["completed_at"]) == ("psychiatrist_zheng", at(11, 4, 10))
    assert "diagnose" not in diagram["elements"]
    assert diagram["elements"]["call_diagnosis"]["type"] == "Call Activity"
    intake = diagram["elements_by_process"]["community_rehab"]["intake_check"]
    assert (intake["state"], intake["due_at"], intake["status"]) == ("overdue", at(11, 9, 18), "open")

    # Each diagram comes with the file it was deployed from.
    assert diagram["xml_by_process"] == {pid: source(pid) for pid in ("care_chain", "community_rehab",
                                                                       "diagnosis")}
    assert diagram["xml"] == source("care_chain")
    assert (diagram["parent"], diagram["children"]) == (None, [])


def test_an_embedded_event_subprocess_stays_on_the_calling_pathways_diagram(chain):
    instance = diagnosed(chain, "moderate", "F32.1", "中度抑郁发作")        # no rehabilitation
    do(chain, at(11, 5, 10), "sw_tang", "form_team", TEAM)               # the monthly cycle is armed
    services.tick(chain.at(at(12, 5, 10)))                               # the first visit falls due

    diagram = instance_diagram(chain.at(at(12, 5, 11)), instance)
    assert sorted(diagram["markers_by_process"]) == ["care_chain", "diagnosis"]
    markers = diagram["markers"]
    assert markers["active"] == ["monthly_visit", "team_visit", "team_year", "visit_due"]
    assert {"form_team", "gw_consent", "merge_reintegration", "team_year_start"} <= set(markers["completed"])
    assert "call_rehab" not in diagram["elements"]
    cycle = diagram["elements"]["visit_due"]
    # The cycle timer fired once (5 Dec) and waits for the next month (5 Jan 2027).
    assert (cycle["type"], cycle["state"], cycle["completed_at"], cycle["due_at"]) == (
        "Timer Start Event", "active", at(12, 5, 10), at(1, 5, 10, year=2027))
    assert (diagram["elements"]["team_year"]["type"], diagram["elements"]["monthly_visit"]["type"]) == (
        "Subprocess", "Subprocess")
    visit = diagram["elements"]["team_visit"]
    assert (visit["state"], visit["due_at"], visit["task"]) == (
        "active", at(12, 9, 18), open_task(chain, instance, "team_visit")["id"])


# --- errors and refusals ------------------------------------------------------------------------

def test_an_instance_in_error_marks_the_element_that_failed(region):
    deploy_files(region, [BPMN / "scored_referral.bpmn"])
    started = services.start_instance(region, "scored_referral", TOWNSHIP, {})
    failed = services.complete(region, started.tasks[0]["id"], "fdoc_zhou", {"note": "phq9 missing"})
    assert failed.status == "error"
    diagram = instance_diagram(region, started.instance)
    assert diagram["status"] == "error" and diagram["error"]["element"] == "score"
    assert diagram["markers"] == {"completed": ["assess", "start"], "active": [], "overdue": [], "error": ["score"]}
    assert diagram["elements"]["score"]["state"] == "error"


def test_an_unknown_instance_is_not_found(region):
    with pytest.raises(NotFound, match="实例 999 不存在"):
        instance_diagram(region, 999)
