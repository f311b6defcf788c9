"""The analysts' modeler through the real app (Flask test client, real SQLite, the real pathway
library): who may enter, the library with running counts, drafts saved with revisions (a stale
save refused), engine validation on save, hostile XML refused with where, versioned deploys with a
comment that leave running instances on their version, import and export byte for byte, and forms
edited as drafts that a deploy takes along."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from engine.runtime import services
from engine.store.models import Event, HumanTask, Instance, PathwayVersion

from conftest import PATHWAYS, SHANGHAI, deploy_pathways
from web import MovableClock, WebClient, text_of

VILLAGE = "510781001001"
SOURCE = (PATHWAYS / "school_screening.bpmn").read_bytes()
SCREENING = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
             "phq9_score": 14, "phq9_item9": 0}


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def app(region):
    from webui import create_app
    deploy_pathways(region, "school_screening", "severe_followup", "crisis_intervention")
    return create_app(region, now=MovableClock(nov(2, 9)).now)


def analyst(app) -> WebClient:
    client = WebClient(app)
    client.login("analyst_xu")
    return client


def post_xml(client: WebClient, url: str, data: bytes, revision: int | None = None, csrf: bool = True):
    headers = {"Content-Type": "application/xml"}
    if csrf:
        headers["X-CSRFToken"] = client.token
    if revision is not None:
        headers["X-Revision"] = str(revision)
    return client.client.post(url, data=data, headers=headers)


def post_json(client: WebClient, url: str, body: dict):
    return client.client.post(url, data=json.dumps(body), headers={
        "Content-Type": "application/json", "X-CSRFToken": client.token})


def edited(source: bytes = SOURCE, due: str = "${workdays(3)}", role: str = "health.mh_center_expert") -> bytes:
    text = source.decode()
    text = text.replace('camunda:candidateGroups="health.mh_center_expert"\n'
                        '                   camunda:formKey="school_screening/remote_consult.form"\n'
                        '                   camunda:dueDate="${workdays(2)}"',
                        f'camunda:candidateGroups="{role}"\n'
                        '                   camunda:formKey="school_screening/remote_consult.form"\n'
                        f'                   camunda:dueDate="{due}"')
    assert text != source.decode() or (due == "${workdays(2)}" and role == "health.mh_center_expert")
    return text.encode()


# --- who may enter ---------------------------------------------------------------------------------

def test_only_analysts_enter_the_modeler_and_see_it_in_the_navigation(app):
    teacher = WebClient(app)
    teacher.login("teacher_wang")
    assert "/modeler" not in teacher.get("/tasks").get_data(as_text=True)
    refused = teacher.get("/modeler")
    assert refused.status_code == 403 and "admin.analyst" in text_of(refused)
    assert teacher.get("/modeler/pathways/school_screening/source.bpmn").status_code == 403
    assert post_xml(teacher, "/modeler/pathways/school_screening/save", edited(), 0).status_code == 403
    supervisor = WebClient(app)
    supervisor.login("health_sup_prov")
    assert supervisor.get("/modeler/forms").status_code == 403

    client = analyst(app)
    assert 'href="/modeler"' in client.get("/tasks").get_data(as_text=True)
    assert client.get("/modeler").status_code == 200


# --- the library -----------------------------------------------------------------------------------

def test_the_library_lists_pathways_with_versions_running_instances_and_search(app, region):
    for _ in range(2):
        services.start_instance(region, "school_screening", VILLAGE, {})
    client = analyst(app)
    page = client.get("/modeler")
    html = page.get_data(as_text=True)
    rows = html.split('data-process="')[1:]
    assert [row.split("\"", 1)[0] for row in rows] == ["crisis_intervention", "school_screening", "severe_followup"]
    screening = next(r for r in rows if r.startswith("school_screening"))
    assert "v1: 2" in screening and "v1" in screening

    found = client.get("/modeler?q=筛查").get_data(as_text=True)
    assert 'data-process="school_screening"' in found and 'data-process="crisis_intervention"' not in found
    assert 'data-process="severe_followup"' in client.get("/modeler?q=FOLLOWUP").get_data(as_text=True)


def test_the_editor_page_carries_the_directory_roles_levels_stages_and_form_keys(app):
    page = analyst(app).get("/modeler/pathways/school_screening")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'class="cp-modeler"' in html and 'data-revision="0"' in html
    raw = html.split('data-config="', 1)[1].split('"', 1)[0]
    import html as html_lib
    config = json.loads(html_lib.unescape(raw))
    assert config["processId"] == "school_screening"
    assert {"code": "health.mh_center_expert", "name": "市精神卫生中心专家"} in config["roles"] or \
        any(r["code"] == "health.mh_center_expert" for r in config["roles"])
    assert [level["code"] for level in config["levels"]] == ["province", "city", "county", "township", "village"]
    assert "referral" in [s["code"] for s in config["stages"]]
    assert "school_screening/remote_consult.form" in config["forms"]
    assert config["formEditorUrl"] == "/modeler/forms/edit/__KEY__"


def test_the_source_is_the_deployed_file_byte_for_byte_and_exports_as_a_download(app):
    client = analyst(app)
    response = client.get("/modeler/pathways/school_screening/source.bpmn")
    assert response.status_code == 200 and response.data == SOURCE
    download = client.get("/modeler/pathways/school_screening/source.bpmn?version=1&download=1")
    assert download.data == SOURCE
    assert "attachment" in download.headers["Content-Disposition"]
    assert "school_screening.v1.bpmn" in download.headers["Content-Disposition"]
    assert client.get("/modeler/pathways/school_screening/source.bpmn?version=7").status_code == 404
    assert client.get("/modeler/pathways/nothing_here").status_code == 404


# --- validation and drafts -------------------------------------------------------------------------

def test_validation_names_an_unknown_role_and_a_bad_due_date_with_their_elements(app):
    client = analyst(app)
    client.get("/modeler/pathways/school_screening")
    response = post_xml(client, "/modeler/pathways/school_screening/validate",
                        edited(role="health.nobody", due="${workdays(3}"))
    assert response.status_code == 200
    problems = response.get_json()["problems"]
    messages = {p["element"]: [] for p in problems}
    for p in problems:
        messages[p["element"]].append(p["message"])
    assert any("health.nobody" in m and "不存在" in m for m in messages["remote_consult"])
    assert any("dueDate" in m for m in messages["remote_consult"])
    assert all(p["line"] > 0 for p in problems if p["element"] == "remote_consult")
    clean = post_xml(client, "/modeler/pathways/school_screening/validate", edited())
    assert clean.get_json() == {"problems": []}


HOSTILE = b"""<?xml version="1.0"?>
<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="school_screening" isExecutable="true"><bpmn:documentation>&xxe;</bpmn:documentation></bpmn:process>
</bpmn:definitions>"""


def test_hostile_or_foreign_xml_is_refused_with_what_and_where_and_nothing_is_saved(app, region):
    client = analyst(app)
    client.get("/modeler/pathways/school_screening")
    checked = post_xml(client, "/modeler/pathways/school_screening/validate", HOSTILE).get_json()
    assert len(checked["problems"]) == 1 and "root:" not in json.dumps(checked)
    assert "DOCTYPE" in checked["problems"][0]["message"] or "DTD" in checked["problems"][0]["message"]
    saved = post_xml(client, "/modeler/pathways/school_screening/save", HOSTILE, 0)
    assert saved.status_code == 400 and "第 2 行" in saved.get_json()["error"]
    renamed = SOURCE.replace(b'<bpmn:process id="school_screening"', b'<bpmn:process id="other_id"')
    refused = post_xml(client, "/modeler/pathways/school_screening/save", renamed, 0)
    assert refused.status_code == 400 and "other_id" in refused.get_json()["error"]
    huge = SOURCE + b"<!--" + b"x" * (region.settings.max_bpmn_bytes) + b"-->"
    assert post_xml(client, "/modeler/pathways/school_screening/save", huge, 0).status_code in (400, 413)
    assert post_xml(client, "/modeler/pathways/school_screening/save", edited(), 0, csrf=False).status_code == 400
    with region.db.unit_of_work() as session:
        assert session.scalar(select(Event).where(Event.kind == "pathway_draft_saved")) is None
    assert client.get("/modeler/pathways/school_screening/source.bpmn").data == SOURCE


def test_drafts_count_revisions_and_a_save_from_a_stale_revision_is_refused(app, region):
    first, second = analyst(app), analyst(app)
    for client in (first, second):
        client.get("/modeler/pathways/school_screening")
    saved = post_xml(first, "/modeler/pathways/school_screening/save", edited(), 0)
    assert saved.status_code == 200
    body = saved.get_json()
    assert body["revision"] == 1 and body["problems"] == []
    stale = post_xml(second, "/modeler/pathways/school_screening/save", edited(due="${workdays(9)}"), 0)
    assert stale.status_code == 409
    assert "analyst_xu" in stale.get_json()["error"] and "保存为第 1 版" in stale.get_json()["error"]
    assert client_source(first) == edited()                       # the first analyst's work stands
    again = post_xml(first, "/modeler/pathways/school_screening/save",
                     edited(role="health.nobody"), 1)
    assert again.get_json()["revision"] == 2
    assert any("health.nobody" in p["message"] for p in again.get_json()["problems"])   # kept, with problems
    assert 'data-revision="2"' in first.get("/modeler/pathways/school_screening").get_data(as_text=True)
    with region.db.unit_of_work() as session:
        events = list(session.scalars(select(Event).where(Event.kind == "pathway_draft_saved")))
        assert [(e.actor, e.detail["revision"]) for e in events] == [("analyst_xu", 1), ("analyst_xu", 2)]
    library = first.get("/modeler").get_data(as_text=True)
    assert "有未部署的修改" in library.split('data-process="school_screening"', 1)[1].split("</tr>", 1)[0]


def client_source(client: WebClient) -> bytes:
    return client.get("/modeler/pathways/school_screening/source.bpmn").data


# --- deploy ------------------------------------------------------------------------------------------

def test_deploy_needs_a_comment_refuses_a_draft_with_problems_and_deploys_a_clean_one(app, region):
    old = services.start_instance(region, "school_screening", VILLAGE, {})
    client = analyst(app)
    client.get("/modeler/pathways/school_screening")
    post_xml(client, "/modeler/pathways/school_screening/save", edited(role="health.nobody"), 0)

    no_comment = post_json(client, "/modeler/pathways/school_screening/deploy", {"comment": " ", "revision": 1})
    assert no_comment.status_code == 400 and "部署说明" in no_comment.get_json()["error"]
    broken = post_json(client, "/modeler/pathways/school_screening/deploy", {"comment": "改会诊时限", "revision": 1})
    assert broken.status_code == 422
    assert any(p["element"] == "remote_consult" and "health.nobody" in p["message"]
               for p in broken.get_json()["problems"])
    stale = post_json(client, "/modeler/pathways/school_screening/deploy", {"comment": "改会诊时限", "revision": 0})
    assert stale.status_code == 409

    post_xml(client, "/modeler/pathways/school_screening/save", edited(), 1)
    done = post_json(client, "/modeler/pathways/school_screening/deploy",
                     {"comment": "远程会诊时限改为 3 个工作日", "revision": 2})
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"version": 2, "changed": True, "url": "/modeler/pathways/school_screening"}
    page = client.get("/modeler/pathways/school_screening")
    text = text_of(page)
    assert "已部署 school_screening 第 2 版" in text and "远程会诊时限改为 3 个工作日" in text
    again = post_json(client, "/modeler/pathways/school_screening/deploy", {"comment": "再部署一次", "revision": 2})
    assert again.get_json()["changed"] is False and again.get_json()["version"] == 2

    with region.db.unit_of_work() as session:
        versions = {v.version: v for v in session.scalars(
            select(PathwayVersion).where(PathwayVersion.process_id == "school_screening"))}
        assert versions[2].deployed_by == "analyst_xu" and versions[2].comment == "远程会诊时限改为 3 个工作日"
        deployed = session.scalar(select(Event).where(Event.kind == "pathway_deployed", Event.actor == "analyst_xu"))
        assert deployed.detail["version"] == 2 and deployed.detail["comment"] == "远程会诊时限改为 3 个工作日"
        assert session.get(Instance, old.instance).version_id == versions[1].id     # stays on v1

    # A new instance runs v2: its remote consult is due 3 working days after the screening.
    at = region.at(nov(2, 9))
    new = services.start_instance(at, "school_screening", VILLAGE, {})
    screening = next(t for t in new.tasks if t["element"] == "screening")
    done = services.complete(region.at(nov(2, 10)), screening["id"], "teacher_wang", SCREENING)
    consult = next(t for t in done.tasks if t["element"] == "remote_consult")
    assert consult["due_at"].astimezone(SHANGHAI) == nov(5, 18)      # Mon 10:00 + 3 working days
    with region.db.unit_of_work() as session:
        assert session.get(Instance, new.instance).version_id == versions[2].id
        assert session.get(HumanTask, consult["id"]) is not None


def test_a_pathway_with_a_decision_table_deploys_again_from_the_modeler(app, region):
    """severe_followup's business rule task reads a DMN file; the modeler deploys it without the
    file on disk, from the decision tables stored with the deployed version."""
    client = analyst(app)
    client.get("/modeler/pathways/severe_followup")
    source = client.get("/modeler/pathways/severe_followup/source.bpmn").data
    changed = source.replace(b'name="', b'name="\xe6\x96\xb0', 1)          # rename the first named element
    assert post_xml(client, "/modeler/pathways/severe_followup/validate", changed).get_json() == {"problems": []}
    post_xml(client, "/modeler/pathways/severe_followup/save", changed, 0)
    done = post_json(client, "/modeler/pathways/severe_followup/deploy", {"comment": "改名", "revision": 1})
    assert done.status_code == 200 and done.get_json()["version"] == 2


# --- new, import, export -----------------------------------------------------------------------------

def test_a_new_pathway_from_the_template_is_a_draft_whose_problems_block_its_deploy(app):
    client = analyst(app)
    client.get("/modeler")
    made = client.post("/modeler/new", {"process_id": "home_visit", "name": "入户随访"})
    assert made.status_code == 302 and made.headers["Location"].endswith("/modeler/pathways/home_visit")
    row = client.get("/modeler").get_data(as_text=True).split('data-process="home_visit"', 1)[1].split("</tr>")[0]
    assert "入户随访" in row and "未部署" in row
    client.get("/modeler/pathways/home_visit")
    refused = post_json(client, "/modeler/pathways/home_visit/deploy", {"comment": "第一版", "revision": 1})
    assert refused.status_code == 422
    assert any(p["element"] == "first_task" and "负责人" in p["message"] for p in refused.get_json()["problems"])
    again = client.post("/modeler/new", {"process_id": "home_visit", "name": "重复"}, follow_redirects=True)
    assert "已存在" in text_of(again)
    bad = client.post("/modeler/new", {"process_id": "1 bad id", "name": "x"}, follow_redirects=True)
    assert "无效" in text_of(bad)


def test_an_imported_file_is_kept_byte_for_byte_and_a_file_with_two_processes_is_refused(app):
    client = analyst(app)
    client.get("/modeler")
    from io import BytesIO
    data = (PATHWAYS / "depression_social_work.bpmn").read_bytes()
    imported = client.post("/modeler/import", {"file": (BytesIO(data), "depression_social_work.bpmn")},
                           content_type="multipart/form-data")
    assert imported.status_code == 302 and imported.headers["Location"].endswith("/modeler/pathways/depression_social_work")
    assert client.get("/modeler/pathways/depression_social_work/source.bpmn?download=1").data == data
    two = data.replace(b"</bpmn:definitions>",
                       b'<bpmn:process id="second" isExecutable="true"/></bpmn:definitions>')
    refused = client.post("/modeler/import", {"file": (BytesIO(two), "two.bpmn")},
                          content_type="multipart/form-data", follow_redirects=True)
    assert "恰好有一个可执行流程" in text_of(refused) and "2 个" in text_of(refused)


# --- forms ---------------------------------------------------------------------------------------------

def test_forms_are_listed_with_their_pathways_and_edited_as_drafts_a_deploy_takes_along(app, region):
    client = analyst(app)
    listing = client.get("/modeler/forms").get_data(as_text=True)
    row = listing.split('data-key="school_screening/remote_consult.form"', 1)[1].split("</tr>", 1)[0]
    assert "school_screening" in row and "表单目录" in row

    key = "school_screening/remote_consult.form"
    page = client.get(f"/modeler/forms/edit/{key}")
    assert page.status_code == 200 and 'class="cp-form-editor"' in page.get_data(as_text=True)
    form = json.loads(client.get(f"/modeler/forms/source/{key}").data)
    form["components"][0]["text"] = "## 远程会诊（新版说明）"
    url = f"/modeler/forms/save/{key}"
    headers = {"Content-Type": "application/json", "X-CSRFToken": client.token}
    saved = client.client.post(url, data=json.dumps(form, ensure_ascii=False).encode(),
                               headers={**headers, "X-Revision": "0"})
    assert saved.status_code == 200 and saved.get_json()["revision"] == 1 and saved.get_json()["problems"] == []
    stale = client.client.post(url, data=json.dumps(form).encode(), headers={**headers, "X-Revision": "0"})
    assert stale.status_code == 409
    broken = client.client.post(url, data=b"{not json", headers={**headers, "X-Revision": "1"})
    assert broken.status_code == 400 and "JSON" in broken.get_json()["error"]
    bad_field = json.loads(json.dumps(form))
    bad_field["components"].append({"type": "number", "key": "x", "label": "X", "validate": {"min": "many"}})
    flagged = client.client.post(url, data=json.dumps(bad_field).encode(), headers={**headers, "X-Revision": "1"})
    assert flagged.status_code == 200 and flagged.get_json()["problems"]
    fixed = client.client.post(url, data=json.dumps(form, ensure_ascii=False).encode(),
                               headers={**headers, "X-Revision": "2"})
    assert fixed.get_json()["revision"] == 3
    exported = client.get(f"/modeler/forms/source/{key}?download=1")
    assert exported.data.endswith(b"}\n") and b'\n  "components"' in exported.data
    assert "remote_consult.form" in exported.headers["Content-Disposition"]

    deployed = post_json(client, "/modeler/pathways/school_screening/deploy", {"comment": "会诊表单说明", "revision": 0})
    assert deployed.status_code == 200 and deployed.get_json() == {
        "version": 2, "changed": True, "url": "/modeler/pathways/school_screening"}
    with region.db.unit_of_work() as session:
        v2 = session.scalar(select(PathwayVersion).where(PathwayVersion.process_id == "school_screening",
                                                        PathwayVersion.version == 2))
        assert v2.forms[key]["components"][0]["text"] == "## 远程会诊（新版说明）"


def test_a_new_form_copies_a_template_and_form_keys_cannot_leave_the_forms_directory(app):
    client = analyst(app)
    client.get("/modeler/forms")
    made = client.post("/modeler/forms/new", {"key": "home_visit/visit.form",
                                              "copy_of": "school_screening/followup_talk.form"})
    assert made.status_code == 302 and made.headers["Location"].endswith("/modeler/forms/edit/home_visit/visit.form")
    copy = json.loads(client.get("/modeler/forms/source/home_visit/visit.form").data)
    original = json.loads(client.get("/modeler/forms/source/school_screening/followup_talk.form").data)
    assert copy["components"] == original["components"] and copy["id"] == "home_visit_visit"
    blank = client.post("/modeler/forms/new", {"key": "home_visit/blank.form"})
    assert json.loads(client.get("/modeler/forms/source/home_visit/blank.form").data)["components"] == []
    assert blank.status_code == 302
    assert "已存在" in text_of(client.post("/modeler/forms/new", {"key": "home_visit/visit.form"},
                                          follow_redirects=True))
    for key in ("../pyproject.toml", "..%2Fpyproject.toml", "/etc/passwd.form", "a/../../x.form", ".hidden.form"):
        response = client.get(f"/modeler/forms/source/{key}", follow_redirects=True)
        assert response.status_code in (400, 404), key
        assert b"[project]" not in response.data
    traversal = client.post("/modeler/forms/new", {"key": "../escape.form"}, follow_redirects=True)
    assert "无效" in text_of(traversal)
