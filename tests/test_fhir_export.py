"""A person's care pathways as FHIR R4 (engine.fhir), on the demo region with real pathways.

S-1, the student of tests/test_person_journey.py (`student`: screened positive, the city's consult
missed, escalated twice, reassigned and done late), has three pathways by Tuesday 17 November:
the school screening, running, whose joint plan is overdue and escalated — the school half open,
the doctor's half claimed; a tiered home-visit record, completed; and a scored referral stuck in
error on its script. Every resource is checked against the official R4 JSON schema; references
resolve inside the bundle; deadlines, statuses and owners are what the engine holds; the read is
audited like a person-page read; who may not see the person is refused as the page refuses."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from engine import records
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.fhir import careplan_of_instance, person_bundle, task_resource
from engine.fhir import resources as fhir
from engine.fhir.schema import SCHEMA_ENV, SchemaMissing, validator
from engine.pathways import deploy_files
from engine.privacy import services as privacy
from engine.runtime import services
from engine.store.audit import AuditEvent

from conftest import BPMN, DATABASE_FIXTURES, SHANGHAI
from test_person_journey import nov, open_task, person_id, student  # noqa: F401  (`student` is a fixture)

assert "region" in DATABASE_FIXTURES     # `student` uses `region`: these tests run on PostgreSQL too

VILLAGE = "510781001001"
NOW = nov(17, 9)


@pytest.fixture
def s1(student):   # noqa: F811
    """S-1's three pathways, as described above; returns (ctx at NOW, {name: instance id})."""
    ctx, school = student
    services.claim(ctx.at(nov(9, 9)), open_task(ctx, school, "joint_plan_medical")["id"], "fdoc_zhou")
    deploy_files(ctx, [BPMN / "tiered_record.bpmn", BPMN / "scored_referral.bpmn"])
    visit = services.start_instance(ctx.at(nov(9, 10)), "tiered_record", VILLAGE, {"visit_plan": "每月入户"},
                                    person="S-1").instance
    services.complete(ctx.at(nov(9, 11)), open_task(ctx, visit, "visit")["id"], "sw_tang", {})
    referral = services.start_instance(ctx.at(nov(10, 9)), "scored_referral", VILLAGE, {}, person="S-1").instance
    failed = services.complete(ctx.at(nov(10, 10)), open_task(ctx, referral, "assess")["id"], "fdoc_zhou",
                               {"note": "未完成量表"})
    assert failed.status == "error"
    assert services.tick(ctx.at(nov(13, 18)))["escalations_raised"] == 2      # both halves, level 1
    assert services.tick(ctx.at(nov(16, 18)))["escalations_raised"] == 2      # level 2
    return ctx.at(NOW), {"school": school, "visit": visit, "referral": referral}


def entries(bundle: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def tasks_by_element(bundle: dict) -> dict[str, dict]:
    return {t["code"]["text"]: t for t in entries(bundle, "Task")}


def rows_of(ctx, *instances: int) -> dict[int, dict]:
    return {t["id"]: t for i in instances for t in services.list_tasks(ctx, instance_id=i, status="all")}


def audit_rows(ctx, **where) -> list[AuditEvent]:
    with ctx.db.unit_of_work() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def references(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for value in node for r in references(value)]
    return []


# --- the schema ---------------------------------------------------------------------------------------

def test_every_exported_bundle_and_resource_validates_against_the_r4_schema(s1):
    ctx, ids = s1
    check = validator()
    exported = [person_bundle(ctx, user, "S-1") for user in ("health_sup_jy", "teacher_wang", "fdoc_zhou")]
    exported += [careplan_of_instance(ctx, user, ids[name])
                 for user in ("health_sup_jy", "analyst_xu") for name in ids]
    exported += [task_resource(ctx, row["assignee"] or "psych_liu", task_id)     # who may see each on its page
                 for task_id, row in rows_of(ctx, *ids.values()).items()]
    for item in exported:
        check(item)
        for entry in item.get("entry", []):
            check(entry["resource"])
    assert len(entries(exported[0], "Task")) == len(rows_of(ctx, *ids.values())) == 6
    assert validator() is check                                  # compiled once


def test_a_broken_resource_is_rejected_with_its_json_path(s1):
    ctx, ids = s1
    check = validator()
    task = task_resource(ctx, "psych_liu", open_task(ctx, ids["school"], "joint_plan_school")["id"])
    with pytest.raises(InvalidInput) as caught:
        check({**task, "status": "open", "assignee": "psych_liu"})       # CarePath words, not FHIR's
    assert "$.status: 'open' is not one of" in caught.value.message
    assert "'assignee' was unexpected" in caught.value.message

    bundle = person_bundle(ctx, "health_sup_jy", "S-1")
    position = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "CarePlan")
    bundle["entry"][position]["resource"]["period"]["start"] = "2026-11-02 09:00"    # no T, no offset
    with pytest.raises(InvalidInput, match=re.escape(f"$.entry[{position}].resource.period.start: ")):
        check(bundle)
    with pytest.raises(InvalidInput, match=r"\$\.timestamp"):
        check({"resourceType": "Bundle", "type": "collection", "timestamp": "yesterday"})


def test_a_missing_schema_file_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv(SCHEMA_ENV, str(tmp_path / "fhir.schema.json"))
    with pytest.raises(SchemaMissing, match="npm ci"):
        validator()


# --- what the bundle says -------------------------------------------------------------------------------

def test_statuses_owners_and_business_status_follow_the_engine(s1):
    ctx, ids = s1
    bundle = person_bundle(ctx, "health_sup_jy", "S-1")
    assert bundle["type"] == "collection" and bundle["timestamp"] == "2026-11-17T09:00:00+08:00"
    plans = {p["identifier"][0]["value"]: p for p in entries(bundle, "CarePlan")}
    assert {name: (plans[str(i)]["status"], plans[str(i)]["title"]) for name, i in ids.items()} == {
        "school": ("active", "学生心理健康筛查与干预"), "visit": ("completed", "分级记录"),
        "referral": ("on-hold", "评分转介")}
    assert plans[str(ids["visit"])]["period"] == {"start": "2026-11-09T10:00:00+08:00",
                                                  "end": "2026-11-09T11:00:00+08:00"}
    assert "end" not in plans[str(ids["school"])]["period"]
    assert [c["coding"][0]["code"] for c in plans[str(ids["school"])]["category"]] == [
        "screening", "diagnosis", "treatment"]                   # chain order
    assert all(p["intent"] == "plan" for p in plans.values())

    tasks = tasks_by_element(bundle)
    assert {element: t["status"] for element, t in tasks.items()} == {
        "screening": "completed", "remote_consult": "completed", "joint_plan_school": "ready",
        "joint_plan_medical": "in-progress", "visit": "completed", "assess": "completed"}
    assert all(t["intent"] == "order" for t in tasks.values())
    assert {element: t.get("businessStatus", {}).get("text") for element, t in tasks.items()} == {
        "screening": None, "remote_consult": "超期完成；已督办（2 级）",
        "joint_plan_school": "已超期；已督办（2 级）", "joint_plan_medical": "已超期；已督办（2 级）",
        "visit": None, "assess": None}
    assert [c["code"] for c in tasks["joint_plan_school"]["businessStatus"]["coding"]] == ["overdue", "escalated"]
    assert tasks["joint_plan_school"]["description"] == "联合干预方案（学校部分）"
    assert tasks["joint_plan_school"]["extension"] == [{"url": fhir.STAGE_EXTENSION, "valueCodeableConcept": {
        "coding": [{"system": fhir.STAGE_SYSTEM, "code": "treatment", "display": "治疗"}], "text": "治疗"}}]
    assert {element: t["owner"]["display"] for element, t in tasks.items()} == {
        "screening": "王老师", "remote_consult": "林芳", "joint_plan_school": "学校心理教师（太平村）",
        "joint_plan_medical": "周医生", "visit": "唐社工", "assess": "周医生"}
    assert tasks["joint_plan_school"]["owner"]["type"] == "PractitionerRole"
    assert tasks["joint_plan_medical"]["owner"] == {
        "type": "Practitioner", "identifier": {"system": fhir.USER_SYSTEM, "value": "fdoc_zhou"}, "display": "周医生"}
    # Done: when; the last change of an escalated task is its latest escalation.
    assert tasks["remote_consult"]["executionPeriod"] == {"start": "2026-11-02T10:00:00+08:00",
                                                          "end": "2026-11-06T11:00:00+08:00"}
    assert "executionPeriod" not in tasks["joint_plan_school"]
    assert tasks["joint_plan_school"]["lastModified"] == "2026-11-16T18:00:00+08:00"
    assert tasks["joint_plan_school"]["authoredOn"] == "2026-11-06T11:00:00+08:00"


def test_before_the_sweep_an_overdue_task_is_overdue_but_not_yet_escalated(student):   # noqa: F811
    ctx, school = student
    bundle = person_bundle(ctx.at(nov(13, 19)), "health_sup_jy", "S-1")
    plan = tasks_by_element(bundle)["joint_plan_school"]
    assert plan["businessStatus"] == {"coding": [{"system": fhir.BUSINESS_STATUS_SYSTEM, "code": "overdue"}],
                                      "text": "已超期"}
    assert "businessStatus" not in tasks_by_element(person_bundle(ctx.at(nov(13, 17)), "health_sup_jy", "S-1"))[
        "joint_plan_school"]


def test_every_deadline_is_the_tasks_due_at_and_every_time_carries_its_offset(s1):
    ctx, ids = s1
    rows = rows_of(ctx, *ids.values())
    tasks = entries(person_bundle(ctx, "health_sup_jy", "S-1"), "Task")
    assert len(tasks) == len(rows)
    for task in tasks:
        row = rows[int(task["id"])]
        period = task["restriction"]["period"]
        assert datetime.fromisoformat(period["start"]) == row["created_at"]
        if row["due_at"] is None:
            assert "end" not in period
        else:
            assert period["end"].endswith("+08:00")
            assert datetime.fromisoformat(period["end"]) == row["due_at"]
    deadlines = {t["code"]["text"]: t["restriction"]["period"].get("end") for t in tasks}
    assert deadlines["joint_plan_school"] == "2026-11-13T18:00:00+08:00"
    assert deadlines["remote_consult"] == "2026-11-04T18:00:00+08:00"


def test_references_resolve_inside_the_bundle(s1):
    ctx, ids = s1
    bundle = person_bundle(ctx, "health_sup_jy", "S-1")
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert len(by_url) == len(bundle["entry"])
    assert all(str(uuid.UUID(url.removeprefix("urn:uuid:"))) == url.removeprefix("urn:uuid:") for url in by_url)
    assert set(references(bundle)) <= set(by_url)
    [patient] = entries(bundle, "Patient")
    for plan in entries(bundle, "CarePlan"):
        assert by_url[plan["subject"]["reference"]] is patient
        activity = [by_url[a["reference"]["reference"]] for a in plan["activity"]]
        assert {t["resourceType"] for t in activity} == {"Task"}
        assert all(by_url[t["basedOn"][0]["reference"]] is plan for t in activity)
    tasks = entries(bundle, "Task")
    assert all(by_url[t["for"]["reference"]] is patient for t in tasks)
    assert sorted(a["reference"]["reference"] for p in entries(bundle, "CarePlan") for a in p["activity"]) == \
        sorted(fhir.full_url("Task", t["id"]) for t in tasks)

    one = task_resource(ctx, "fdoc_zhou", open_task(ctx, ids["school"], "joint_plan_medical")["id"])
    assert one["basedOn"] == [{"reference": f"CarePlan/{ids['school']}", "display": "学生心理健康筛查与干预"}]
    assert one["for"] == {"reference": f"Patient/{person_id(ctx, 'S-1')}", "display": "李同学"}


# --- who may read what --------------------------------------------------------------------------------

def test_the_patient_shows_who_the_person_is_only_to_a_reader_of_basic_information(s1):
    ctx, ids = s1
    [patient] = entries(person_bundle(ctx, "teacher_wang", "S-1"), "Patient")
    assert patient == {
        "resourceType": "Patient", "id": str(person_id(ctx, "S-1")),
        "identifier": [{"system": fhir.PERSON_SYSTEM, "value": "S-1"}], "name": [{"text": "李同学"}],
        "gender": "female", "birthDate": "2010-06-01",
        "managingOrganization": {"type": "Organization", "identifier": {"system": fhir.ORG_SYSTEM, "value": VILLAGE},
                                 "display": "太平村"}}
    # The analyst views the instance (its unit is under theirs) but reads no person data.
    with pytest.raises(PermissionDenied):
        person_bundle(ctx, "analyst_xu", "S-1")
    seen = careplan_of_instance(ctx, "analyst_xu", ids["school"])
    assert entries(seen, "Patient") == [{"resourceType": "Patient", "id": str(person_id(ctx, "S-1"))}]
    text = json.dumps(seen, ensure_ascii=False)
    assert "李同学" not in text and "2010-06-01" not in text and '"S-1"' not in text
    [plan] = entries(seen, "CarePlan")
    assert set(plan["subject"]) == {"reference"} and len(entries(seen, "Task")) == 4
    assert set(careplan_of_instance(ctx, "health_sup_jy", ids["school"])["entry"][0]["resource"]) >= {
        "name", "birthDate", "identifier"}


def test_a_reader_outside_the_jurisdiction_is_refused_as_on_the_person_page(s1):
    ctx, ids = s1
    with pytest.raises(PermissionDenied):
        records.person_for_user(ctx, person_id(ctx, "S-1"), "teacher_li")      # the page
    with pytest.raises(PermissionDenied):
        person_bundle(ctx, "teacher_li", "S-1")
    with pytest.raises(PermissionDenied):
        careplan_of_instance(ctx, "teacher_li", ids["school"])
    with pytest.raises(NotFound):
        task_resource(ctx, "teacher_li", open_task(ctx, ids["school"], "joint_plan_school")["id"])
    with pytest.raises(NotFound):
        person_bundle(ctx, "health_sup_jy", "S-404")
    with pytest.raises(NotFound):
        careplan_of_instance(ctx, "health_sup_jy", 999_999)
    assert audit_rows(ctx, actor="teacher_li", action="read") == []

    # Break-glass opens the record, as it opens the page, and the read says so.
    opened = privacy.break_glass(ctx, person_id(ctx, "S-1"), "teacher_li", "学生在校突发危机，需要了解诊疗经过")
    bundle = person_bundle(ctx, "teacher_li", "S-1")
    assert len(entries(bundle, "CarePlan")) == 3
    [read] = audit_rows(ctx, actor="teacher_li", action="read")
    assert read.detail["break_glass"] == opened["id"]


def test_each_read_is_audited_like_a_person_page_read(s1):
    ctx, ids = s1
    pid = person_id(ctx, "S-1")
    records.person_for_user(ctx, pid, "sw_tang")
    person_bundle(ctx, "sw_tang", "S-1")
    page, export = audit_rows(ctx, actor="sw_tang", action="read")
    assert (page.target, export.target) == (f"person:{pid}", "fhir:Bundle")
    assert export.person_id == page.person_id == pid
    assert export.detail == page.detail == {"tiers": ["basic"], "basis": {"basic": "role"}}
    assert export.at == NOW

    careplan_of_instance(ctx, "analyst_xu", ids["visit"])
    task = open_task(ctx, ids["school"], "joint_plan_medical")["id"]
    task_resource(ctx, "fdoc_zhou", task)
    assert [(r.actor, r.target, r.person_id, r.detail["tiers"]) for r in audit_rows(ctx, action="read")][2:] == [
        ("analyst_xu", f"fhir:CarePlan/{ids['visit']}", pid, []),
        ("fdoc_zhou", f"fhir:Task/{task}", pid, ["basic", "clinical"])]


# --- the mappings, alone ---------------------------------------------------------------------------------

def test_status_mappings():
    assert {s: fhir.careplan_status(s) for s in ("running", "completed", "cancelled", "error", "suspended",
                                                 "paused", "mystery")} == {
        "running": "active", "completed": "completed", "cancelled": "revoked", "error": "on-hold",
        "suspended": "on-hold", "paused": "on-hold", "mystery": "unknown"}
    assert {s: fhir.task_status(s) for s in ("open", "claimed", "completed", "cancelled")} == {
        "open": "ready", "claimed": "in-progress", "completed": "completed", "cancelled": "cancelled"}
    with pytest.raises(ValueError):
        fhir.task_status("escalated")
    assert fhir.instant(type("C", (), {"local": lambda self, m: m.astimezone(SHANGHAI)})(),
                        datetime(2026, 11, 4, 10, 0, tzinfo=SHANGHAI)) == "2026-11-04T10:00:00+08:00"
