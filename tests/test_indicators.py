"""The supervisors' indicators (engine.indicators), on the demo region driven through the real
pathways by the users who hold the tasks.

The scenario, Monday 2 November 2026 09:00 (T0) to Friday 13 November 12:00 (UNTIL); November
2026 has no holidays, so `workdays(N)` deadlines close at 18:00 of the Nth working day after the
task appears. Task numbers below are referred to in the expectations.

  学生心理筛查 school_screening (education.teacher, at the student's village; stage screening)
   1 S1 太平村   screening done Tue 3 Nov 10:00, due Mon 9 Nov 18:00      on time, negative
   2 S2 太平村   screening done Tue 10 Nov 10:00                         late, positive →
   3 S2 绵阳市   remote_consult (city expert, stage diagnosis), due Thu 12 Nov 18:00, left open
   4 S3 中坝社区 screening left open                                     overdue
   5 S4 东街社区 (涪城区) screening done Wed 4 Nov 10:00                 on time
  严重精神障碍随访 severe_followup: P1, P2 registered stable on 4 Aug, cycle 1 opens at T0
   6 P1 太平村   doctor_followup (township doctor) done Thu 5 Nov 10:00  on time (treatment)
   7 P1 江油市   county_check done Thu 5 Nov 09:30                       on time
   8 P2 太平村   doctor_followup left open                               overdue
   9 P2 江油市   county_check done Wed 11 Nov 10:00                      late
  门诊诊断 diagnosis (county psychiatrist) and 民政医疗救助 relief (江油市)
  10 D1 diagnose done Tue 3 Nov 10:00 (低保, consents)                   on time (diagnosis) → relief
  11 D1 treatment_plan done Wed 4 Nov 10:00                              on time (treatment)
  12 R1 verify_eligibility done Wed 4 Nov 11:00                          on time (relief)
  13 R1 settlement (medical insurance) done Fri 6 Nov 10:00              on time (relief)
  14 R1 approve_relief done Wed 11 Nov 10:00 (due Tue 10 Nov 18:00)      late (relief) →
  15 D1 adjust_treatment due Mon 16 Nov 18:00, left open                 open, not overdue
  16 D2 新安村 diagnose done Wed 4 Nov 10:00 (特困, no consent)           on time
  17 D2 treatment_plan done Tue 10 Nov 10:00 (due Fri 6 Nov 18:00)       late
  18 D3 太平村 diagnose done Thu 5 Nov 10:00 (not low income)            on time
  19 D3 treatment_plan (due Mon 9 Nov 18:00) left open                   overdue
  20 F1 涪城区 diagnose (psychiatrist_bai) left open                     overdue

The registrations of P1 and P2 (4 tasks done on 4 August) fall before the window.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import people
from engine.context import EngineContext
from engine.directory import load_directory
from engine.errors import InvalidInput, NotFound
from engine.indicators import UNSTAGED, indicator_tasks, indicators
from engine.pathways import deploy_files
from engine.runtime import services
from engine.settings import Settings
from engine.store import indicators as repo
from engine.store.models import Instance

from conftest import BPMN, DATA, SHANGHAI, T0, build_region, deploy_pathways, task_by_element
from plans import captured_statements, explain, scans

PROVINCE, CITY = "510000", "510700"
JIANGYOU, TAIPING, ZHONGBA, FUCHENG = "510781", "510781001", "510781002", "510703"
TAIPING_VILLAGE, XINAN_VILLAGE, ZHONGBA_VILLAGE = "510781001001", "510781001002", "510781002001"
DONGJIE_VILLAGE = "510703001001"
UNTIL = datetime(2026, 11, 13, 12, 0, tzinfo=SHANGHAI)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


# --- what the users type (valid for each form) ---------------------------------------------------

def screening(score: int) -> dict:
    return {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
            "phq9_score": score, "phq9_item9": 0, "screening_notes": "学期初筛查"}


REGISTER = {"diagnosis": "schizophrenia", "diagnosis_date": "2026-07-20",
            "diagnosing_hospital": "江油市第三人民医院", "guardian_name": "张桂兰",
            "guardian_relation": "parent", "guardian_phone": "13812345678", "consent_status": "guardian"}
ASSESS_STABLE = {"danger_level": 0, "stability": "稳定", "insight": "partial", "social_function": "fair",
                 "side_effects": "none", "compliance": "regular"}
FOLLOW_UP_STABLE = {"followup_method": "face", "management": "继续管理", "danger_level": 0,
                    "stability": "稳定", "insight": "partial", "side_effects": "none",
                    "compliance": "regular", "medication_needed": False}
COUNTY_CALL = {"call_result": "reached", "findings": "监护人反映患者按时服药。"}
DIAGNOSED = {"diagnosis_result": "confirmed", "icd10_code": "F20.0", "diagnosis_name": "偏执型精神分裂症",
             "severity": "severe", "household_type": "dibao", "consent_share_civil": True}
PLAN = {"treatment_setting": "outpatient", "medication_plan": "利培酮 2mg 每日两次", "follow_up_interval": "1m"}
ELIGIBLE = {"eligibility": "eligible", "assistance_cert_no": "DB-510781-0042"}
SETTLED = {"settlement_no": "JS20261106001", "total_cost": 6000, "insurance_paid": 3600,
           "relief_paid": 1800, "out_of_pocket": 600}
APPROVED = {"approved_relief_amount": 1800, "approval_opinion": "低保家庭，按结算核准"}


# --- the scenario, built once for the module (the tests only read) -------------------------------

def _open(ctx, instance: int, element: str) -> dict:
    return task_by_element(services.list_tasks(ctx, instance_id=instance), element)


def _do(ctx, moment: datetime, instance: int, element: str, username: str, data: dict):
    return services.complete(ctx.at(moment), _open(ctx, instance, element)["id"], username, data)


def _instances(ctx, process_id: str, ref: str) -> list[int]:
    with ctx.db.unit_of_work() as session:
        return list(session.scalars(
            select(Instance.id).where(Instance.process_id == process_id,
                                      Instance.variables["person_ref"].as_string() == ref)
            .order_by(Instance.id)))


def _build(ctx) -> dict[str, int]:
    deploy_pathways(ctx.at(datetime(2026, 7, 1, 9, tzinfo=SHANGHAI)), "school_screening",
                    "severe_registration", "severe_followup", "diagnosis", "relief")
    ids: dict[str, int] = {}
    for ref, name, org in (("S1", "学生甲", TAIPING_VILLAGE), ("S2", "学生乙", TAIPING_VILLAGE),
                           ("S3", "学生丙", ZHONGBA_VILLAGE), ("S4", "学生丁", DONGJIE_VILLAGE),
                           ("P1", "患者甲", TAIPING_VILLAGE), ("P2", "患者乙", TAIPING_VILLAGE),
                           ("D1", "患者丙", TAIPING_VILLAGE), ("D2", "患者丁", XINAN_VILLAGE),
                           ("D3", "患者戊", TAIPING_VILLAGE), ("F1", "患者己", DONGJIE_VILLAGE)):
        people.register_person(ctx.at(datetime(2026, 7, 1, 9, tzinfo=SHANGHAI)), ref, name, org)

    # Severe mental disorder: registered stable 90 days before T0, so cycle 1 opens at T0.
    registered = datetime(2026, 8, 4, 9, tzinfo=SHANGHAI)
    for ref in ("P1", "P2"):
        started = services.start_instance(ctx.at(registered), "severe_registration", TAIPING_VILLAGE, {}, person=ref)
        _do(ctx, registered, started.instance, "register", "mhdoc_qian", REGISTER)
        _do(ctx, registered, started.instance, "assess", "mhdoc_qian", ASSESS_STABLE)
    services.tick(ctx.at(T0))
    [ids["P1"]], [ids["P2"]] = _instances(ctx, "severe_followup", "P1"), _instances(ctx, "severe_followup", "P2")

    for ref, org in (("S1", TAIPING_VILLAGE), ("S2", TAIPING_VILLAGE), ("S3", ZHONGBA_VILLAGE),
                     ("S4", DONGJIE_VILLAGE)):
        ids[ref] = services.start_instance(ctx.at(T0), "school_screening", org, {}, person=ref).instance
    for ref, org in (("D1", TAIPING_VILLAGE), ("D2", XINAN_VILLAGE), ("D3", TAIPING_VILLAGE),
                     ("F1", DONGJIE_VILLAGE)):
        ids[ref] = services.start_instance(ctx.at(T0), "diagnosis", org, {}, person=ref).instance

    _do(ctx, nov(3, 10), ids["S1"], "screening", "teacher_wang", screening(4))            # 1
    _do(ctx, nov(3, 10), ids["D1"], "diagnose", "psychiatrist_zheng", DIAGNOSED)          # 10
    [ids["R1"]] = _instances(ctx, "relief", "D1")
    _do(ctx, nov(4, 10), ids["S4"], "screening", "teacher_song", screening(6))            # 5
    _do(ctx, nov(4, 10), ids["D1"], "treatment_plan", "psychiatrist_zheng", PLAN)         # 11
    _do(ctx, nov(4, 10), ids["D2"], "diagnose", "psychiatrist_zheng",                     # 16
        {**DIAGNOSED, "household_type": "tekun", "consent_share_civil": False})
    _do(ctx, nov(4, 11), ids["R1"], "verify_eligibility", "relief_wu", ELIGIBLE)          # 12
    _do(ctx, nov(5, 9, 30), ids["P1"], "county_check", "guide_wu", COUNTY_CALL)           # 7
    _do(ctx, nov(5, 10), ids["P1"], "doctor_followup", "mhdoc_qian", FOLLOW_UP_STABLE)    # 6
    _do(ctx, nov(5, 10), ids["D3"], "diagnose", "psychiatrist_zheng",                     # 18
        {**DIAGNOSED, "household_type": "none", "consent_share_civil": False})
    _do(ctx, nov(6, 10), ids["R1"], "settlement", "mi_he", SETTLED)                       # 13
    _do(ctx, nov(10, 10), ids["S2"], "screening", "teacher_wang", screening(15))          # 2
    _do(ctx, nov(10, 10), ids["D2"], "treatment_plan", "psychiatrist_zheng", PLAN)        # 17
    _do(ctx, nov(11, 10), ids["P2"], "county_check", "guide_wu", COUNTY_CALL)             # 9
    _do(ctx, nov(11, 10), ids["R1"], "approve_relief", "relief_wu", APPROVED)             # 14
    services.tick(ctx.at(UNTIL))
    return ids


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, databases):
    databases.template("region", build_region)
    url, drop = databases.fresh(tmp_path_factory.mktemp("indicators"), "region")
    ctx = EngineContext(Settings(database_url=url), now=UNTIL)
    ids = _build(ctx)
    yield ctx, ids
    ctx.db.dispose()
    drop()


@pytest.fixture
def ctx(scenario):
    return scenario[0]


def counters(row: dict) -> tuple:
    """(open, overdue, completed, completed_with_due, completed_on_time, late, on_time_rate)"""
    return tuple(row[k] for k in ("open", "overdue", "completed", "completed_with_due",
                                  "completed_on_time", "late", "on_time_rate"))


def keyed(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


# --- the scenario is what the docstring says -----------------------------------------------------

def test_the_tasks_are_where_the_scenario_says(ctx, scenario):
    _, ids = scenario
    open_now = sorted((t["process"], t["element"], t["org"], t["stage"])
                      for t in services.list_tasks(ctx, org=PROVINCE))
    assert open_now == sorted([
        ("school_screening", "remote_consult", CITY, "diagnosis"),              # 3
        ("school_screening", "screening", ZHONGBA_VILLAGE, "screening"),        # 4
        ("severe_followup", "doctor_followup", TAIPING_VILLAGE, "treatment"),   # 8
        ("diagnosis", "adjust_treatment", JIANGYOU, "treatment"),               # 15
        ("diagnosis", "treatment_plan", JIANGYOU, "treatment"),                 # 19
        ("diagnosis", "diagnose", FUCHENG, "diagnosis"),                        # 20
    ])
    assert _open(ctx, ids["D1"], "adjust_treatment")["due_at"] == nov(16, 18)
    assert _open(ctx, ids["S2"], "remote_consult")["due_at"] == nov(12, 18)


# --- totals, by agency, by org, by stage ---------------------------------------------------------

def test_county_totals(ctx):
    found = indicators(ctx, JIANGYOU, T0, UNTIL)
    assert (found["org"], found["org_name"], found["since"], found["until"]) == ("510781", "江油市", T0, UNTIL)
    # open 4, 8, 15, 19 (overdue 4, 8, 19); completed 1 2 6 7 9 10-14 16-18, late 2 9 14 17.
    assert counters(found["totals"]) == (4, 3, 13, 13, 9, 4, 9 / 13)


def test_county_by_agency(ctx):
    rows = indicators(ctx, JIANGYOU, T0, UNTIL)["by_agency"]
    assert [(r["agency"], r["label"]) for r in rows] == [
        ("health", "卫生健康"), ("civil", "民政"), ("education", "教育"), ("medical_insurance", "医疗保障")]
    by = keyed(rows, "agency")
    assert counters(by["education"]) == (1, 1, 2, 2, 1, 1, 0.5)                # 4 | 1, 2
    assert counters(by["health"]) == (3, 2, 8, 8, 6, 2, 0.75)                  # 8 15 19 | 6 7 9 10 11 16 17 18
    assert counters(by["civil"]) == (0, 0, 2, 2, 1, 1, 0.5)                    # 12, 14
    assert counters(by["medical_insurance"]) == (0, 0, 1, 1, 1, 0, 1.0)        # 13


def test_county_by_org_splits_its_own_tasks_from_each_township(ctx):
    rows = indicators(ctx, JIANGYOU, T0, UNTIL)["by_org"]
    assert [(r["org"], r["name"], r["own"]) for r in rows] == [
        (JIANGYOU, "江油市", True), (TAIPING, "太平镇", False), (ZHONGBA, "中坝镇", False)]
    by = keyed(rows, "org")
    assert counters(by[JIANGYOU]) == (2, 1, 10, 10, 7, 3, 0.7)                 # 15 19 | 7 9 10-14 16-18
    assert counters(by[TAIPING]) == (1, 1, 3, 3, 2, 1, 2 / 3)                  # 8 | 1 2 6
    assert counters(by[ZHONGBA]) == (1, 1, 0, 0, 0, 0, None)                   # 4


def test_county_by_stage_along_the_chain_with_medians(ctx):
    rows = indicators(ctx, JIANGYOU, T0, UNTIL)["by_stage"]
    assert [(r["stage"], r["label"]) for r in rows] == [
        ("prevention", "预防"), ("screening", "筛查"), ("referral", "转介"), ("diagnosis", "诊断"),
        ("treatment", "治疗"), ("rehabilitation", "康复"), ("reintegration", "社会融入"),
        ("crisis", "危机干预"), ("relief", "救助结算")]
    by = keyed(rows, "stage")
    assert counters(by["screening"]) == (1, 1, 2, 2, 1, 1, 0.5)
    assert by["screening"]["median_hours"] == 109.0          # 25 h (1) and 193 h (2)
    assert counters(by["diagnosis"]) == (0, 0, 3, 3, 3, 0, 1.0)
    assert by["diagnosis"]["median_hours"] == 49.0           # 25, 49, 73 h (10, 16, 18)
    assert counters(by["treatment"]) == (3, 2, 5, 5, 3, 2, 0.6)
    assert by["treatment"]["median_hours"] == 73.0           # 24, 72.5, 73, 144, 217 h (11 7 6 17 9)
    assert counters(by["relief"]) == (0, 0, 3, 3, 2, 1, 2 / 3)
    assert by["relief"]["median_hours"] == 47.0              # 25, 47, 120 h (12, 13, 14)
    for stage in ("prevention", "referral", "rehabilitation", "reintegration", "crisis"):
        assert counters(by[stage]) == (0, 0, 0, 0, 0, 0, None) and by[stage]["median_hours"] is None


def test_breakdowns_add_up_to_the_totals(ctx):
    for org in (PROVINCE, CITY, JIANGYOU, TAIPING, FUCHENG):
        found = indicators(ctx, org, T0, UNTIL)
        for key in ("by_agency", "by_org", "by_stage"):
            for field in ("open", "overdue", "completed", "completed_with_due", "completed_on_time"):
                assert sum(r[field] for r in found[key]) == found["totals"][field], (org, key, field)


def test_the_other_county_sees_none_of_it(ctx):
    found = indicators(ctx, FUCHENG, T0, UNTIL)
    assert counters(found["totals"]) == (1, 1, 1, 1, 1, 0, 1.0)                # 20 | 5
    assert [r["agency"] for r in found["by_agency"]] == ["health", "education"]
    assert [(r["org"], r["own"], r["open"], r["completed"]) for r in found["by_org"]] == [
        (FUCHENG, True, 1, 0), ("510703001", False, 0, 1), ("510703002", False, 0, 0)]
    programmes = found["programmes"]
    assert (programmes["screening_rate"]["numerator"], programmes["screening_rate"]["denominator"]) == (1, 1)
    assert programmes["severe_followup_on_time"]["denominator"] == 0
    assert programmes["severe_followup_on_time"]["value"] is None
    assert programmes["relief_coverage"]["denominator"] == 0


def test_a_township_counts_only_what_sits_in_it(ctx):
    found = indicators(ctx, TAIPING, T0, UNTIL)
    assert counters(found["totals"]) == (1, 1, 3, 3, 2, 1, 2 / 3)              # 8 | 1 2 6
    assert [(r["org"], r["open"], r["completed"]) for r in found["by_org"]] == [
        (TAIPING, 0, 0), (TAIPING_VILLAGE, 1, 3), (XINAN_VILLAGE, 0, 0)]


def test_the_city_counts_both_counties_and_its_own_consults(ctx):
    found = indicators(ctx, CITY, T0, UNTIL)
    assert counters(found["totals"]) == (6, 5, 14, 14, 10, 4, 10 / 14)
    by = keyed(found["by_org"], "org")
    assert [r["org"] for r in found["by_org"]] == [CITY, FUCHENG, JIANGYOU]
    assert counters(by[CITY]) == (1, 1, 0, 0, 0, 0, None)                      # 3, due Thu 12 Nov 18:00
    assert counters(by[JIANGYOU]) == (4, 3, 13, 13, 9, 4, 9 / 13)
    assert counters(by[FUCHENG]) == (1, 1, 1, 1, 1, 0, 1.0)


# --- the window: open and overdue as of `until`, completions inside [since, until) ----------------

def test_counts_as_of_an_earlier_until_read_history_from_the_rows(ctx):
    """At Tue 10 Nov 09:00, tasks completed later were still open then (2, 9, 14, 17)."""
    earlier = nov(10, 9)
    found = indicators(ctx, JIANGYOU, T0, earlier)
    # open 2 4 8 9 14 17 19; overdue all but 14 (due 10 Nov 18:00); completed 1 6 7 10-13 16 18.
    assert counters(found["totals"]) == (7, 6, 9, 9, 9, 0, 1.0)
    overdue = indicator_tasks(ctx, JIANGYOU, state="overdue", until=earlier)
    assert sorted((t["process"], t["element"], t["org"]) for t in overdue) == sorted([
        ("school_screening", "screening", TAIPING_VILLAGE), ("school_screening", "screening", ZHONGBA_VILLAGE),
        ("severe_followup", "doctor_followup", TAIPING_VILLAGE), ("severe_followup", "county_check", JIANGYOU),
        ("diagnosis", "treatment_plan", JIANGYOU), ("diagnosis", "treatment_plan", JIANGYOU)])
    assert all(t["due_at"] < earlier for t in overdue)


def test_a_window_after_the_work_counts_only_what_is_still_open(ctx):
    found = indicators(ctx, JIANGYOU, nov(12, 0), UNTIL)
    assert counters(found["totals"]) == (4, 3, 0, 0, 0, 0, None)
    assert all(r["median_hours"] is None for r in found["by_stage"])


# --- programmes ----------------------------------------------------------------------------------

def test_programme_rates_of_the_county(ctx):
    programmes = indicators(ctx, JIANGYOU, T0, UNTIL)["programmes"]
    screening_rate = programmes["screening_rate"]
    assert (screening_rate["numerator"], screening_rate["denominator"], screening_rate["value"]) == (2, 3, 2 / 3)
    assert (screening_rate["label"], screening_rate["agency"]) == ("学生筛查率", "education")
    severe = programmes["severe_followup_on_time"]
    assert (severe["numerator"], severe["denominator"], severe["value"]) == (1, 2, 0.5)      # 6 on time, 8 overdue
    assert (severe["label"], severe["agency"]) == ("严重精神障碍规范管理率", "health")
    relief = programmes["relief_coverage"]
    assert (relief["numerator"], relief["denominator"], relief["approved"], relief["value"]) == (1, 2, 1, 0.5)
    assert (relief["label"], relief["agency"]) == ("救助覆盖率", "civil")
    assert all(p["definition"] for p in programmes.values())


def test_programme_rates_follow_the_window(ctx):
    # By Thu 5 Nov noon: S2 and S3 unscreened; no follow-up due yet; D1's relief started, not approved.
    programmes = indicators(ctx, JIANGYOU, T0, nov(5, 12))["programmes"]
    assert (programmes["screening_rate"]["numerator"], programmes["screening_rate"]["denominator"]) == (1, 3)
    assert (programmes["severe_followup_on_time"]["denominator"], programmes["severe_followup_on_time"]["value"]) == (0, None)
    relief = programmes["relief_coverage"]
    assert (relief["numerator"], relief["denominator"], relief["approved"]) == (1, 2, 0)
    # A window starting after the screenings started enrolls nobody.
    later = indicators(ctx, JIANGYOU, nov(3, 0), UNTIL)["programmes"]
    assert later["screening_rate"]["denominator"] == 0 and later["screening_rate"]["value"] is None
    assert later["relief_coverage"]["denominator"] == 2


def test_a_township_sees_its_own_people_in_the_programmes(ctx):
    programmes = indicators(ctx, TAIPING, T0, UNTIL)["programmes"]
    assert (programmes["screening_rate"]["numerator"], programmes["screening_rate"]["denominator"]) == (2, 2)
    assert (programmes["relief_coverage"]["numerator"], programmes["relief_coverage"]["denominator"]) == (1, 2)
    zhongba = indicators(ctx, ZHONGBA, T0, UNTIL)["programmes"]
    assert (zhongba["screening_rate"]["numerator"], zhongba["screening_rate"]["denominator"]) == (0, 1)
    assert zhongba["relief_coverage"]["denominator"] == 0


# --- drill-down ----------------------------------------------------------------------------------

def test_drill_down_lists_the_tasks_behind_each_number(ctx):
    overdue = indicator_tasks(ctx, JIANGYOU, state="overdue", until=UNTIL)
    assert sorted((t["element"], t["org"]) for t in overdue) == sorted([
        ("screening", ZHONGBA_VILLAGE), ("doctor_followup", TAIPING_VILLAGE), ("treatment_plan", JIANGYOU)])
    assert [t["due_at"] for t in overdue] == sorted(t["due_at"] for t in overdue)
    assert set(overdue[0]) >= {"id", "instance", "stage", "due_at", "role", "org", "status"}

    health_overdue = indicator_tasks(ctx, JIANGYOU, agency="health", state="overdue", until=UNTIL)
    assert sorted(t["element"] for t in health_overdue) == ["doctor_followup", "treatment_plan"]
    opened = indicator_tasks(ctx, JIANGYOU, state="open", until=UNTIL)
    assert len(opened) == 4 and opened[-1]["element"] == "adjust_treatment"      # latest deadline last

    late = indicator_tasks(ctx, JIANGYOU, state="late", since=T0, until=UNTIL)
    assert [(t["element"], t["completed_at"]) for t in late] == [
        ("screening", nov(10, 10)), ("treatment_plan", nov(10, 10)),
        ("county_check", nov(11, 10)), ("approve_relief", nov(11, 10))]
    assert [t["element"] for t in indicator_tasks(ctx, JIANGYOU, stage="screening", state="late",
                                                  since=T0, until=UNTIL)] == ["screening"]
    on_time_civil = indicator_tasks(ctx, JIANGYOU, agency="civil", state="on_time", since=T0, until=UNTIL)
    assert [(t["element"], t["role"]) for t in on_time_civil] == [("verify_eligibility", "civil.relief_officer")]
    relief_on_time = indicator_tasks(ctx, JIANGYOU, stage="relief", state="on_time", since=T0, until=UNTIL)
    assert [t["element"] for t in relief_on_time] == ["verify_eligibility", "settlement"]

    completed = indicator_tasks(ctx, JIANGYOU, state="completed", since=T0, until=UNTIL, limit=5, offset=10)
    assert [t["completed_at"] for t in completed] == [nov(10, 10), nov(11, 10), nov(11, 10)]
    assert len(indicator_tasks(ctx, JIANGYOU, state="completed", since=T0, until=UNTIL, limit=500)) == 13
    assert indicator_tasks(ctx, JIANGYOU, stage=UNSTAGED, state="open", until=UNTIL) == []


def test_drill_down_respects_the_scope(ctx):
    assert [(t["element"], t["org"]) for t in indicator_tasks(ctx, FUCHENG, state="overdue", until=UNTIL)] == [
        ("diagnose", FUCHENG)]
    assert [t["element"] for t in indicator_tasks(ctx, CITY, state="open", own_only=True, until=UNTIL)] == [
        "remote_consult"]
    assert len(indicator_tasks(ctx, CITY, state="open", until=UNTIL)) == 6
    own_county = indicator_tasks(ctx, JIANGYOU, state="completed", own_only=True, since=T0, until=UNTIL, limit=100)
    assert len(own_county) == 10 and {t["org"] for t in own_county} == {JIANGYOU}


def test_bad_requests_are_refused_with_a_reason(ctx):
    with pytest.raises(NotFound):
        indicators(ctx, "999999", T0, UNTIL)
    with pytest.raises(InvalidInput, match="开始时间必须早于"):
        indicators(ctx, JIANGYOU, UNTIL, T0)
    with pytest.raises(InvalidInput, match="带时区"):
        indicators(ctx, JIANGYOU, datetime(2026, 11, 2), UNTIL)
    with pytest.raises(InvalidInput, match="状态无效"):
        indicator_tasks(ctx, JIANGYOU, state="stuck")
    with pytest.raises(InvalidInput, match="服务阶段无效"):
        indicator_tasks(ctx, JIANGYOU, stage="triage")
    with pytest.raises(InvalidInput, match="since"):
        indicator_tasks(ctx, JIANGYOU, state="late", until=UNTIL)


def test_until_defaults_to_the_engine_clock(ctx):
    assert indicators(ctx.at(UNTIL), JIANGYOU, T0) == indicators(ctx, JIANGYOU, T0, UNTIL)
    assert indicators(ctx.at(nov(10, 9)), JIANGYOU, T0)["totals"]["open"] == 7


# --- the queries read through indexes ------------------------------------------------------------

def _plans(ctx, call) -> list[str]:
    """The plan of every statement `call` runs (tests/plans.py: SQLite or PostgreSQL)."""
    with captured_statements(ctx.db.engine) as captured, ctx.db.unit_of_work() as session:
        call(session)
    plans = []
    with ctx.db.engine.connect() as connection:
        for statement, params in captured:
            plans.append(explain(connection, statement, params))
    return plans


def test_indicator_queries_read_through_indexes(ctx):
    since, until, path = T0, UNTIL, "/510000/510700/510781/"

    def run(session):
        repo.open_counts(session, path, until)
        repo.completed_counts(session, path, since, until)
        repo.median_hours_by_stage(session, path, since, until)
        repo.started_with_task_completed(session, path, "school_screening", "screening", since, until)
        repo.due_and_on_time(session, path, "severe_followup", ("doctor_followup",), since, until)
        for state in repo.STATES:
            repo.task_rows(session, path, state=state, since=since, until=until, stage="relief")

    plans = _plans(ctx, run)
    assert len(plans) == 5 + len(repo.STATES)
    for plan in plans:
        assert not scans(plan, "human_tasks") and not scans(plan, "instances"), plan
    open_plan, completed_plan, median_plan, screening_plan, severe_plan = plans[:5]
    if _postgres(ctx):
        return     # on a test's few rows PostgreSQL picks any index that serves: no scan is the claim
    assert "MULTI-INDEX OR" in open_plan and open_plan.count("SEARCH human_tasks USING INDEX") == 2, open_plan
    assert "ix_human_tasks_status_completed (status=? AND completed_at>? AND completed_at<?)" in completed_plan
    assert "ix_human_tasks_status_completed" in median_plan, median_plan
    assert "ix_instances_process_started (process_id=? AND started_at>? AND started_at<?)" in screening_plan
    assert "ix_human_tasks_instance_status (instance_id=? AND status=?)" in screening_plan, screening_plan
    assert "ix_human_tasks_status_due (status=? AND due_at>? AND due_at<?)" in severe_plan, severe_plan


def _postgres(ctx) -> bool:
    return ctx.db.dialect == "postgresql"


def test_relief_coverage_reads_through_indexes(ctx):
    since, until, path = T0, UNTIL, "/510000/510700/510781/"

    def run(session):
        repo.followed_on(session, path, process_id="diagnosis", element="diagnose",
                         variables={"household_type": ("dibao", "tekun")}, follow_process="relief",
                         follow_element="approve_relief", since=since, until=until)

    denominator_plan, followed_plan = _plans(ctx, run)
    for plan in (denominator_plan, followed_plan):
        assert not scans(plan, "human_tasks") and not scans(plan, "instances"), plan
    if _postgres(ctx):
        return     # which index PostgreSQL picks on a test's few rows says nothing
    for plan in (denominator_plan, followed_plan):
        assert "ix_human_tasks_status_completed (status=? AND completed_at>? AND completed_at<?)" in plan, plan
    assert "ix_instances_process_started (process_id=? AND started_at>? AND started_at<?)" in followed_plan
    assert "ix_human_tasks_instance_status (instance_id=? AND status=?)" in followed_plan, followed_plan


# --- BPMN from outside the library: no stage, no deadline ----------------------------------------

def test_tasks_without_a_stage_or_a_deadline(db_url):
    """scored_referral (tests/data) states no stage; its assessment has no deadline, so it counts
    as completed but not in the on-time rate; the urgent referral (4 hours) is done an hour late."""
    engine = EngineContext(Settings(database_url=db_url), now=T0)
    engine.db.create_schema()
    load_directory(engine.db, DATA / "directory.yaml")
    try:
        deploy_files(engine, [BPMN / "scored_referral.bpmn"])
        started = services.start_instance(engine, "scored_referral", TAIPING_VILLAGE, {})
        assess = task_by_element(started.tasks, "assess")
        referred = services.complete(engine, assess["id"], "doctor_a", {"phq9": 20})
        refer = task_by_element(referred.tasks, "refer")
        assert refer["due_at"] == T0 + timedelta(hours=4)
        services.complete(engine.at(T0 + timedelta(hours=5)), refer["id"], "doctor_a", {})

        found = indicators(engine, JIANGYOU, T0, UNTIL, locale="en")
        assert counters(found["totals"]) == (0, 0, 2, 1, 0, 1, 0.0)
        unstaged = found["by_stage"][-1]
        assert (unstaged["stage"], unstaged["label"], unstaged["completed"], unstaged["median_hours"]) == (
            None, "No stage", 2, 2.5)                          # 0 h and 5 h
        assert [r["label"] for r in found["by_stage"][:2]] == ["Prevention", "Screening"]
        assert [(r["agency"], r["label"]) for r in found["by_agency"]] == [("health", "Health")]
        assert [t["element"] for t in indicator_tasks(engine, JIANGYOU, stage=UNSTAGED, state="completed",
                                                      since=T0, until=UNTIL)] == ["assess", "refer"]
        assert [t["element"] for t in indicator_tasks(engine, JIANGYOU, state="late",
                                                      since=T0, until=UNTIL)] == ["refer"]
    finally:
        engine.db.dispose()
