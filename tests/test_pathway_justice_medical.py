"""Pathway 6: the justice–medical hand-off for a case-involved patient (司法-医疗衔接). Forensic
assessment by the city → treatment rounds and risk assessment by the county psychiatrist (at most
3 high-risk rounds, then a case conference) → rehabilitation at the township → community return
prepared at once by community corrections, the village committee and the family guardian → six
monthly check-ins; a re-offence goes back to forensic assessment, an acute risk back to treatment.
Walked on the demo region (太平村, 太平镇, 江油市, 绵阳市) by moving the engine clock."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.escalation import actions
from engine.people import register_person
from engine.runtime import services

from conftest import SHANGHAI, deploy_pathways, task_by_element

TAIPING_VILLAGE = "510781001001"   # 太平村: where the patient and the guardian live
XINAN_VILLAGE = "510781001002"     # 新安村: another village of the same township
TAIPING = "510781001"              # 太平镇: community corrections, rehabilitation station
JIANGYOU = "510781"                # 江油市: psychiatry, justice bureau supervisor
MIANYANG = "510700"                # 绵阳市: forensic assessment

FORENSIC = {"case_number": "江公刑〔2026〕118号", "assessment_date": "2026-11-05",
            "criminal_responsibility": "limited", "compulsory_treatment": True,
            "forensic_opinion": "偏执型精神分裂症，作案时辨认能力削弱，评定为限定刑事责任能力"}
TREATED = {"treatment_setting": "compulsory_inpatient", "medication": "奥氮平 10mg 每晚一次", "adherence": "good"}
REHAB = {"rehab_record_no": "KF-2026-031", "recovery_grade": "2",
         "rehab_content": ["medication", "relapse_prevention", "family_support"], "rehab_plan": "每周两次服药训练与复发预防小组"}
CORRECTIONS = {"supervision_level": "strict", "reporting_method": "home_visit", "supervision_terms": "每月走访，离开本镇须报告"}
SUPPORT = {"contact_person": "黄主任", "support_measures": ["grid_contact", "living_relief"]}
GUARDIAN = {"guardian_name": "张家属", "guardian_relationship": "parent", "guardian_phone": "13800001234",
            "guardianship_confirmed": True}
MEETING = {"meeting_date": "2026-12-10", "meeting_parties": ["justice", "community", "family", "health"],
           "handover_notes": "监管责任移交太平镇司法所，村医每两周随访"}


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def risk(level: str) -> dict:
    return {"risk_level": level, "risk_basis": f"危险性评估：{level}"}


def checkin(day: datetime, reoffended: bool = False, acute_risk: bool = False) -> dict:
    return {"visit_date": day.date().isoformat(), "reoffended": reoffended, "acute_risk": acute_risk,
            "reoffence_risk": "high" if (reoffended or acute_risk) else "low", "checkin_notes": "按时报到，服药规律"}


@pytest.fixture
def region6(region):
    deploy_pathways(region, "justice_medical")
    register_person(region, "J-1", "王某", TAIPING_VILLAGE, gender="男", birth_date="1988-05-20")
    register_person(region, "J-2", "赵某", XINAN_VILLAGE, gender="男", birth_date="1992-11-03")
    return region


def open_task(ctx, instance_id: int, element: str) -> dict:
    return task_by_element(services.list_tasks(ctx, instance_id=instance_id), element)


def elements(ctx, instance_id: int) -> list[str]:
    return sorted(t["element"] for t in services.list_tasks(ctx, instance_id=instance_id))


def do(ctx, instance_id: int, element: str, username: str, when: datetime, data: dict) -> services.Outcome:
    """The user completes the instance's open task `element` at `when`."""
    return services.complete(ctx.at(when), open_task(ctx, instance_id, element)["id"], username, data)


def start(ctx, ref: str = "J-1", village: str = TAIPING_VILLAGE) -> int:
    return services.start_instance(ctx, "justice_medical", village, {}, person=ref).instance


def to_community_return(ctx, instance: int) -> None:
    """Forensic assessment → one treatment round → low risk → rehabilitation (Nov–Dec 2026)."""
    do(ctx, instance, "forensic_assessment", "forensic_gao", at(11, 5, 10), FORENSIC)
    do(ctx, instance, "treatment", "psychiatrist_zheng", at(11, 30, 10), TREATED)
    do(ctx, instance, "risk_assessment", "psychiatrist_zheng", at(12, 1, 10), risk("low"))
    do(ctx, instance, "rehabilitation", "rehab_luo", at(12, 7, 10), REHAB)


def to_supervision(ctx, instance: int) -> None:
    """…then the three return tasks and the joint meeting on Thursday 10 December, 10:00."""
    to_community_return(ctx, instance)
    do(ctx, instance, "corrections_setup", "corrections_ma", at(12, 8, 10), CORRECTIONS)
    do(ctx, instance, "community_support", "cw_huang", at(12, 8, 11), SUPPORT)
    do(ctx, instance, "guardian_confirm", "guardian_zhang", at(12, 9, 10), GUARDIAN)
    do(ctx, instance, "return_meeting", "corrections_ma", at(12, 10, 10), MEETING)


def checkin_task_at(ctx, instance: int, moment: datetime) -> dict:
    """The month's timer fires at `moment` (not a minute before) and opens the check-in."""
    assert services.tick(ctx.at(moment - timedelta(minutes=1)))["timers_fired"] == 0
    assert elements(ctx, instance) == []
    assert instance in services.tick(ctx.at(moment))["instances"]
    return open_task(ctx, instance, "monthly_checkin")


# --- the main line ---------------------------------------------------------------------------------

def test_low_risk_patient_returns_to_the_community_and_is_supervised_six_months(region6):
    instance = start(region6)

    # 1. 司法精神病鉴定 by the city's forensic assessor, within 10 working days.
    forensic = open_task(region6, instance, "forensic_assessment")
    assert (forensic["role"], forensic["org"], forensic["due_at"]) == (
        "justice.forensic_assessor", MIANYANG, at(11, 16, 18))
    assert [t["id"] for t in services.tasks_for_user(region6, "forensic_gao")] == [forensic["id"]]
    for outsider in ("psychiatrist_zheng", "corrections_ma", "guardian_zhang"):
        assert services.tasks_for_user(region6, outsider) == []
    do(region6, instance, "forensic_assessment", "forensic_gao", at(11, 5, 10), FORENSIC)

    # 2. 治疗记录 and 危险性评估 by the county psychiatrist.
    treatment = open_task(region6, instance, "treatment")
    assert (treatment["role"], treatment["org"], treatment["due_at"]) == (
        "health.psychiatrist", JIANGYOU, at(12, 3, 18))                 # Thu 5 Nov + 20 working days
    assert services.tasks_for_user(region6, "psychiatrist_bai") == []   # 涪城区
    do(region6, instance, "treatment", "psychiatrist_zheng", at(11, 30, 10), TREATED)
    assessment = open_task(region6, instance, "risk_assessment")
    assert (assessment["role"], assessment["due_at"]) == ("health.psychiatrist", at(12, 3, 18))
    do(region6, instance, "risk_assessment", "psychiatrist_zheng", at(12, 1, 10), risk("low"))

    # 3. 社区康复 at 太平镇's rehabilitation station.
    rehab = open_task(region6, instance, "rehabilitation")
    assert (rehab["role"], rehab["org"], rehab["due_at"]) == ("dpf.rehab_worker", TAIPING, at(12, 15, 18))
    assert [t["id"] for t in services.tasks_for_user(region6, "rehab_luo")] == [rehab["id"]]
    do(region6, instance, "rehabilitation", "rehab_luo", at(12, 7, 10), REHAB)

    # 4. Community return: three parties at once, each sees only their own task.
    assert elements(region6, instance) == ["community_support", "corrections_setup", "guardian_confirm"]
    expected = {"corrections_setup": ("justice.community_corrections", TAIPING, "corrections_ma"),
                "community_support": ("civil.community_worker", TAIPING_VILLAGE, "cw_huang"),
                "guardian_confirm": ("family.guardian", TAIPING_VILLAGE, "guardian_zhang")}
    for element, (role, org, user) in expected.items():
        task = open_task(region6, instance, element)
        assert (task["role"], task["org"], task["due_at"]) == (role, org, at(12, 14, 18))
        assert [t["element"] for t in services.tasks_for_user(region6, user)] == [element]
    do(region6, instance, "corrections_setup", "corrections_ma", at(12, 8, 10), CORRECTIONS)
    do(region6, instance, "guardian_confirm", "guardian_zhang", at(12, 8, 15), GUARDIAN)
    assert elements(region6, instance) == ["community_support"]          # the meeting waits for all three
    do(region6, instance, "community_support", "cw_huang", at(12, 9, 10), SUPPORT)
    meeting = open_task(region6, instance, "return_meeting")
    assert (meeting["role"], meeting["org"], meeting["due_at"]) == (
        "justice.community_corrections", TAIPING, at(12, 14, 18))
    do(region6, instance, "return_meeting", "corrections_ma", at(12, 10, 10), MEETING)

    # 5. Six monthly check-ins, each opened one calendar month after the previous one.
    assert elements(region6, instance) == []
    first = checkin_task_at(region6, instance, at(1, 10, 10, year=2027))
    assert (first["role"], first["org"], first["assignee"]) == ("justice.community_corrections", TAIPING, None)
    assert first["due_at"] == at(1, 13, 18, year=2027)                  # Sunday 10 Jan + 3 working days
    moment = at(1, 10, 10, year=2027)
    for month in range(1, 7):
        if month > 1:
            moment = moment.replace(month=moment.month + 1)
            checkin_task_at(region6, instance, moment)
        outcome = do(region6, instance, "monthly_checkin", "corrections_ma", moment, checkin(moment))
        assert outcome.status == ("completed" if month == 6 else "running")
    assert moment == at(6, 10, 10, year=2027)
    history = services.list_tasks(region6, instance_id=instance, status="all")
    assert sum(t["element"] == "monthly_checkin" for t in history) == 6


# --- the treatment loop ----------------------------------------------------------------------------

@pytest.mark.parametrize("decision, next_elements, status", [
    ("long_term_treatment", [], "completed"),
    ("rehabilitation", ["rehabilitation"], "running"),
])
def test_three_high_risk_rounds_go_to_a_case_conference(region6, decision, next_elements, status):
    instance = start(region6)
    do(region6, instance, "forensic_assessment", "forensic_gao", at(11, 5, 10), FORENSIC)
    moment = at(11, 9, 9)
    for round_ in (1, 2, 3):
        assert elements(region6, instance) == ["treatment"], f"round {round_}"
        do(region6, instance, "treatment", "psychiatrist_zheng", moment, TREATED)
        do(region6, instance, "risk_assessment", "psychiatrist_zheng", moment.replace(hour=15), risk("high"))
        moment = moment.replace(day=moment.day + 1)
    treated = [t for t in services.list_tasks(region6, instance_id=instance, status="all") if t["element"] == "treatment"]
    assert len(treated) == 3

    conference = open_task(region6, instance, "case_conference")
    assert (conference["role"], conference["org"], conference["due_at"]) == (
        "justice.supervisor", JIANGYOU, at(11, 18, 18))                 # Wed 11th 15:00 + 5 working days
    assert [t["id"] for t in services.tasks_for_user(region6, "justice_sup_jy")] == [conference["id"]]
    assert services.tasks_for_user(region6, "psychiatrist_zheng") == []
    outcome = do(region6, instance, "case_conference", "justice_sup_jy", at(11, 13, 10),
                 {"conference_date": "2026-11-13", "conference_parties": ["justice", "health", "family"],
                  "conference_decision": decision, "conference_minutes": "三方会商意见一致"})
    assert outcome.status == status
    assert elements(region6, instance) == next_elements


def test_medium_risk_goes_on_to_rehabilitation(region6):
    instance = start(region6)
    do(region6, instance, "forensic_assessment", "forensic_gao", at(11, 5, 10), FORENSIC)
    do(region6, instance, "treatment", "psychiatrist_zheng", at(11, 30, 10), TREATED)
    do(region6, instance, "risk_assessment", "psychiatrist_zheng", at(12, 1, 10), risk("medium"))
    assert elements(region6, instance) == ["rehabilitation"]


# --- back from supervision ------------------------------------------------------------------------

def test_acute_risk_at_a_check_in_starts_a_new_treatment_episode(region6):
    instance = start(region6)
    to_supervision(region6, instance)
    month1 = at(1, 10, 10, year=2027)
    checkin_task_at(region6, instance, month1)
    do(region6, instance, "monthly_checkin", "corrections_ma", month1, checkin(month1, acute_risk=True))
    assert elements(region6, instance) == ["treatment"]
    assert open_task(region6, instance, "treatment")["org"] == JIANGYOU

    # A fresh episode: its rounds count from one again, so two high-risk rounds still mean more
    # treatment (the first episode's round does not count), and the third goes to conference.
    moment = at(1, 11, 9, year=2027)
    for expected in (["treatment"], ["treatment"], ["case_conference"]):
        do(region6, instance, "treatment", "psychiatrist_zheng", moment, TREATED)
        do(region6, instance, "risk_assessment", "psychiatrist_zheng", moment.replace(hour=15), risk("high"))
        assert elements(region6, instance) == expected
        moment = moment.replace(day=moment.day + 1)


def test_re_offence_at_a_check_in_goes_back_to_forensic_assessment(region6):
    instance = start(region6)
    to_supervision(region6, instance)
    month1, month2 = at(1, 10, 10, year=2027), at(2, 10, 10, year=2027)
    checkin_task_at(region6, instance, month1)
    do(region6, instance, "monthly_checkin", "corrections_ma", month1, checkin(month1))
    checkin_task_at(region6, instance, month2)
    do(region6, instance, "monthly_checkin", "corrections_ma", month2, checkin(month2, reoffended=True))

    again = open_task(region6, instance, "forensic_assessment")
    assert (again["role"], again["org"]) == ("justice.forensic_assessor", MIANYANG)
    assert [t["id"] for t in services.tasks_for_user(region6.at(month2), "forensic_gao")] == [again["id"]]
    # Re-offence wins over acute risk when both are reported.
    register_person(region6, "J-3", "孙某", TAIPING_VILLAGE, gender="女", birth_date="1990-02-14")
    second = start(region6, "J-3", TAIPING_VILLAGE)
    to_supervision(region6, second)
    checkin_task_at(region6, second, month1)
    do(region6, second, "monthly_checkin", "corrections_ma", month1, checkin(month1, reoffended=True, acute_risk=True))
    assert elements(region6, second) == ["forensic_assessment"]


# --- who sees what ---------------------------------------------------------------------------------

def test_the_guardian_sees_only_their_own_task_in_their_own_village(region6):
    here, there = start(region6, "J-1", TAIPING_VILLAGE), start(region6, "J-2", XINAN_VILLAGE)
    to_community_return(region6, here)
    to_community_return(region6, there)
    # Both patients are at the community-return stage; 太平村's guardian and village committee
    # see only 太平村's patient, 太平镇's corrections officer sees both villages.
    guardian = services.tasks_for_user(region6, "guardian_zhang")
    assert [(t["instance"], t["element"]) for t in guardian] == [(here, "guardian_confirm")]
    assert [(t["instance"], t["element"]) for t in services.tasks_for_user(region6, "cw_huang")] == [
        (here, "community_support")]
    assert sorted(t["instance"] for t in services.tasks_for_user(region6, "corrections_ma")) == sorted([here, there])
    there_guardian = open_task(region6, there, "guardian_confirm")
    from engine.errors import PermissionDenied
    with pytest.raises(PermissionDenied):
        services.complete(region6.at(at(12, 8, 9)), there_guardian["id"], "guardian_zhang", GUARDIAN)


# --- a missed deadline --------------------------------------------------------------------------

def test_missed_forensic_assessment_deadline_escalates_to_the_city_justice_supervisor(region6):
    instance = start(region6)
    forensic = open_task(region6, instance, "forensic_assessment")
    assert forensic["due_at"] == at(11, 16, 18)                         # Mon 2 Nov + 10 working days

    assert services.tick(region6.at(at(11, 16, 17, 59)))["escalations_raised"] == 0
    services.tick(region6.at(at(11, 16, 18)))
    assert [(r["level"], r["role"], r["org"]) for r in actions.list_escalations(region6, org=MIANYANG)] == [
        (1, "justice.forensic_assessor", MIANYANG)]
    assert services.tick(region6.at(at(11, 17, 17, 59)))["escalations_raised"] == 0
    services.tick(region6.at(at(11, 17, 18)))                           # deadline + 1 working day
    level2 = [r for r in actions.list_escalations(region6, org=MIANYANG) if r["level"] == 2]
    assert [(r["role"], r["org"], r["task"]) for r in level2] == [("justice.supervisor", MIANYANG, forensic["id"])]
    from engine.notify import list_for_user
    with region6.db.unit_of_work() as session:
        assert len(list_for_user(session, "justice_sup_city", 20, 0)) == 1
        assert list_for_user(session, "justice_sup_jy", 20, 0) == []    # the county is below the task
    # The county's queue does not hold a city task's escalation.
    assert actions.list_escalations(region6, org=JIANGYOU) == []

    extended = actions.extend(region6.at(at(11, 18, 9)), forensic["id"], "justice_sup_city", workdays=3,
                              reason="补充调取病历资料")
    assert extended["due_at"] == at(11, 19, 18)                         # 16 Nov + 3 working days
    do(region6, instance, "forensic_assessment", "forensic_gao", at(11, 19, 16), FORENSIC)
    assert {r["status"] for r in actions.list_escalations(region6, org=MIANYANG, status="all")} == {"resolved"}
    assert elements(region6, instance) == ["treatment"]


# --- forms -----------------------------------------------------------------------------------------

def test_submissions_are_checked_against_the_forms(region6):
    """Pending the lead's form validation: completions must satisfy the task's form."""
    from engine.errors import FormInvalid
    instance = start(region6)
    forensic = open_task(region6, instance, "forensic_assessment")
    with pytest.raises(FormInvalid) as refused:
        services.complete(region6, forensic["id"], "forensic_gao", {**FORENSIC, "criminal_responsibility": "partial"})
    assert set(refused.value.fields) == {"criminal_responsibility"}
    to_community_return(region6, instance)
    guardian = open_task(region6, instance, "guardian_confirm")
    with pytest.raises(FormInvalid) as bad_phone:
        services.complete(region6.at(at(12, 8, 9)), guardian["id"], "guardian_zhang",
                          {**GUARDIAN, "guardian_phone": "12345"})
    assert set(bad_phone.value.fields) == {"guardian_phone"}
