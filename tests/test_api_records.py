"""The REST API's pathways, people and FHIR routes as outside systems use them, on the demo region
with the real pathways: the city's pathway office lists the library, reads a version's BPMN and
deploys — the workspace draft at a revision, or a BPMN file from version control — under the
modeler's rules (analysts only, a stale revision 409, problems 422 with their element and line,
the deploy audited); a hospital's system reads a person's journey exactly as the person page gives
it to it, and the person's pathways as FHIR R4 that the official schema accepts; out of
jurisdiction is 404, like a record that does not exist."""
from __future__ import annotations

import json
from datetime import datetime
from io import BytesIO

import pytest
from sqlalchemy import select

from engine import records, workspace
from engine.fhir import person_bundle
from engine.fhir import resources as fhir
from engine.fhir.schema import validator
from engine.people import register_person
from engine.runtime import services
from engine.store.audit import AuditEvent

from conftest import PATHWAYS, SHANGHAI, deploy_pathways
from test_api import VILLAGE, token_for
from test_modeler_workspace import edited
from test_person_journey import CONSULT_MILD, SCREEN_POSITIVE, open_task, person_id
from web import MovableClock

SCREENING = "学生心理健康筛查与干预"
SOURCE = (PATHWAYS / "school_screening.bpmn").read_bytes()
OFFICE = [("admin.analyst", "510700")]                 # the city's pathway office (like analyst_xu)
HOSPITAL = [("health.family_doctor", "510781001")]      # reads basic and clinical in its township
NEXT_TOWNSHIP = [("health.family_doctor", "510781002")]


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


def app_client(ctx, moment: datetime):
    from webui import create_app
    return create_app(ctx, now=MovableClock(moment).now).test_client()


@pytest.fixture
def api(region):
    deploy_pathways(region, "school_screening")
    return region, app_client(region, nov(2, 11))


def audit_rows(ctx, **where) -> list[AuditEvent]:
    with ctx.db.unit_of_work() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def version_numbers(ctx) -> list[int]:
    return [v["version"] for v in workspace.pathway_info(ctx, "analyst_xu", "school_screening")["versions"]]


def upload(client, process_id: str, data: bytes, headers: dict, comment: str | None = "从版本库部署",
           filename: str = "school_screening.bpmn"):
    form = {"file": (BytesIO(data), filename)} if data is not None else {}
    if comment is not None:
        form["comment"] = comment
    return client.post(f"/api/v1/pathways/{process_id}/versions", data=form, headers=headers,
                       content_type="multipart/form-data")


# --- pathways -----------------------------------------------------------------------------------------

def test_the_pathway_office_lists_pathways_and_versions_and_reads_a_versions_bpmn(api):
    ctx, client = api
    office = token_for(ctx, "pathway-office", OFFICE, ["pathways:read"])
    services.start_instance(ctx.at(nov(2, 10)), "school_screening", VILLAGE)
    listed = client.get("/api/v1/pathways", headers=office)
    assert listed.status_code == 200, listed.get_json()
    [entry] = listed.get_json()["items"]
    assert at(entry.pop("deployed_at")) == nov(2, 9)
    assert entry == {"process_id": "school_screening", "name": SCREENING, "latest": 1, "deployed_by": None,
                     "running": 1, "draft": None}
    assert client.get("/api/v1/pathways?q=筛查", headers=office).get_json()["items"][0]["latest"] == 1
    assert client.get("/api/v1/pathways?q=nothing-like-it", headers=office).get_json() == {"items": []}

    versions = client.get("/api/v1/pathways/school_screening/versions", headers=office).get_json()["items"]
    assert [(v["version"], at(v["deployed_at"]), v["deployed_by"], v["comment"], v["running"]) for v in versions] \
        == [(1, nov(2, 9), None, None, 1)]
    detail = client.get("/api/v1/pathways/school_screening", headers=office).get_json()
    assert detail["versions"] == versions and detail["latest"] == 1 and detail["draft"] is None

    source = client.get("/api/v1/pathways/school_screening/versions/1/bpmn", headers=office)
    assert source.status_code == 200 and source.mimetype == "application/xml" and source.data == SOURCE
    missing = client.get("/api/v1/pathways/school_screening/versions/9/bpmn", headers=office)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    assert "没有版本 9" in missing.get_json()["message"]
    unknown = client.get("/api/v1/pathways/no_such_pathway/versions", headers=office)
    assert unknown.status_code == 404 and unknown.get_json()["message"] == "路径 no_such_pathway 不存在"

    # A pathway with only a draft is listed on request, with its draft's revision.
    workspace.new_pathway(ctx, "analyst_xu", "home_visit", "入户随访")
    assert [e["process_id"] for e in client.get("/api/v1/pathways", headers=office).get_json()["items"]] == [
        "school_screening"]
    drafts = client.get("/api/v1/pathways?drafts=true", headers=office).get_json()["items"]
    assert [(e["process_id"], e["name"], e["latest"], (e["draft"] or {}).get("revision"),
             (e["draft"] or {}).get("saved_by")) for e in drafts] == [
        ("home_visit", "入户随访", None, 1, "analyst_xu"), ("school_screening", SCREENING, 1, None, None)]


def test_a_system_without_the_analyst_role_reads_no_library_and_deploys_nothing(api):
    ctx, client = api
    hospital = token_for(ctx, "his", HOSPITAL, ["pathways:read", "pathways:deploy"])
    workspace.save_pathway(ctx, "analyst_xu", "school_screening", edited(), 0)
    for response in (client.get("/api/v1/pathways", headers=hospital),
                     client.get("/api/v1/pathways/school_screening/versions", headers=hospital),
                     client.get("/api/v1/pathways/school_screening/versions/1/bpmn", headers=hospital),
                     client.post("/api/v1/pathways/school_screening/deploy",
                                 json={"revision": 1, "comment": "医院自行部署"}, headers=hospital),
                     upload(client, "school_screening", edited(), hospital)):
        assert response.status_code == 403, response.get_data(as_text=True)
        assert response.get_json()["code"] == "forbidden" and "admin.analyst" in response.get_json()["message"]
    assert version_numbers(ctx) == [1]
    assert audit_rows(ctx, actor="api:his") == []


def test_a_client_without_the_scope_gets_403_naming_it(api):
    ctx, client = api
    reader = token_for(ctx, "office-reader", OFFICE, ["pathways:read"])
    workspace.save_pathway(ctx, "analyst_xu", "school_screening", edited(), 0)
    refused = client.post("/api/v1/pathways/school_screening/deploy", json={"revision": 1, "comment": "部署"},
                          headers=reader)
    assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden"
    assert "pathways:deploy" in refused.get_json()["message"]
    assert upload(client, "school_screening", edited(), reader).get_json()["message"] == refused.get_json()["message"]
    assert version_numbers(ctx) == [1]

    tasks_only = token_for(ctx, "tasks-only", OFFICE + HOSPITAL, ["tasks:read"])
    for url, scope in (("/api/v1/pathways", "pathways:read"), ("/api/v1/people/1", "people:read"),
                       ("/api/v1/fhir/Patient/S-1/$everything", "fhir:read"), ("/api/v1/fhir/Task/1", "fhir:read"),
                       ("/api/v1/fhir/CarePlan/1/$everything", "fhir:read")):
        response = client.get(url, headers=tasks_only)
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden", url
        assert f"令牌缺少权限范围 {scope}" in response.get_json()["message"], url


def test_the_office_deploys_the_draft_as_a_new_version_and_the_deploy_is_audited(api):
    ctx, client = api
    office = token_for(ctx, "pathway-office", OFFICE, ["pathways:read", "pathways:deploy"])
    services.start_instance(ctx.at(nov(2, 10)), "school_screening", VILLAGE)
    workspace.save_pathway(ctx, "analyst_xu", "school_screening", edited(), 0)
    draft = client.get("/api/v1/pathways/school_screening", headers=office).get_json()["draft"]
    assert (draft["revision"], draft["saved_by"], draft["pending"]) == (1, "analyst_xu", True)

    stale = client.post("/api/v1/pathways/school_screening/deploy", json={"revision": 0, "comment": "改会诊时限"},
                        headers=office)
    assert stale.status_code == 409 and stale.get_json()["code"] == "conflict"
    assert "第 1 版" in stale.get_json()["message"] and "第 0 版" in stale.get_json()["message"]
    assert version_numbers(ctx) == [1]

    done = client.post("/api/v1/pathways/school_screening/deploy",
                       json={"revision": 1, "comment": "远程会诊时限改为 3 个工作日"}, headers=office)
    assert done.status_code == 201, done.get_json()
    assert done.get_json() == {"process_id": "school_screening", "version": 2, "changed": True, "name": SCREENING}
    versions = client.get("/api/v1/pathways/school_screening/versions", headers=office).get_json()["items"]
    assert [(v["version"], at(v["deployed_at"]), v["deployed_by"], v["comment"], v["running"]) for v in versions] == [
        (2, nov(2, 11), "api:pathway-office", "远程会诊时限改为 3 个工作日", 0), (1, nov(2, 9), None, None, 1)]
    assert client.get("/api/v1/pathways/school_screening/versions/2/bpmn", headers=office).data == edited()
    [deployed] = audit_rows(ctx, action="pathway_deployed", actor="api:pathway-office")
    assert deployed.at == nov(2, 11) and deployed.origin.startswith("api ")
    assert (deployed.detail["process_id"], deployed.detail["version"], deployed.detail["comment"]) == (
        "school_screening", 2, "远程会诊时限改为 3 个工作日")
    services.start_instance(ctx.at(nov(2, 12)), "school_screening", VILLAGE)        # runs the new version
    assert [(v["version"], v["running"]) for v in client.get(
        "/api/v1/pathways/school_screening/versions", headers=office).get_json()["items"]] == [(2, 1), (1, 1)]

    again = client.post("/api/v1/pathways/school_screening/deploy", json={"revision": 1, "comment": "再部署一次"},
                        headers=office)
    assert again.status_code == 200 and again.get_json() == {
        "process_id": "school_screening", "version": 2, "changed": False, "name": SCREENING}
    assert version_numbers(ctx) == [2, 1]


def test_an_invalid_draft_is_refused_with_422_naming_each_problem_and_nothing_is_deployed(api):
    ctx, client = api
    office = token_for(ctx, "pathway-office", OFFICE, ["pathways:read", "pathways:deploy"])
    workspace.save_pathway(ctx, "analyst_xu", "school_screening", edited(role="health.nobody"), 0)
    refused = client.post("/api/v1/pathways/school_screening/deploy", json={"revision": 1, "comment": "改会诊岗位"},
                          headers=office)
    body = refused.get_json()
    assert refused.status_code == 422 and body["code"] == "pathway_invalid" and body["status"] == 422
    assert "未部署" in body["message"]
    [problem] = [p for p in body["problems"] if "health.nobody" in p["message"]]
    assert problem["element"] == "remote_consult" and problem["line"] > 0
    assert SOURCE.decode().splitlines()[problem["line"] - 1].strip().startswith("<bpmn:userTask id=\"remote_consult\"")

    blank = client.post("/api/v1/pathways/school_screening/deploy", json={"revision": 1, "comment": "  "},
                        headers=office)
    assert blank.status_code == 400 and blank.get_json()["code"] == "invalid" and "部署说明" in blank.get_json()["message"]
    shapeless = client.post("/api/v1/pathways/school_screening/deploy", json={"comment": "x", "revision": "1",
                                                                              "force": True}, headers=office)
    assert shapeless.status_code == 422 and set(shapeless.get_json()["errors"]["json"]) == {"revision", "force"}
    assert version_numbers(ctx) == [1] and audit_rows(ctx, action="pathway_deployed") == []


def test_a_bpmn_file_from_version_control_is_checked_imported_and_deployed(api):
    ctx, client = api
    office = token_for(ctx, "ci", OFFICE, ["pathways:read", "pathways:deploy"])
    broken = upload(client, "school_screening", edited(role="health.nobody"), office)
    assert broken.status_code == 422 and broken.get_json()["code"] == "pathway_invalid"
    assert [p["element"] for p in broken.get_json()["problems"]
            if "health.nobody" in p["message"]] == ["remote_consult"]
    other = upload(client, "school_screening", (PATHWAYS / "depression_social_work.bpmn").read_bytes(), office)
    assert other.status_code == 422 and "depression_social_work" in other.get_json()["problems"][0]["message"]
    no_file = upload(client, "school_screening", None, office)
    assert no_file.status_code == 422 and no_file.get_json()["code"] == "invalid_request"
    assert "form.file" in no_file.get_json()["message"] and list(no_file.get_json()["errors"]["form"]) == ["file"]
    as_text = client.post("/api/v1/pathways/school_screening/versions", headers=office,
                          content_type="multipart/form-data", data={"file": edited().decode(), "comment": "部署"})
    assert as_text.status_code == 422 and as_text.get_json()["errors"] == {"form": {"file": ["Not a file upload."]}}
    blank = upload(client, "school_screening", edited(), office, comment=" ")
    assert blank.status_code == 400 and "部署说明" in blank.get_json()["message"]
    assert workspace.pathway_info(ctx, "analyst_xu", "school_screening")["draft"] is None     # nothing kept
    assert audit_rows(ctx, actor="api:ci") == []

    done = upload(client, "school_screening", edited(), office, comment="会诊时限 3 个工作日（git 1a2b3c）")
    assert done.status_code == 201, done.get_json()
    assert done.get_json() == {"process_id": "school_screening", "version": 2, "changed": True, "name": SCREENING}
    assert client.get("/api/v1/pathways/school_screening/versions/2/bpmn", headers=office).data == edited()
    assert [(r.action, r.detail["process_id"]) for r in audit_rows(ctx, actor="api:ci")] == [
        ("pathway_imported", "school_screening"), ("pathway_deployed", "school_screening")]
    same = upload(client, "school_screening", edited(), office, comment="再次推送")
    assert same.status_code == 200 and same.get_json()["changed"] is False and version_numbers(ctx) == [2, 1]

    # A pathway new to the library is deployed from its file as version 1.
    fresh = (PATHWAYS / "depression_social_work.bpmn").read_bytes()
    first = upload(client, "depression_social_work", fresh, office, filename="depression_social_work.bpmn")
    assert first.status_code == 201, first.get_json()
    assert (first.get_json()["version"], first.get_json()["changed"]) == (1, True)
    assert client.get("/api/v1/pathways/depression_social_work/versions/1/bpmn", headers=office).data == fresh


# --- people -------------------------------------------------------------------------------------------

@pytest.fixture
def journey(region):
    """S-1 of 太平村 in school screening: screened positive on Monday, the city's consult done on
    Tuesday, the joint plan's medical half claimed by the family doctor on Wednesday; the app's
    clock is Thursday 5 November 09:00."""
    deploy_pathways(region, "school_screening")
    register_person(region, "S-1", "李同学", VILLAGE, gender="女", birth_date="2010-06-01")
    instance = services.start_instance(region.at(nov(2, 9)), "school_screening", VILLAGE, {}, person="S-1").instance
    services.complete(region.at(nov(2, 10)), open_task(region, instance, "screening")["id"], "teacher_wang",
                      SCREEN_POSITIVE)
    services.complete(region.at(nov(3, 10)), open_task(region, instance, "remote_consult")["id"], "expert_chen",
                      CONSULT_MILD)
    services.claim(region.at(nov(4, 9)), open_task(region, instance, "joint_plan_medical")["id"], "fdoc_zhou")
    ctx = region.at(nov(5, 9))
    return ctx, app_client(region, nov(5, 9)), instance, person_id(region, "S-1")


def plain(value):
    """What JSON makes of an engine dict: times and dates in ISO form."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat()))


def test_a_person_read_through_the_api_is_the_person_page_for_that_caller(journey):
    ctx, client, instance, pid = journey
    hospital = token_for(ctx, "his", HOSPITAL, ["people:read"])
    supervisor = token_for(ctx, "county-health", [("health.supervisor", "510781")], ["people:read"])
    read = client.get(f"/api/v1/people/{pid}", headers=hospital)
    assert read.status_code == 200, read.get_json()
    body = read.get_json()
    assert body == plain(records.person_for_user(ctx, pid, "api:his"))
    assert body["person"] == {"id": pid, "ref": "S-1", "name": "李同学", "gender": "女", "birth_date": "2010-06-01",
                              "org": VILLAGE, "org_name": "太平村", "registered_at": body["person"]["registered_at"]}
    assert body["reading"] == {"tiers": ["basic", "clinical"], "basis": {"basic": "role", "clinical": "role"},
                               "break_glass": None}
    assert [(i["instance"], i["process_id"], i["status"]) for i in body["instances"]] == [
        (instance, "school_screening", "running")]
    assert [(t["element"], t["status"], t["assignee"]) for t in body["current_tasks"]] == [
        ("joint_plan_school", "open", None), ("joint_plan_medical", "claimed", "fdoc_zhou")]
    assert body["summary"] == {"completed": 2, "late": 0, "open": 2, "overdue": 0}

    looked = client.get(f"/api/v1/people/{pid}", headers=supervisor).get_json()
    assert looked["reading"] == {"tiers": ["basic"], "basis": {"basic": "role"}, "break_glass": None}
    assert looked == plain(records.person_for_user(ctx, pid, "api:county-health"))
    reads = audit_rows(ctx, action="read", target=f"person:{pid}")
    assert [(r.actor, r.detail["tiers"]) for r in reads] == [
        ("api:his", ["basic", "clinical"]), ("api:his", ["basic", "clinical"]),
        ("api:county-health", ["basic"]), ("api:county-health", ["basic"])]
    assert reads[0].origin.startswith("api ") and reads[0].person_id == pid


def test_a_person_outside_the_jurisdiction_answers_404_like_one_that_does_not_exist(journey):
    ctx, client, instance, pid = journey
    elsewhere = token_for(ctx, "next-township", NEXT_TOWNSHIP, ["people:read", "fhir:read"])
    office = token_for(ctx, "pathway-office", OFFICE, ["people:read", "fhir:read"])   # analysts read no person data
    for headers in (elsewhere, office):
        hidden, missing = client.get(f"/api/v1/people/{pid}", headers=headers), client.get(
            "/api/v1/people/999999", headers=headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.get_json() == {"code": "not_found", "status": 404,
                                     "message": f"服务对象 {pid} 不存在或不在您的辖区内"}
        assert missing.get_json()["message"] == "服务对象 999999 不存在或不在您的辖区内"
        patient = client.get("/api/v1/fhir/Patient/S-1/$everything", headers=headers)
        nobody = client.get("/api/v1/fhir/Patient/S-404/$everything", headers=headers)
        assert patient.status_code == nobody.status_code == 404 and patient.get_json() == nobody.get_json()
        assert "S-1" not in patient.get_data(as_text=True) and "李同学" not in patient.get_data(as_text=True)
    task = open_task(ctx, instance, "joint_plan_school")["id"]
    for url in (f"/api/v1/fhir/CarePlan/{instance}/$everything", f"/api/v1/fhir/Task/{task}"):
        response = client.get(url, headers=elsewhere)
        assert response.status_code == 404 and response.is_json and response.get_json()["code"] == "not_found", url
    assert audit_rows(ctx, actor="api:next-township") == []


# --- FHIR ---------------------------------------------------------------------------------------------

def test_fhir_routes_answer_fhir_json_the_r4_schema_accepts_with_activities_and_deadlines(journey):
    ctx, client, instance, pid = journey
    check = validator()
    county = token_for(ctx, "county-health", [("health.supervisor", "510781")], ["fhir:read"])
    school = token_for(ctx, "school-psy", [("education.school_psychologist", "510781001")], ["fhir:read"])
    tasks = {t["element"]: t for t in services.list_tasks(ctx, instance_id=instance, status="all")}

    response = client.get("/api/v1/fhir/Patient/S-1/$everything", headers=county)
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    bundle = json.loads(response.get_data(as_text=True))
    check(bundle)
    [read] = audit_rows(ctx, actor="api:county-health", action="read")
    assert (read.target, read.person_id, read.detail["tiers"]) == ("fhir:Bundle", pid, ["basic"])
    assert bundle == person_bundle(ctx, "api:county-health", "S-1")
    assert (bundle["type"], bundle["timestamp"]) == ("collection", "2026-11-05T09:00:00+08:00")
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "CarePlan", "Task", "Task", "Task", "Task"]
    plan = bundle["entry"][1]["resource"]
    assert (plan["id"], plan["status"], plan["title"]) == (str(instance), "active", SCREENING)
    assert plan["activity"] == [{"reference": {"reference": fhir.full_url("Task", tasks[e]["id"]),
                                               "display": tasks[e]["name"]}}
                                for e in ("screening", "remote_consult", "joint_plan_school", "joint_plan_medical")]
    periods = {e["resource"]["code"]["text"]: e["resource"]["restriction"]["period"] for e in bundle["entry"][2:]}
    assert periods == {
        "screening": {"start": "2026-11-02T09:00:00+08:00", "end": periods["screening"]["end"]},
        "remote_consult": {"start": "2026-11-02T10:00:00+08:00", "end": "2026-11-04T18:00:00+08:00"},
        "joint_plan_school": {"start": "2026-11-03T10:00:00+08:00", "end": "2026-11-10T18:00:00+08:00"},
        "joint_plan_medical": {"start": "2026-11-03T10:00:00+08:00", "end": "2026-11-10T18:00:00+08:00"}}
    assert at(periods["screening"]["end"]) == tasks["screening"]["due_at"]

    plan_read = client.get(f"/api/v1/fhir/CarePlan/{instance}/$everything", headers=county)
    assert plan_read.status_code == 200 and plan_read.mimetype == "application/fhir+json"
    check(plan_read.get_json(force=True))
    entries = [e["resource"] for e in plan_read.get_json(force=True)["entry"]]
    assert [r["resourceType"] for r in entries] == ["Patient", "CarePlan", "Task", "Task", "Task", "Task"]
    assert entries[1]["activity"] == plan["activity"] and entries[0]["identifier"][0]["value"] == "S-1"

    one = client.get(f"/api/v1/fhir/Task/{tasks['joint_plan_school']['id']}", headers=school)
    assert one.status_code == 200 and one.mimetype == "application/fhir+json"
    task = json.loads(one.get_data(as_text=True))
    check(task)
    assert (task["resourceType"], task["status"], task["code"], task["description"]) == (
        "Task", "ready", {"text": "joint_plan_school"}, "联合干预方案（学校部分）")
    assert task["restriction"] == {"period": {"start": "2026-11-03T10:00:00+08:00",
                                              "end": "2026-11-10T18:00:00+08:00"}}
    assert task["basedOn"] == [{"reference": f"CarePlan/{instance}", "display": SCREENING}]
    assert task["for"] == {"reference": f"Patient/{pid}", "display": "李同学"}
    assert task["owner"]["identifier"] == {"system": fhir.ROLE_SYSTEM,
                                           "value": f"education.school_psychologist@{VILLAGE}"}
    # The family doctor's claimed half is not the school's to see.
    hidden = client.get(f"/api/v1/fhir/Task/{tasks['joint_plan_medical']['id']}", headers=school)
    assert hidden.status_code == 404 and hidden.get_json()["code"] == "not_found"


def test_the_openapi_document_describes_the_records_routes(api):
    _ctx, client = api
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/pathways", "/api/v1/pathways/{process_id}", "/api/v1/pathways/{process_id}/versions",
            "/api/v1/pathways/{process_id}/versions/{version}/bpmn", "/api/v1/pathways/{process_id}/deploy",
            "/api/v1/people/{person_id}", "/api/v1/fhir/Patient/{ref}/$everything",
            "/api/v1/fhir/CarePlan/{instance_id}/$everything", "/api/v1/fhir/Task/{task_id}"} <= set(paths)
    for path in ("/api/v1/fhir/Patient/{ref}/$everything", "/api/v1/fhir/CarePlan/{instance_id}/$everything",
                 "/api/v1/fhir/Task/{task_id}"):
        answers = paths[path]["get"]["responses"]
        assert list(answers["200"]["content"]) == ["application/fhir+json"], path
        assert answers["200"]["content"]["application/fhir+json"]["schema"]["type"] == "object"
        assert list(answers["404"]["content"]) == ["application/json"]
    assert list(paths["/api/v1/pathways/{process_id}/versions/{version}/bpmn"]["get"]["responses"]["200"]["content"]) \
        == ["application/xml"]
    upload_body = paths["/api/v1/pathways/{process_id}/versions"]["post"]["requestBody"]["content"]
    assert list(upload_body) == ["multipart/form-data"]
    assert set(paths["/api/v1/pathways/{process_id}/deploy"]["post"]["responses"]) >= {"201", "200", "409", "422"}
