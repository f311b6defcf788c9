"""Nothing leaks: every route of the web app (pages and JSON/XML endpoints, GET and POST), walked
as users of another jurisdiction and as roles of a lower tier, against one person's records in
太平村. The route table must name every endpoint the app has, so a new route cannot skip the walk.

Markers: the person's name and reference (basic), a diagnosis and an expert's opinion (clinical)
and a case number (case). Each viewer has the markers they must never see, in raw text or
JSON-escaped form, in any response body or redirect target."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from engine.pathways import deploy_files
from engine.people import register_person
from engine.runtime import services

from conftest import BPMN, SHANGHAI, deploy_pathways
from pathway_steps import do
from web import MovableClock, WebClient

VILLAGE = "510781001001"
NAME, REF = "泄漏甲", "LEAKREF1"
CLINICAL = ("诊断标记F32", "DXMARK42", "OPINIONMARK9")     # the tiered record, the consult
CASE = ("案件标记2026",)
PERSON = (NAME, REF)


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def seeded(region):
    """泄漏甲 of 太平村 in school screening (screened positive, the city's consult done with an
    opinion, the joint plan overdue and escalated) and in a tiered record (diagnosis and case
    number); a consent for civil affairs to read clinical data that has expired."""
    from engine.privacy.services import record_consent
    deploy_pathways(region, "school_screening")
    deploy_files(region, [BPMN / "tiered_record.bpmn"])
    at = region.at(nov(2, 9))
    person = register_person(at, REF, NAME, VILLAGE, gender="男", birth_date="2010-12-15")
    screening = services.start_instance(at, "school_screening", VILLAGE, person=REF).instance
    do(region, nov(2, 10), "teacher_wang", "screening", {
        "student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
        "phq9_score": 14, "phq9_item9": 0})
    do(region, nov(3, 10), "expert_chen", "remote_consult", {
        "consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作 DXMARK42",
        "severity": "moderate", "expert_opinion": "视频会诊 OPINIONMARK9，建议家校医联合干预。"})
    record = services.start_instance(at, "tiered_record", VILLAGE, {
        "diagnosis": "诊断标记F32", "case_number": "案件标记2026", "visit_plan": "每月入户"}, person=REF).instance
    services.tick(region.at(nov(10, 18)))
    services.tick(region.at(nov(11, 18)))
    consent = record_consent(region.at(nov(2, 9)), person["id"], "cw_huang", ["civil"], ["clinical"],
                             nov(4, 0), "授权书 LEAK-C1")
    ids = _ids(region, person["id"], (screening, record))
    ids["consent"] = consent["id"]
    return region, ids


def _ids(ctx, person: int, instances: tuple[int, int]) -> dict:
    from sqlalchemy import select

    from engine.store.models import Escalation, HumanTask
    from engine.store.notify import Notification
    with ctx.db.unit_of_work() as session:
        tasks = session.scalars(select(HumanTask.id).where(HumanTask.instance_id.in_(instances))).all()
        escalations = session.scalars(select(Escalation.id)).all()
        notifications = session.scalars(select(Notification.id)).all()
    assert tasks and escalations and notifications
    return {"person": person, "instances": list(instances), "tasks": list(tasks),
            "escalations": list(escalations), "notifications": list(notifications),
            "processes": ["school_screening", "tiered_record"],
            "forms": ["school_screening/remote_consult.form", "school_screening/screening.form"]}


# endpoint → the requests to make: (method, url, form data or None)
def _routes(ids: dict) -> dict:
    person, tasks, instances = ids["person"], ids["tasks"], ids["instances"]
    every = lambda template, key: [("GET", template.format(i), None) for i in ids[key]]  # noqa: E731
    return {
        "auth.home": [("GET", "/", None)],
        "auth.login": [("GET", "/login", None)],
        "auth.logout": [],                                   # walked last, by the fixture's end
        "set_language": [("GET", "/lang/zh?next=/tasks", None)],
        "static": [("GET", "/static/css/app.css", None)],
        "tasks.inbox": [("GET", "/tasks", None), ("GET", "/tasks?overdue=1&sort=due", None)],
        "tasks.show": every("/tasks/{}", "tasks"),
        "tasks.act": [("POST", f"/tasks/{t}", {"action": action}) for t in tasks for action in ("claim", "save")],
        "escalations.queue": [("GET", "/escalations", None), ("GET", "/escalations?status=all", None)],
        "escalations.act": [("POST", f"/escalations/{e}", {"action": "acknowledge", "note": "看过"})
                            for e in ids["escalations"]],
        "notifications.index": [("GET", "/notifications", None)],
        "notifications.read": [("POST", "/notifications/read", {"id": str(n)}) for n in ids["notifications"]],
        "dashboard.index": [("GET", "/dashboard", None), ("GET", "/dashboard?org=510781", None)],
        "dashboard.tasks": [("GET", "/dashboard/tasks?org=510781&process=school_screening", None)],
        "people.show": [("GET", f"/people/{person}", None)],
        "people.instance": every("/instances/{}", "instances"),
        "people.diagram_xml": every("/instances/{}/diagram.bpmn", "instances"),
        "people.retry": [("POST", f"/instances/{i}/retry", {}) for i in instances],
        "people.break_glass": [("POST", f"/people/{person}/break-glass", {"reason": "短"})],
        "people.record_consent": [("POST", f"/people/{person}/consents", {
            "agencies": "education", "tiers": "clinical", "until": "2026-12-31", "basis": "走查"})],
        "people.revoke_consent": [("POST", f"/people/{person}/consents/{ids['consent']}/revoke", {"reason": "走查"})],
        "modeler.library": [("GET", "/modeler", None)],
        "modeler.new": [("POST", "/modeler/new", {"process_id": "leak_walk", "name": "走查"})],
        "modeler.import_file": [("POST", "/modeler/import", {})],
        "modeler.editor": [("GET", f"/modeler/pathways/{p}", None) for p in ids["processes"]],
        "modeler.source": [("GET", f"/modeler/pathways/{p}/source.bpmn", None) for p in ids["processes"]],
        "modeler.validate": [("POST", f"/modeler/pathways/{p}/validate", {}) for p in ids["processes"]],
        "modeler.save": [("POST", f"/modeler/pathways/{p}/save", {}) for p in ids["processes"]],
        "modeler.deploy": [("POST", f"/modeler/pathways/{p}/deploy", {}) for p in ids["processes"]],
        "modeler.diff": [("GET", f"/modeler/pathways/{p}/diff?from=1&to=1", None) for p in ids["processes"]],
        "modeler.migrate": [("GET", f"/modeler/pathways/{p}/migrate?to=1", None) for p in ids["processes"]]
        + [("POST", f"/modeler/pathways/{p}/migrate?to=1", {"instance": str(i), "preview": "1"})
           for p in ids["processes"] for i in instances],
        "modeler.dry_run": [("GET", f"/modeler/pathways/{p}/dry-run", None) for p in ids["processes"]],
        "modeler.forms": [("GET", "/modeler/forms", None)],
        "modeler.new_form": [("POST", "/modeler/forms/new", {"key": "leak_walk/x.form"})],
        "modeler.form_editor": [("GET", f"/modeler/forms/edit/{k}", None) for k in ids["forms"]],
        "modeler.form_source": [("GET", f"/modeler/forms/source/{k}", None) for k in ids["forms"]],
        "modeler.form_save": [("POST", f"/modeler/forms/save/{k}", {}) for k in ids["forms"]],
        "simulations.index": [("GET", "/simulations", None)],
        "simulations.show": [("GET", "/simulations/1", None)],          # the walk's seed stores none: 404
        "simulations.download": [("GET", "/simulations/1.csv", None)],
        "simulations.delete": [("POST", "/simulations/1/delete", {})],
        "account.password": [("GET", "/account/password", None)],
        "audit.index": [("GET", "/audit", None), ("GET", f"/audit?person={person}", None)],
        "audit.export": [("GET", "/audit/export.csv", None), ("GET", "/audit/export.json", None),
                         ("GET", f"/audit/export.json?person={person}", None)],
        # The API with the browser's session (its POSTs without the X-CSRFToken header are refused).
        "api-docs.openapi_json": [("GET", "/api/v1/openapi.json", None)],
        "api_docs": [("GET", "/api/v1/docs", None)],
        "api_tasks.inbox": [("GET", "/api/v1/tasks", None), ("GET", "/api/v1/tasks?overdue=true&limit=5", None)],
        "api_tasks.show": every("/api/v1/tasks/{}", "tasks"),
        "api_tasks.claim": [("POST", f"/api/v1/tasks/{t}/claim", {}) for t in tasks],
        "api_tasks.release": [("POST", f"/api/v1/tasks/{t}/release", {}) for t in tasks],
        "api_tasks.complete": [("POST", f"/api/v1/tasks/{t}/complete", {}) for t in tasks],
        "api_instances.start": [("POST", "/api/v1/instances", {})],
        "api_instances.show_instance": every("/api/v1/instances/{}", "instances"),
        "api_instances.cancel": [("POST", f"/api/v1/instances/{i}/cancel", {}) for i in instances],
        "api_escalations.queue": [("GET", "/api/v1/escalations", None), ("GET", "/api/v1/escalations?status=all", None)],
        "api_escalations.acknowledge": [("POST", f"/api/v1/escalations/{e}/acknowledge", {})
                                        for e in ids["escalations"]],
        "api_escalations.note": [("POST", f"/api/v1/escalations/{e}/notes", {}) for e in ids["escalations"]],
        "api_escalations.reassign": [("POST", f"/api/v1/tasks/{t}/reassign", {}) for t in tasks],
        "api_escalations.extend": [("POST", f"/api/v1/tasks/{t}/extend", {}) for t in tasks],
        "api_indicators.figures": [("GET", "/api/v1/indicators", None), ("GET", "/api/v1/indicators?org=510781", None)],
        "api_indicators.tasks": [("GET", "/api/v1/indicators/tasks?org=510781&state=overdue", None),
                                 ("GET", "/api/v1/indicators/tasks?org=510781001&state=open", None)],
        "api_indicators.units": [("GET", "/api/v1/indicators/units", None)],
        "api_pathways.index": [("GET", "/api/v1/pathways", None), ("GET", "/api/v1/pathways?drafts=true", None)],
        "api_pathways.show": [("GET", f"/api/v1/pathways/{p}", None) for p in ids["processes"]],
        "api_pathways.versions": [("GET", f"/api/v1/pathways/{p}/versions", None) for p in ids["processes"]],
        "api_pathways.bpmn": [("GET", f"/api/v1/pathways/{p}/versions/1/bpmn", None) for p in ids["processes"]],
        "api_pathways.deploy": [("POST", f"/api/v1/pathways/{p}/deploy", {}) for p in ids["processes"]],
        "api_pathways.deploy_file": [("POST", f"/api/v1/pathways/{p}/versions", {}) for p in ids["processes"]],
        "api_people.show": [("GET", f"/api/v1/people/{person}", None)],
        "api_fhir.patient_everything": [("GET", f"/api/v1/fhir/Patient/{REF}/$everything", None)],
        "api_fhir.careplan_everything": every("/api/v1/fhir/CarePlan/{}/$everything", "instances"),
        "api_fhir.task": every("/api/v1/fhir/Task/{}", "tasks"),
        "api_messages.send": [("POST", "/api/v1/messages", {})],
        "api_messages.show": [("GET", "/api/v1/messages/1", None)],     # the walk's seed sends none: 404
    }


def _forms(markers) -> list[str]:
    """A marker as it may appear: raw, JSON-escaped, HTML-escaped JSON."""
    found = []
    for marker in markers:
        found += [marker, json.dumps(marker)[1:-1]]
    return found


VIEWERS = {
    # another county or township: nothing of the person at all
    "psychiatrist_bai": PERSON + CLINICAL + CASE,
    "teacher_song": PERSON + CLINICAL + CASE,
    "health_sup_fc": PERSON + CLINICAL + CASE,
    "teacher_li": PERSON + CLINICAL + CASE,
    # analysts read no person data
    "analyst_xu": PERSON + CLINICAL + CASE,
    # the same township, lower tiers
    "teacher_wang": CLINICAL + CASE,
    "cw_huang": CLINICAL + CASE,
    "sw_tang": CLINICAL + CASE,                        # clinical only with consent (expired)
    "corrections_ma": CLINICAL,
    "psychiatrist_zheng": CASE,
    "health_sup_jy": CLINICAL + CASE,
}


# What each viewer in the person's jurisdiction does see somewhere on the walk: proof that the walk
# reaches the records and the markers are there to be found.
SEEN = {"teacher_wang": PERSON, "cw_huang": PERSON, "sw_tang": PERSON, "health_sup_jy": PERSON,
        "corrections_ma": PERSON + CASE, "psychiatrist_zheng": PERSON + CLINICAL}


def test_the_route_table_names_every_endpoint(seeded):
    from webui import create_app
    ctx, ids = seeded
    app = create_app(ctx, now=MovableClock(nov(12, 9)).now)
    assert set(_routes(ids)) == {rule.endpoint for rule in app.url_map.iter_rules()}


@pytest.mark.parametrize("username", sorted(VIEWERS))
def test_no_route_shows_a_viewer_what_their_jurisdiction_and_tier_do_not_allow(seeded, username):
    from webui import create_app
    ctx, ids = seeded
    app = create_app(ctx, now=MovableClock(nov(12, 9)).now)
    client = WebClient(app)
    client.login(username)
    forbidden = _forms(VIEWERS[username])
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    walked, bodies = 0, []
    for endpoint, requests in _routes(ids).items():
        if endpoint not in endpoints:
            continue
        for method, url, data in requests:
            response = client.get(url) if method == "GET" else client.post(url, data)
            body = response.get_data(as_text=True) + response.headers.get("Location", "")
            bodies.append(body)
            leaked = [marker for marker in forbidden if marker in body]
            assert not leaked, f"{username} {method} {url} → {response.status_code} shows {leaked}"
            if method == "POST" and response.status_code in (301, 302, 303):
                followed = client.get(response.headers["Location"])
                leaked = [m for m in forbidden if m in followed.get_data(as_text=True)]
                assert not leaked, f"{username} {method} {url} → {response.headers['Location']} shows {leaked}"
            assert response.status_code < 500, f"{username} {method} {url} → {response.status_code}"
            walked += 1
    assert walked > 40
    everything = "\n".join(bodies)
    assert [marker for marker in SEEN.get(username, ()) if marker not in everything] == []
