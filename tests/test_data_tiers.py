"""The tier of every pathway's data (基本信息 / 临床信息 / 案件相关信息) and of every demo role.

Each library pathway, deployed with its forms, says which tier each of its variables carries;
a grassroots worker reading a real instance sees its basic information and a count of the rest;
a bad tier or a variable declared twice is a validation problem naming the file and the element;
the demo directory gives each role the tiers it reads.
"""
from __future__ import annotations

import json
import shutil

import pytest
from lxml import etree

from engine.bpmn.problems import SourceLines
from engine.bpmn.validate import validate_file
from engine.bpmn.validate_companions import tier_problems
from engine.errors import PathwayInvalid
from engine.pathways import deploy_files
from engine.people import register_person
from engine.privacy.rules import reading
from engine.privacy.services import data_tiers, tier_properties
from engine.privacy.tiers import BASIC, CASE, CLINICAL, declared_tiers, split_by_tier
from engine.runtime import services
from engine.store import directory as directory_repo
from engine.store import pathways as pathways_repo
from engine.store.models import BpmnSource, Instance

from conftest import FORMS, PATHWAYS, T0, deploy_pathways, task_by_element

LIBRARY = sorted(p.stem for p in PATHWAYS.glob("*.bpmn"))
DEFAULTS = {"relief": BASIC, "justice_medical": CASE}          # every other pathway: clinical

# (pathway, variable, tier): what the person's record says and who may read it.
EXPECTED = [
    # 门诊诊断: the diagnosis is clinical; household status, consent and the relief result that
    # comes back by message are basic.
    ("diagnosis", "diagnosis_result", CLINICAL), ("diagnosis", "icd10_code", CLINICAL),
    ("diagnosis", "medication_plan", CLINICAL), ("diagnosis", "household_type", BASIC),
    ("diagnosis", "consent_share_civil", BASIC), ("diagnosis", "relief_referred", BASIC),
    ("diagnosis", "relief_approved", BASIC), ("diagnosis", "out_of_pocket", BASIC),
    ("diagnosis", "civil_reply", BASIC), ("diagnosis", "person_ref", BASIC),
    # 民政救助: the relief decision is basic; the diagnosis it receives stays clinical.
    ("relief", "eligibility", BASIC), ("relief", "approved_relief_amount", BASIC),
    ("relief", "total_cost", BASIC), ("relief", "household_type", BASIC),
    ("relief", "icd10_code", CLINICAL), ("relief", "diagnosis_name", CLINICAL), ("relief", "severity", CLINICAL),
    # 司法-医疗衔接: the forensic assessment and supervision are case; treatment is clinical;
    # the guardian and the community's support are basic.
    ("justice_medical", "forensic_opinion", CASE), ("justice_medical", "criminal_responsibility", CASE),
    ("justice_medical", "case_number", CASE), ("justice_medical", "reoffended", CASE),
    ("justice_medical", "supervision_month", CASE), ("justice_medical", "conference_decision", CASE),
    ("justice_medical", "risk_level", CLINICAL), ("justice_medical", "medication", CLINICAL),
    ("justice_medical", "treatment_round", CLINICAL), ("justice_medical", "guardian_phone", BASIC),
    ("justice_medical", "support_measures", BASIC), ("justice_medical", "visit_date", BASIC),
    # 严重精神障碍: assessments and the decision table's outputs are clinical; police action is case.
    ("severe_registration", "diagnosis", CLINICAL), ("severe_registration", "danger_level", CLINICAL),
    ("severe_registration", "stability_class", CLINICAL), ("severe_registration", "guardian_phone", BASIC),
    ("severe_registration", "consent_status", BASIC), ("severe_registration", "police_note", CASE),
    ("severe_followup", "stability_class", CLINICAL), ("severe_followup", "next_followup_days", CLINICAL),
    ("severe_followup", "refer_now", CLINICAL), ("severe_followup", "drugs", CLINICAL),
    ("severe_followup", "cycle", BASIC), ("severe_followup", "management", BASIC),
    ("severe_followup", "police_actions", CASE),
    # 学校筛查: a teacher sees grade and dates, not the PHQ-9.
    ("school_screening", "phq9_score", CLINICAL), ("school_screening", "phq9_item9", CLINICAL),
    ("school_screening", "consult_result", CLINICAL), ("school_screening", "grade", BASIC),
    ("school_screening", "student_age", BASIC), ("school_screening", "followups_done", BASIC),
    ("school_screening", "school_measures", BASIC), ("school_screening", "employment_decision", BASIC),
    # 危机干预: risk is clinical; where to go and who goes is basic.
    ("crisis_intervention", "risk_level", CLINICAL), ("crisis_intervention", "suicide_plan", CLINICAL),
    ("crisis_intervention", "current_risk", CLINICAL), ("crisis_intervention", "location", BASIC),
    ("crisis_intervention", "callback_phone", BASIC), ("crisis_intervention", "team_leader", BASIC),
    ("crisis_intervention", "followup_week_at", BASIC),
    # 社区康复 and 抑郁症社工介入.
    ("community_rehab", "recovery_level", CLINICAL), ("community_rehab", "level_drop", CLINICAL),
    ("community_rehab", "relapse", CLINICAL), ("community_rehab", "review_count", BASIC),
    ("community_rehab", "rehab_groups", BASIC), ("community_rehab", "certificate_no", BASIC),
    ("depression_social_work", "phq9_2w", CLINICAL), ("depression_social_work", "self_harm_6w", CLINICAL),
    ("depression_social_work", "case_manager", BASIC), ("depression_social_work", "consent_share", BASIC),
    # 全链条: its own forms, and the data of the pathways it calls, keep their tiers.
    ("care_chain", "phq9_score", CLINICAL), ("care_chain", "relapse_warning", CLINICAL),
    ("care_chain", "family_member_phone", BASIC), ("care_chain", "visit_date", BASIC),
    ("care_chain", "diagnosis_result", CLINICAL), ("care_chain", "relief_approved", BASIC),
    ("care_chain", "recovery_level", CLINICAL), ("care_chain", "review_count", BASIC),
]


@pytest.fixture
def library(region):
    deploy_pathways(region, *LIBRARY)
    return region


def _versions(ctx) -> dict[str, int]:
    with ctx.db.unit_of_work() as session:
        return {v.process_id: v.id for v in pathways_repo.latest_versions(session)}


def test_every_library_pathway_declares_its_tiers_without_problems(library):
    versions = _versions(library)
    assert sorted(versions) == LIBRARY
    with library.db.unit_of_work() as session:
        for process_id, version_id in sorted(versions.items()):
            version = pathways_repo.version_by_id(session, version_id)
            source = session.get(BpmnSource, version.source_sha256).content
            properties = tier_properties(source)
            assert [(pid, name) for pid, name, _ in properties][0] == (process_id, "tier"), process_id
            _, problems = declared_tiers(properties, version.forms)
            assert problems == [], (process_id, problems)
            tiers = data_tiers(library, session, version_id)
            assert tiers.default == DEFAULTS.get(process_id, CLINICAL), process_id
            # Every form of the library states its tier at the root, so a calling pathway keeps it.
            for key, form in version.forms.items():
                assert (form.get("properties") or {}).get("tier") in (BASIC, CLINICAL, CASE), key

    wrong = []
    with library.db.unit_of_work() as session:
        for process_id, variable, tier in EXPECTED:
            found = data_tiers(library, session, versions[process_id]).tier_of(variable)
            if found != tier:
                wrong.append((process_id, variable, found, tier))
    assert wrong == []


def _instance_data(ctx, instance_id: int) -> dict:
    with ctx.db.unit_of_work() as session:
        return dict(session.get(Instance, instance_id).variables or {})


def _shown(ctx, instance_id: int, readable: set[str]) -> tuple[set[str], dict[str, int]]:
    with ctx.db.unit_of_work() as session:
        row = session.get(Instance, instance_id)
        shown, hidden = split_by_tier(row.variables or {}, data_tiers(ctx, session, row.version_id), readable)
    return set(shown), hidden


def test_basic_readers_see_the_relief_but_not_the_diagnosis_of_a_real_instance(region):
    """Diagnosis → relief → result back, as users do it; then what a grassroots reader (basic)
    and the clinical team (basic + clinical) see of each instance's data."""
    deploy_pathways(region, "diagnosis", "relief")
    register_person(region, "P-A", "张某", "510781001001", gender="男", birth_date="1979-03-12")
    started = services.start_instance(region, "diagnosis", "510781001001", {}, person="P-A")
    diagnosis = started.instance
    outcome = services.complete(region, task_by_element(started.tasks, "diagnose")["id"], "psychiatrist_zheng",
                                {"diagnosis_result": "confirmed", "icd10_code": "F20.0",
                                 "diagnosis_name": "偏执型精神分裂症", "severity": "severe",
                                 "household_type": "dibao", "consent_share_civil": True})
    services.complete(region, task_by_element(outcome.tasks, "treatment_plan")["id"], "psychiatrist_zheng",
                      {"treatment_setting": "outpatient", "medication_plan": "利培酮 2mg 每日两次",
                       "follow_up_interval": "1m"})
    relief = next(t for t in services.tasks_for_user(region, "relief_wu") if t["element"] == "verify_eligibility")
    relief_instance = relief["instance"]
    services.complete(region, relief["id"], "relief_wu",
                      {"eligibility": "eligible", "assistance_cert_no": "DB-510781-0042"})
    settle = task_by_element(services.list_tasks(region, instance_id=relief_instance), "settlement")
    services.complete(region, settle["id"], "mi_he", {"settlement_no": "JS20261104001", "total_cost": 6000,
                                                      "insurance_paid": 3600, "relief_paid": 1800,
                                                      "out_of_pocket": 600})
    approve = task_by_element(services.list_tasks(region, instance_id=relief_instance), "approve_relief")
    services.complete(region, approve["id"], "relief_wu",
                      {"approved_relief_amount": 2000, "approval_opinion": "全额救助"})
    assert [t["element"] for t in services.list_tasks(region, instance_id=diagnosis)] == ["adjust_treatment"]

    # The diagnosis instance waits for the treatment adjustment, the relief result in its data.
    data = _instance_data(region, diagnosis)
    assert data["relief_approved"] is True and data["icd10_code"] == "F20.0"
    shown, hidden = _shown(region, diagnosis, {BASIC})
    assert shown == {"person_ref", "household_type", "consent_share_civil", "relief_referred", "relief_approved",
                     "relief_reason", "total_cost", "insurance_paid", "relief_paid", "out_of_pocket"}
    assert hidden == {CLINICAL: len(data) - len(shown)} and hidden[CLINICAL] >= 7
    assert _shown(region, diagnosis, {BASIC, CLINICAL}) == (set(data), {})

    # The relief case: civil affairs reads its own decision, not the diagnosis it was sent.
    data = _instance_data(region, relief_instance)
    shown, hidden = _shown(region, relief_instance, {BASIC})
    assert {"icd10_code", "diagnosis_name", "severity"} <= set(data)
    assert shown == set(data) - {"icd10_code", "diagnosis_name", "severity"}
    assert {"eligibility", "approved_relief_amount", "total_cost", "household_type", "person_ref"} <= shown
    assert hidden == {CLINICAL: 3}


# --- validation -------------------------------------------------------------------------------------

@pytest.fixture
def relief_layout(tmp_path):
    """pathways/relief.bpmn and forms/relief/ copied where a test may spoil them."""
    (tmp_path / "pathways").mkdir()
    shutil.copy(PATHWAYS / "relief.bpmn", tmp_path / "pathways" / "relief.bpmn")
    shutil.copytree(FORMS / "relief", tmp_path / "forms" / "relief")
    return tmp_path


def _edit(path, old: str, new: str) -> int:
    """Replace `old` once; the line it was on."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[:text.index(old)].count("\n") + 1


def _set_field_tier(layout, form: str, key: str, tier: str) -> None:
    path = layout / "forms" / "relief" / form
    data = json.loads(path.read_text(encoding="utf-8"))
    field = next(c for c in data["components"] if c.get("key") == key)
    field["properties"] = {"tier": tier}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def test_the_copied_relief_pathway_validates_clean(relief_layout):
    assert validate_file(str(relief_layout / "pathways" / "relief.bpmn")) == []


def test_unknown_tiers_are_reported_at_the_process_property_and_the_task(region, relief_layout):
    bpmn = relief_layout / "pathways" / "relief.bpmn"
    line = _edit(bpmn, '<camunda:property name="tier" value="basic"/>',
                 '<camunda:property name="tier" value="secret"/>')
    _set_field_tier(relief_layout, "verify_eligibility.form", "ineligible_reason", "private")
    problems = validate_file(str(bpmn))
    text = bpmn.read_text(encoding="utf-8").splitlines()
    task_line = next(n for n, row in enumerate(text, 1) if '<bpmn:userTask id="verify_eligibility"' in row)
    assert [(p.file, p.element, p.line) for p in problems] == [
        (str(bpmn), "relief", line), (str(bpmn), "verify_eligibility", task_line)]
    assert "流程 relief" in problems[0].message and "未知的信息分级 'secret'" in problems[0].message
    assert "表单 relief/verify_eligibility.form 字段 ineligible_reason" in problems[1].message
    assert "未知的信息分级 'private'" in problems[1].message
    # Nothing deploys with a bad tier.
    with pytest.raises(PathwayInvalid) as refused:
        deploy_files(region, [bpmn])
    assert {p.element for p in refused.value.problems} == {"relief", "verify_eligibility"}


def test_a_variable_declared_with_two_tiers_is_a_conflict_naming_both_places(relief_layout):
    bpmn = relief_layout / "pathways" / "relief.bpmn"
    # The process lists `eligibility` as clinical; its form (tier basic at the root) says basic.
    line = _edit(bpmn, 'value="icd10_code, diagnosis_name, severity"',
                 'value="icd10_code, diagnosis_name, severity, eligibility"')
    problems = validate_file(str(bpmn))
    assert [(p.file, p.element, p.line) for p in problems] == [(str(bpmn), "relief", line)]
    assert "eligibility" in problems[0].message and "tier.clinical" in problems[0].message
    assert "relief/verify_eligibility.form" in problems[0].message and "basic" in problems[0].message

    # Two forms of one pathway giving one variable two tiers: reported at the later form's task.
    _edit(bpmn, ', eligibility"', '"')
    _set_field_tier(relief_layout, "settlement.form", "total_cost", "clinical")
    path = relief_layout / "forms" / "relief" / "approve_relief.form"
    form = json.loads(path.read_text(encoding="utf-8"))
    form["components"].append({"type": "number", "key": "total_cost", "label": "医疗总费用（元）",
                               "id": "Field_total_cost_again"})
    path.write_text(json.dumps(form, ensure_ascii=False, indent=2), encoding="utf-8")
    problems = validate_file(str(bpmn))
    assert [(p.file, p.element) for p in problems] == [(str(bpmn), "settlement")]
    assert "total_cost" in problems[0].message and "relief/approve_relief.form" in problems[0].message


def test_process_tiers_are_checked_without_forms(relief_layout):
    bpmn = relief_layout / "pathways" / "relief.bpmn"
    line = _edit(bpmn, 'name="tier.clinical"', 'name="tier.medical"')
    data = bpmn.read_bytes()
    problems = tier_problems(etree.fromstring(data).getroottree(), str(bpmn), SourceLines(data))
    assert [(p.file, p.element, p.line) for p in problems] == [(str(bpmn), "relief", line)]
    assert "tier.medical" in problems[0].message and "'medical'" in problems[0].message


# --- the demo directory -----------------------------------------------------------------------------

CLINICAL_TEAM = {"health.mh_center_expert", "health.psychiatrist", "health.family_doctor", "health.village_doctor",
                 "health.township_mh_doctor", "health.county_guidance", "health.pharmacist",
                 "health.medical_social_worker", "health.hotline_counselor", "health.crisis_team",
                 "civil.social_worker",
                 # relief and settlement need the diagnosis; as civil affairs and medical insurance
                 # they read it only with the person's consent ("一次授权、多方使用")
                 "civil.relief_officer", "medical_insurance.settlement_officer"}
JUSTICE = {"justice.forensic_assessor", "justice.community_corrections"}


def test_demo_directory_role_tiers_load(region):
    with region.db.unit_of_work() as session:
        tiers = directory_repo.role_tiers(session)
        for role, expected in tiers.items():
            assert expected is not None, f"{role} states no tiers"
            if role in CLINICAL_TEAM:
                assert expected == [BASIC, CLINICAL], role
            elif role in JUSTICE:
                assert expected == [BASIC, CASE], role
            elif role == "admin.analyst":
                assert expected == [], role
            else:
                assert expected == [BASIC], role
        assert CLINICAL_TEAM | JUSTICE | {"health.supervisor", "justice.supervisor", "education.teacher"} <= set(tiers)

        # What each reads of a person living in 太平村 (their jurisdiction), without consent.
        village = ["/510000/510700/510781/510781001/510781001001/"]
        read = {user: set(reading(directory_repo.user_grants(session, user), tiers, village, (), T0).tiers)
                for user in ("psychiatrist_zheng", "vdoc_zhao", "sw_tang", "corrections_ma", "teacher_wang",
                             "health_sup_jy", "analyst_xu")}
    assert read == {"psychiatrist_zheng": {BASIC, CLINICAL}, "vdoc_zhao": {BASIC, CLINICAL},
                    "sw_tang": {BASIC}, "corrections_ma": {BASIC, CASE}, "teacher_wang": {BASIC},
                    "health_sup_jy": {BASIC}, "analyst_xu": set()}
