"""The REST API (/api/v1) as outside systems use it: a school system's token starts school
screening and works the teacher's task; errors are JSON that say what was wrong; the inbox pages
by cursor; idempotency keys make retried POSTs safe; scopes and jurisdiction are enforced exactly
like the pages; a signed-in browser may call it with its session and CSRF token."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine import apiclients
from engine.people import register_person
from engine.runtime import services

from conftest import SHANGHAI, deploy_pathways
from web import MovableClock, WebClient

VILLAGE = "510781001001"          # 太平村
OTHER_COUNTY = "510703"           # 涪城区: another county of the city
SCREENING_DATA = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
                  "phq9_score": 4, "phq9_item9": 0}
ALL_WORK = ["tasks:read", "tasks:write", "instances:read", "instances:write"]


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def api(region):
    from webui import create_app
    deploy_pathways(region, "school_screening")
    clock = MovableClock(nov(2, 9))
    app = create_app(region, now=clock.now)
    return region, app.test_client(), clock


def token_for(ctx, name, members, scopes):
    _client, token = apiclients.create_client(ctx, name, members, scopes, actor="admin")
    return {"Authorization": f"Bearer {token}"}


def test_a_school_system_starts_screening_and_completes_the_teachers_task(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    started = client.post("/api/v1/instances", json={"pathway": "school_screening", "org": VILLAGE},
                          headers=school)
    assert started.status_code == 201, started.get_json()
    outcome = started.get_json()
    assert outcome["status"] == "running"
    [task] = outcome["tasks"]
    assert task["element"] == "screening" and task["status"] == "open"

    inbox = client.get("/api/v1/tasks", headers=school).get_json()
    assert [t["id"] for t in inbox["items"]] == [task["id"]] and inbox["next_cursor"] is None
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=school).get_json()
    assert detail["may"]["complete"] is True and detail["form"] is not None

    claimed = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=school).get_json()
    assert claimed["status"] == "claimed" and claimed["assignee"] == "api:school-sys"
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": SCREENING_DATA}, headers=school)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["instance"] == outcome["instance"]
    shown = client.get(f"/api/v1/instances/{outcome['instance']}", headers=school).get_json()
    assert {"task_completed", "instance_started"} <= {e["kind"] for e in shown["events"]}
    assert any(e["actor"] == "api:school-sys" and e["kind"] == "task_completed" for e in shown["events"])


def test_form_errors_come_back_field_by_field_and_nothing_is_completed(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    task = services.start_instance(ctx, "school_screening", VILLAGE).tasks[0]
    response = client.post(f"/api/v1/tasks/{task['id']}/complete",
                           json={"data": {**SCREENING_DATA, "phq9_score": 99}}, headers=school)
    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "form_invalid"
    assert "phq9_score" in body["errors"] and body["message"]
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=school).get_json()["task"]["status"] == "open"


def test_requests_that_do_not_fit_the_schema_are_refused_naming_the_field(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    response = client.post("/api/v1/instances", json={"pathway": "school_screening", "org": VILLAGE,
                                                      "sneaky": 1}, headers=school)
    body = response.get_json()
    assert response.status_code == 422 and body["code"] == "invalid_request"
    assert "sneaky" in body["errors"]["json"] and "json.sneaky" in body["message"]
    missing = client.post("/api/v1/instances", json={"org": VILLAGE}, headers=school).get_json()
    assert "pathway" in missing["errors"]["json"]
    not_json = client.post("/api/v1/instances", data="<x/>", content_type="application/xml", headers=school)
    assert not_json.status_code == 422 and not_json.is_json


def test_without_a_valid_token_the_api_answers_401_in_json(api):
    ctx, client, _clock = api
    for headers in ({}, {"Authorization": "Bearer cp_nothing_here"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/tasks", headers=headers)
        assert response.status_code == 401 and response.is_json, headers
        assert response.get_json()["code"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    unknown = client.get("/api/v1/nowhere", headers=token_for(ctx, "x-sys", [("education.teacher", "510781001")],
                                                                 ["tasks:read"]))
    assert unknown.status_code == 404 and unknown.is_json


def test_an_id_beyond_what_the_database_holds_is_an_unknown_id_not_an_overflow(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    for path in ("/api/v1/tasks/2147483648", "/api/v1/instances/99999999999999999999999/cancel"):
        method = client.post if path.endswith("cancel") else client.get
        response = method(path, json={"reason": "x"}, headers=school)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found", path
    assert client.get("/api/v1/tasks/2147483647", headers=school).status_code == 404      # in range: looked up
    [task_id] = [p for p in client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/tasks/{task_id}"]
                 ["parameters"] if p["name"] == "task_id"]
    assert task_id["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def test_a_nul_character_anywhere_is_refused_naming_where(api):
    """PostgreSQL text cannot hold NUL: the API refuses it before anything is looked up or stored."""
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    for method, path, body, where in (
            ("post", "/api/v1/instances", {"pathway": "school\x00screening", "org": VILLAGE}, "json.pathway"),
            ("post", "/api/v1/instances", {"pathway": "school_screening", "org": VILLAGE,
                                           "data": {"notes": ["ok", "a\x00b"]}}, "json.data.notes[1]"),
            ("get", "/api/v1/tasks?pathway=x%00y", None, "query.pathway[0]")):
        response = getattr(client, method)(path, json=body, headers=school)
        assert response.status_code == 400 and response.get_json()["code"] == "invalid", response.get_json()
        assert where in response.get_json()["message"]
    assert client.get("/api/v1/tasks", headers=school).get_json()["items"] == []      # nothing was started


def test_scopes_limit_what_a_token_may_call(api):
    ctx, client, _clock = api
    reader = token_for(ctx, "reader", [("education.teacher", "510781001")], ["tasks:read"])
    task = services.start_instance(ctx, "school_screening", VILLAGE).tasks[0]
    assert client.get("/api/v1/tasks", headers=reader).status_code == 200
    refused = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=reader)
    assert refused.status_code == 403 and "tasks:write" in refused.get_json()["message"]
    assert client.post("/api/v1/instances", json={"pathway": "school_screening", "org": VILLAGE},
                       headers=reader).status_code == 403


def test_jurisdiction_applies_to_tokens_as_to_people(api):
    ctx, client, _clock = api
    elsewhere = token_for(ctx, "elsewhere", [("education.teacher", OTHER_COUNTY)], ALL_WORK)
    task = services.start_instance(ctx, "school_screening", VILLAGE).tasks[0]
    assert client.get("/api/v1/tasks", headers=elsewhere).get_json()["items"] == []
    for response in (client.get(f"/api/v1/tasks/{task['id']}", headers=elsewhere),
                     client.post(f"/api/v1/tasks/{task['id']}/claim", headers=elsewhere),
                     client.get(f"/api/v1/instances/{task['instance']}", headers=elsewhere)):
        assert response.status_code == 404, response.get_json()
    start = client.post("/api/v1/instances", json={"pathway": "school_screening", "org": VILLAGE},
                        headers=elsewhere)
    assert start.status_code == 403 and "辖区" in start.get_json()["message"]


def test_the_inbox_pages_by_cursor_in_due_order_without_repeats(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    started = [services.start_instance(ctx.at(nov(2, 9 + n % 8)), "school_screening", VILLAGE).tasks[0]["id"]
               for n in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/tasks?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=school).get_json()
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and sorted(t["id"] for t in seen) == sorted(started)
    assert [(t["due_at"], t["id"]) for t in seen] == sorted((t["due_at"], t["id"]) for t in seen)
    bad = client.get("/api/v1/tasks?cursor=not-a-cursor", headers=school)
    assert bad.status_code == 400 and "cursor" in bad.get_json()["message"]


def test_an_idempotency_key_makes_a_retried_start_safe(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    body = {"pathway": "school_screening", "org": VILLAGE}
    headers = {**school, "Idempotency-Key": "start-0001"}
    first = client.post("/api/v1/instances", json=body, headers=headers)
    again = client.post("/api/v1/instances", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(services.list_tasks(ctx, instance_id=None)) == 1
    other = client.post("/api/v1/instances", json={**body, "data": {"x": 1}}, headers=headers)
    assert other.status_code == 400 and other.get_json()["code"] == "invalid"


def test_an_idempotency_key_makes_a_retried_completion_safe(api):
    ctx, client, _clock = api
    school = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    task = services.start_instance(ctx, "school_screening", VILLAGE).tasks[0]
    headers = {**school, "Idempotency-Key": "done-1"}
    first = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": SCREENING_DATA}, headers=headers)
    again = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": SCREENING_DATA}, headers=headers)
    assert first.status_code == again.status_code == 200 and again.get_json() == first.get_json()
    without = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": SCREENING_DATA}, headers=school)
    assert without.status_code == 409 and without.get_json()["code"] == "task_not_open"


def test_a_supervisor_cancels_an_instance_and_its_tasks_go(api):
    ctx, client, _clock = api
    supervisor = token_for(ctx, "edu-sup", [("education.supervisor", "510781")],
                           ["instances:read", "instances:write", "tasks:read"])
    teacher = token_for(ctx, "school-sys", [("education.teacher", "510781001")], ALL_WORK)
    outcome = services.start_instance(ctx, "school_screening", VILLAGE)
    refused = client.post(f"/api/v1/instances/{outcome.instance}/cancel", json={"reason": "重复转介"},
                          headers=teacher)
    assert refused.status_code == 404
    done = client.post(f"/api/v1/instances/{outcome.instance}/cancel", json={"reason": "重复转介"},
                       headers=supervisor)
    assert done.status_code == 200 and done.get_json()["status"] == "cancelled"
    assert client.get("/api/v1/tasks", headers=teacher).get_json()["items"] == []
    twice = client.post(f"/api/v1/instances/{outcome.instance}/cancel", json={"reason": "重复转介"},
                        headers=supervisor)
    assert twice.status_code == 409
    events = client.get(f"/api/v1/instances/{outcome.instance}", headers=supervisor).get_json()["events"]
    assert events[-1]["kind"] == "instance_cancelled" and events[-1]["actor"] == "api:edu-sup"


def test_a_signed_in_browser_uses_its_session_and_needs_the_csrf_header_to_change_things(api):
    ctx, client, clock = api
    from webui import create_app
    web = WebClient(create_app(ctx, now=clock.now))
    web.login("teacher_wang")
    task = services.start_instance(ctx, "school_screening", VILLAGE).tasks[0]
    assert [t["id"] for t in web.client.get("/api/v1/tasks").get_json()["items"]] == [task["id"]]
    no_header = web.client.post(f"/api/v1/tasks/{task['id']}/claim")
    assert no_header.status_code == 400 and no_header.get_json()["code"] == "csrf"
    claimed = web.client.post(f"/api/v1/tasks/{task['id']}/claim", headers={"X-CSRFToken": web.token})
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "teacher_wang"


def test_the_openapi_document_describes_every_route_and_its_security(api):
    _ctx, client, _clock = api
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert {"/api/v1/tasks", "/api/v1/tasks/{task_id}/complete", "/api/v1/instances",
            "/api/v1/instances/{instance_id}/cancel"} <= set(paths)
    assert "bearerAuth" in document["components"]["securitySchemes"]
    complete = paths["/api/v1/tasks/{task_id}/complete"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in complete["parameters"])
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data and b"<script>" not in page.data
