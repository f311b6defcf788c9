"""Pathway 5: a county psychiatrist's confirmed diagnosis of a low-income patient who consents
starts civil-affairs relief by itself (确诊即触发救助); relief and medical insurance are settled in
one stop (一站式结算); the result flows back into the same person's treatment. Walked on the demo
region (江油市, 太平镇) by moving the engine clock through November 2026 (no holidays)."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.escalation import actions
from engine.people import register_person
from engine.runtime import services
from engine.runtime.instances import load
from engine.store.people import instances_of_person, person_by_ref

from conftest import SHANGHAI, deploy_pathways, task_by_element

TAIPING_VILLAGE = "510781001001"   # 太平村: where patient A lives
XINAN_VILLAGE = "510781001002"     # 新安村: where patient B lives
JIANGYOU = "510781"                # 江油市: the county psychiatry clinic, civil affairs and medical insurance

CONFIRMED_DIBAO = {"diagnosis_result": "confirmed", "icd10_code": "F20.0", "diagnosis_name": "偏执型精神分裂症",
                   "severity": "severe", "household_type": "dibao", "consent_share_civil": True}
PLAN = {"treatment_setting": "outpatient", "medication_plan": "利培酮 2mg 每日两次", "follow_up_interval": "1m"}
ELIGIBLE = {"eligibility": "eligible", "assistance_cert_no": "DB-510781-0042"}
SETTLED = {"settlement_no": "JS20261104001", "total_cost": 6000, "insurance_paid": 3600,
           "relief_paid": 1800, "out_of_pocket": 600}


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def region5(region):
    deploy_pathways(region, "diagnosis", "relief")
    register_person(region, "P-A", "张某", TAIPING_VILLAGE, gender="男", birth_date="1979-03-12")
    register_person(region, "P-B", "李某", XINAN_VILLAGE, gender="女", birth_date="1985-07-30")
    return region


def inbox(ctx, username: str) -> list[tuple[str, str]]:
    return sorted((t["process"], t["element"]) for t in services.tasks_for_user(ctx, username))


def open_task(ctx, instance_id: int, element: str) -> dict:
    return task_by_element(services.list_tasks(ctx, instance_id=instance_id), element)


def task_data(ctx, instance_id: int, element: str) -> dict:
    with ctx.db.unit_of_work() as session:
        _, workflow = load(ctx, session, instance_id)
        return dict(workflow.get_tasks(spec_name=element)[-1].data)


def journey(ctx, ref: str) -> list[tuple[str, int]]:
    """(pathway, instance) of everything that carried the person so far, in start order."""
    with ctx.db.unit_of_work() as session:
        person = person_by_ref(session, ref)
        return [(i.process_id, i.id) for i in instances_of_person(session, person.id)]


def relief_instance_of(ctx, ref: str) -> int:
    found = [instance for process, instance in journey(ctx, ref) if process == "relief"]
    assert len(found) == 1, found
    return found[0]


def diagnose(ctx, ref: str, village: str, when: datetime, data: dict) -> tuple[int, services.Outcome]:
    """Step 1, 门诊诊断: the instance starts at the person's village; the task sits at the county."""
    started = services.start_instance(ctx.at(when), "diagnosis", village, {}, person=ref)
    task = task_by_element(started.tasks, "diagnose")
    return started.instance, services.complete(ctx.at(when), task["id"], "psychiatrist_zheng", data)


# --- branches of the diagnosis pathway -------------------------------------------------------------

def test_diagnosis_is_a_county_psychiatrist_task_due_in_3_working_days(region5):
    started = services.start_instance(region5, "diagnosis", TAIPING_VILLAGE, {}, person="P-A")
    task = task_by_element(started.tasks, "diagnose")
    assert (task["role"], task["org"], task["form_key"]) == (
        "health.psychiatrist", JIANGYOU, "diagnosis/diagnose.form")
    assert task["due_at"] == at(11, 5, 18)                  # Mon 09:00 + 3 working days: Thu 18:00
    assert [t["id"] for t in services.tasks_for_user(region5, "psychiatrist_zheng")] == [task["id"]]
    assert services.tasks_for_user(region5, "psychiatrist_zheng")[0]["remaining"]["text"] == "还剩 3 个工作日"
    # 涪城区's psychiatrist and 太平镇's own mental-health doctor do not see a 江油市 clinic task.
    assert services.tasks_for_user(region5, "psychiatrist_bai") == []
    assert services.tasks_for_user(region5, "mhdoc_qian") == []


def test_not_confirmed_ends_the_pathway(region5):
    instance, outcome = diagnose(region5, "P-A", TAIPING_VILLAGE, at(11, 2, 10),
                                 {"diagnosis_result": "not_confirmed", "diagnosis_notes": "症状不符合诊断标准，两周后复诊"})
    assert (outcome.status, outcome.tasks) == ("completed", [])
    assert journey(region5, "P-A") == [("diagnosis", instance)]
    assert services.tasks_for_user(region5, "relief_wu") == []


@pytest.mark.parametrize("household, consent", [("none", None), ("dibao", False)],
                         ids=["not-low-income", "low-income-without-consent"])
def test_confirmed_without_relief_gets_a_plan_and_ends(region5, household, consent):
    data = {**CONFIRMED_DIBAO, "household_type": household}
    data.pop("consent_share_civil")
    if consent is not None:
        data["consent_share_civil"] = consent
    instance, outcome = diagnose(region5, "P-A", TAIPING_VILLAGE, at(11, 2, 10), data)
    plan = task_by_element(outcome.tasks, "treatment_plan")
    assert (plan["role"], plan["org"], plan["due_at"]) == ("health.psychiatrist", JIANGYOU, at(11, 4, 18))

    done = services.complete(region5.at(at(11, 3, 9)), plan["id"], "psychiatrist_zheng", PLAN)
    assert (done.status, done.tasks) == ("completed", [])
    # Nothing reached civil affairs: the person's journey is this diagnosis alone.
    assert journey(region5, "P-A") == [("diagnosis", instance)]
    assert services.tasks_for_user(region5, "relief_wu") == []


# --- diagnosis → relief → result back ------------------------------------------------------------

def test_relief_result_returns_to_the_same_persons_treatment(region5):
    # Both patients are diagnosed on Monday; each diagnosis triggers its own relief case.
    diag_a, after_a = diagnose(region5, "P-A", TAIPING_VILLAGE, at(11, 2, 10), CONFIRMED_DIBAO)
    diag_b, after_b = diagnose(region5, "P-B", XINAN_VILLAGE, at(11, 2, 11),
                               {**CONFIRMED_DIBAO, "icd10_code": "F32.2", "diagnosis_name": "重度抑郁发作",
                                "household_type": "tekun"})
    assert [t["element"] for t in after_a.tasks] == ["treatment_plan"]
    relief_a, relief_b = relief_instance_of(region5, "P-A"), relief_instance_of(region5, "P-B")

    # The relief case starts at the person's village and its tasks sit with 江油市 civil affairs.
    verify_b = open_task(region5, relief_b, "verify_eligibility")
    assert (verify_b["role"], verify_b["org"], verify_b["due_at"]) == ("civil.relief_officer", JIANGYOU, at(11, 5, 18))
    assert inbox(region5, "relief_wu") == [("relief", "verify_eligibility")] * 2
    assert services.tasks_for_user(region5, "relief_zheng") == []       # 涪城区 civil affairs
    received = task_data(region5, relief_b, "verify_eligibility")
    assert {k: received[k] for k in ("person_ref", "icd10_code", "severity", "household_type")} == {
        "person_ref": "P-B", "icd10_code": "F32.2", "severity": "severe", "household_type": "tekun"}

    # Treatment does not wait for relief: both plans are made, then both instances wait.
    for instance in (diag_a, diag_b):
        plan = open_task(region5, instance, "treatment_plan")
        waiting = services.complete(region5.at(at(11, 3, 9)), plan["id"], "psychiatrist_zheng", PLAN)
        assert (waiting.status, waiting.tasks) == ("running", [])

    # B's relief: eligible → one-stop settlement by 医保 → relief officer approves the amount.
    services.complete(region5.at(at(11, 3, 10)), verify_b["id"], "relief_wu", ELIGIBLE)
    settle = open_task(region5, relief_b, "settlement")
    assert (settle["role"], settle["org"], settle["due_at"]) == (
        "medical_insurance.settlement_officer", JIANGYOU, at(11, 10, 18))   # Tue + 5 working days
    assert inbox(region5, "mi_he") == [("relief", "settlement")]
    assert inbox(region5, "relief_wu") == [("relief", "verify_eligibility")]   # A's case only
    services.complete(region5.at(at(11, 5, 15)), settle["id"], "mi_he", SETTLED)
    approve = open_task(region5, relief_b, "approve_relief")
    assert (approve["role"], approve["org"], approve["due_at"]) == ("civil.relief_officer", JIANGYOU, at(11, 9, 18))
    done = services.complete(region5.at(at(11, 6, 9)), approve["id"], "relief_wu",
                             {"approved_relief_amount": 2000, "approval_opinion": "特困供养人员，全额救助自付部分"})
    assert done.status == "completed"

    # The result lands in B's treatment, never in A's.
    adjust = open_task(region5, diag_b, "adjust_treatment")
    assert (adjust["role"], adjust["org"], adjust["due_at"]) == ("health.psychiatrist", JIANGYOU, at(11, 11, 18))
    assert services.list_tasks(region5, instance_id=diag_a) == []
    back = task_data(region5, diag_b, "adjust_treatment")
    assert {k: back[k] for k in ("person_ref", "relief_approved", "total_cost", "insurance_paid",
                                 "relief_paid", "out_of_pocket")} == {
        "person_ref": "P-B", "relief_approved": True, "total_cost": 6000, "insurance_paid": 3600,
        "relief_paid": 2000, "out_of_pocket": 400}
    finished = services.complete(region5.at(at(11, 9, 10)), adjust["id"], "psychiatrist_zheng",
                                 {"adjustment": "switch_medication", "adjustment_notes": "改用医保目录内药品，自付降低",
                                  "family_informed": True})
    assert finished.status == "completed"

    # A's relief then runs through and reaches A.
    services.complete(region5.at(at(11, 9, 11)), open_task(region5, relief_a, "verify_eligibility")["id"],
                      "relief_wu", ELIGIBLE)
    services.complete(region5.at(at(11, 9, 14)), open_task(region5, relief_a, "settlement")["id"], "mi_he",
                      {**SETTLED, "settlement_no": "JS20261109007"})
    services.complete(region5.at(at(11, 10, 9)), open_task(region5, relief_a, "approve_relief")["id"], "relief_wu",
                      {"approved_relief_amount": 1800, "approval_opinion": "低保家庭，按结算核准"})
    assert [t["element"] for t in services.list_tasks(region5, instance_id=diag_a)] == ["adjust_treatment"]
    assert task_data(region5, diag_a, "adjust_treatment")["out_of_pocket"] == 600


def test_not_eligible_result_flows_back_with_the_reason(region5):
    diag, _ = diagnose(region5, "P-A", TAIPING_VILLAGE, at(11, 2, 10), CONFIRMED_DIBAO)
    relief = relief_instance_of(region5, "P-A")
    # The result arrives while the plan is still being written: it is kept until treatment waits.
    verify = open_task(region5, relief, "verify_eligibility")
    ended = services.complete(region5.at(at(11, 2, 15)), verify["id"], "relief_wu",
                              {"eligibility": "not_eligible", "ineligible_reason": "低保资格已于 2026 年 9 月终止"})
    assert ended.status == "completed"
    assert services.tasks_for_user(region5, "mi_he") == []               # no settlement without eligibility
    assert [t["element"] for t in services.list_tasks(region5, instance_id=diag)] == ["treatment_plan"]

    plan = open_task(region5, diag, "treatment_plan")
    services.complete(region5.at(at(11, 3, 9)), plan["id"], "psychiatrist_zheng", PLAN)
    adjust = open_task(region5, diag, "adjust_treatment")
    assert adjust["due_at"] == at(11, 6, 18)
    back = task_data(region5, diag, "adjust_treatment")
    assert (back["relief_approved"], back["relief_reason"], back["relief_paid"]) == (
        False, "低保资格已于 2026 年 9 月终止", None)


def test_no_result_in_20_working_days_the_social_worker_chases(region5):
    diag, _ = diagnose(region5, "P-A", TAIPING_VILLAGE, at(11, 2, 10), CONFIRMED_DIBAO)
    plan = open_task(region5, diag, "treatment_plan")
    services.complete(region5.at(at(11, 2, 16)), plan["id"], "psychiatrist_zheng", PLAN)

    # 20 working days from Monday 2 November: Monday 30 November, 18:00.
    assert services.tick(region5.at(at(11, 30, 17, 59)))["timers_fired"] == 0
    assert services.list_tasks(region5, instance_id=diag) == []
    fired = services.tick(region5.at(at(11, 30, 18)))
    assert diag in fired["instances"]
    chase = open_task(region5, diag, "chase_relief")
    assert (chase["role"], chase["org"], chase["due_at"]) == (
        "health.medical_social_worker", JIANGYOU, at(12, 2, 18))
    assert inbox(region5, "msw_chen") == [("diagnosis", "chase_relief")]
    assert services.tasks_for_user(region5, "msw_yu") == []              # 涪城区's social worker

    # Civil affairs reacts to the call while the chase is still open: the result is kept...
    relief = relief_instance_of(region5, "P-A")
    services.complete(region5.at(at(12, 1, 9)), open_task(region5, relief, "verify_eligibility")["id"],
                      "relief_wu", ELIGIBLE)
    services.complete(region5.at(at(12, 1, 11)), open_task(region5, relief, "settlement")["id"], "mi_he", SETTLED)
    services.complete(region5.at(at(12, 1, 14)), open_task(region5, relief, "approve_relief")["id"], "relief_wu",
                      {"approved_relief_amount": 1800, "approval_opinion": "同意"})
    assert [t["element"] for t in services.list_tasks(region5, instance_id=diag)] == ["chase_relief"]

    # ...and delivered as soon as the chase is recorded and the pathway waits again.
    services.complete(region5.at(at(12, 1, 16)), chase["id"], "msw_chen",
                      {"contact_date": "2026-12-01", "contact_method": "phone", "civil_reply": "资料已补齐，今日审批"})
    adjust = open_task(region5, diag, "adjust_treatment")
    assert adjust["due_at"] == at(12, 4, 18)
    assert task_data(region5, diag, "adjust_treatment")["relief_paid"] == 1800


def test_missed_settlement_deadline_escalates_to_the_county_medical_insurance_supervisor(region5):
    diag, _ = diagnose(region5, "P-A", TAIPING_VILLAGE, at(11, 2, 10), CONFIRMED_DIBAO)
    services.complete(region5.at(at(11, 2, 16)), open_task(region5, diag, "treatment_plan")["id"],
                      "psychiatrist_zheng", PLAN)
    relief = relief_instance_of(region5, "P-A")
    services.complete(region5.at(at(11, 3, 9, 30)), open_task(region5, relief, "verify_eligibility")["id"],
                      "relief_wu", ELIGIBLE)
    settle = open_task(region5, relief, "settlement")
    assert settle["due_at"] == at(11, 10, 18)                      # Tue 3rd + 5 working days

    assert services.tick(region5.at(at(11, 10, 17, 59)))["escalations_raised"] == 0
    services.tick(region5.at(at(11, 10, 18)))                      # level 1: remind the settlement officers
    levels = {r["level"]: r for r in actions.list_escalations(region5, org=JIANGYOU)}
    assert sorted(levels) == [1] and (levels[1]["role"], levels[1]["org"]) == (
        "medical_insurance.settlement_officer", JIANGYOU)

    assert services.tick(region5.at(at(11, 11, 17, 59)))["escalations_raised"] == 0
    services.tick(region5.at(at(11, 11, 18)))                      # level 2: deadline + 1 working day
    level2 = [r for r in actions.list_escalations(region5, org=JIANGYOU) if r["level"] == 2]
    assert [(r["role"], r["org"], r["task"]) for r in level2] == [
        ("medical_insurance.supervisor", JIANGYOU, settle["id"])]
    from engine.notify import list_for_user
    with region5.db.unit_of_work() as session:
        assert len(list_for_user(session, "mi_sup_jy", 20, 0)) == 1
        assert list_for_user(session, "civil_sup_jy", 20, 0) == []  # another agency's supervisor
    # Another county's supervisors see nothing of it.
    assert actions.list_escalations(region5, org="510703") == []

    acked = actions.acknowledge(region5.at(at(11, 12, 9)), level2[0]["id"], "mi_sup_jy", "已督促当日结算")
    assert acked["status"] == "acknowledged"
    services.complete(region5.at(at(11, 12, 11)), settle["id"], "mi_he", SETTLED)
    assert actions.list_escalations(region5, org=JIANGYOU) == []
    assert {r["status"] for r in actions.list_escalations(region5, org=JIANGYOU, status="all")} == {"resolved"}
    assert [t["element"] for t in services.list_tasks(region5, instance_id=relief)] == ["approve_relief"]


def test_relief_starts_only_from_a_diagnosis(region5):
    from engine.errors import InvalidInput
    with pytest.raises(InvalidInput, match="确诊低收入患者"):
        services.start_instance(region5, "relief", TAIPING_VILLAGE, {"person_ref": "P-A"})


# --- forms ---------------------------------------------------------------------------------------

def test_submissions_are_checked_against_the_forms(region5):
    """Pending the lead's form validation: completions must satisfy the task's form."""
    from engine.errors import FormInvalid
    started = services.start_instance(region5, "diagnosis", TAIPING_VILLAGE, {}, person="P-A")
    task = task_by_element(started.tasks, "diagnose")
    with pytest.raises(FormInvalid) as refused:
        services.complete(region5, task["id"], "psychiatrist_zheng", {**CONFIRMED_DIBAO, "icd10_code": "20.0"})
    assert set(refused.value.fields) == {"icd10_code"}
    # The refusal changed nothing: the same task is still open and can be completed correctly.
    assert open_task(region5, started.instance, "diagnose")["id"] == task["id"]
    after = services.complete(region5, task["id"], "psychiatrist_zheng", CONFIRMED_DIBAO)
    plan = task_by_element(after.tasks, "treatment_plan")
    with pytest.raises(FormInvalid) as missing:
        services.complete(region5, plan["id"], "psychiatrist_zheng", {"treatment_setting": "outpatient"})
    assert set(missing.value.fields) == {"medication_plan", "follow_up_interval"}

    relief = relief_instance_of(region5, "P-A")
    services.complete(region5, open_task(region5, relief, "verify_eligibility")["id"], "relief_wu", ELIGIBLE)
    settle = open_task(region5, relief, "settlement")
    with pytest.raises(FormInvalid) as negative:
        services.complete(region5, settle["id"], "mi_he", {**SETTLED, "insurance_paid": -5})
    assert set(negative.value.fields) == {"insurance_paid"}
