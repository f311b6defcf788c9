"""The supervisors' API: 张一's joint plan, left undone by the family doctor, climbs to the 江油市
health supervisor's queue as the engine clock passes its deadline; the county's client sees it
(the township's and the neighbouring county's do not), acknowledges it, notes it, reassigns the
task and extends its deadline, each visible in the queue, the task and the instance's events;
the indicators through the API are the dashboard's, for the units the client watches only."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.escalation.queue import escalation_queue
from engine.indicators import indicator_tasks_for_user, indicators_for_user, watched_units
from engine.notify.inapp import unread_count
from engine.runtime import control, services
from engine.runtime.queries import instance_detail

from conftest import SHANGHAI
from test_api import token_for
from web import MovableClock, at_joint_plan

VILLAGE = "510781001001"          # 太平村
TOWNSHIP = "510781001"
COUNTY = "510781"                 # 江油市
CITY = "510700"
OTHER_COUNTY = "510703"           # 涪城区
SUPERVISION = ["escalations:read", "escalations:write", "indicators:read"]


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.fixture
def plan(region):
    """张一's screening at the joint plan (the family doctor's part due Tue 10 Nov 18:00); the app's
    clock on Tue 10 Nov 09:00, before anything is late; the county supervisor's client."""
    from webui import create_app
    _deployed, _person, task = at_joint_plan(region)
    clock = MovableClock(nov(10, 9))
    county = token_for(region, "jy-sup", [("health.supervisor", COUNTY)], SUPERVISION)
    return region, create_app(region, now=clock.now).test_client(), clock, task, county


def sweep(ctx, clock: MovableClock, moment: datetime) -> None:
    """The engine clock reaches `moment` and the sweep runs there."""
    clock.set(moment)
    services.tick(ctx.at(moment))


def escalated(plan):
    """Past Wed 11 Nov 18:00 (due + 1 working day): level 2 raised to the county; now Thu 09:00.
    The other clients are made afterwards: a supervisor at the township made before the sweep
    would itself be the nearest supervisor the ladder raises to."""
    ctx, client, clock, task, county = plan
    sweep(ctx, clock, nov(10, 18))
    sweep(ctx, clock, nov(11, 18))
    clock.set(nov(12, 9))
    return ctx, client, clock, task, county


def queue(client, headers, query: str = "") -> dict:
    response = client.get(f"/api/v1/escalations{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def events(ctx, instance: int, *kinds: str) -> list[dict]:
    return [e for e in instance_detail(ctx, instance)["events"] if e["kind"] in kinds]


def test_a_missed_deadline_reaches_the_county_queue_and_no_other(plan):
    ctx, client, clock, task, county = plan
    assert queue(client, county) == {"items": [], "total": 0, "next_cursor": None,
                                      "reassign_units": queue(client, county)["reassign_units"]}
    sweep(ctx, clock, nov(10, 18))                     # level 1 reminds the family doctors only
    assert queue(client, county)["items"] == []
    ctx, client, clock, task, county = escalated(plan)

    page = queue(client, county)
    [item] = page["items"]
    assert page["total"] == 1 and page["next_cursor"] is None
    assert {k: item[k] for k in ("level", "status", "role", "org", "agency", "instance", "note",
                                 "acknowledged_by", "may_supervise")} == {
        "level": 2, "status": "open", "role": "health.supervisor", "org": COUNTY, "agency": "health",
        "instance": task["instance"], "note": None, "acknowledged_by": None, "may_supervise": True}
    assert at(item["raised_at"]) == nov(11, 18) and at(item["due_at"]) == nov(10, 18)
    assert item["age_hours"] == 15.0
    assert (item["task"]["id"], item["task"]["element"], item["task"]["status"], item["task"]["assignee"]) == \
        (task["id"], "joint_plan_medical", "open", None)
    assert item["task"]["escalation_level"] == 2 and at(item["task"]["due_at"]) == nov(10, 18)
    assert (item["person"]["name"], item["person"]["ref"]) == ("张一", "S-1")
    assert item["reassign_users"] == [{"username": "fdoc_zhou", "name": "周医生", "org_name": "太平镇"},
                                      {"username": "fdoc_deng", "name": "邓医生", "org_name": "中坝镇"}]
    # The same queue the page shows, for the same user.
    engine_page = escalation_queue(ctx.at(nov(12, 9)), "api:jy-sup")
    assert [i["id"] for i in engine_page["items"]] == [item["id"]]
    assert page["reassign_units"] == [{"code": c, "name": n} for c, n in engine_page["units"]]

    other_county = token_for(ctx, "fc-sup", [("health.supervisor", OTHER_COUNTY)], SUPERVISION)
    township_sup = token_for(ctx, "tp-sup", [("health.supervisor", TOWNSHIP)], SUPERVISION)
    doctor = token_for(ctx, "tp-doc", [("health.family_doctor", TOWNSHIP)], SUPERVISION)
    assert queue(client, other_county)["items"] == [] and queue(client, other_county)["total"] == 0
    assert queue(client, township_sup)["items"] == []
    assert [(i["level"], i["task"]["id"], i["may_supervise"]) for i in queue(client, doctor)["items"]] == \
        [(1, task["id"], False)]                      # the doctors' own reminder, nothing to supervise
    assert queue(client, county, "?level=1")["items"] == [] and queue(client, county, "?agency=civil")["items"] == []
    assert queue(client, county, f"?org={TOWNSHIP}")["items"] == []       # raised at the county itself

    # Out of their jurisdiction the escalation and the task are not there for them; the township's
    # supervisor does not work the county's escalation (though, over the task's unit, supervises the task).
    refusals = [(other_county, f"/api/v1/escalations/{item['id']}/acknowledge", {}),
                (other_county, f"/api/v1/escalations/{item['id']}/notes", {"note": "看看"}),
                (other_county, f"/api/v1/tasks/{task['id']}/reassign", {"to_user": "fdoc_deng", "reason": "试"}),
                (other_county, f"/api/v1/tasks/{task['id']}/extend", {"workdays": 2, "reason": "试"}),
                (township_sup, f"/api/v1/escalations/{item['id']}/acknowledge", {}),
                (township_sup, f"/api/v1/escalations/{item['id']}/notes", {"note": "看看"})]
    for headers, url, body in refusals:
        refused = client.post(url, json=body, headers=headers)
        assert refused.status_code == 404 and refused.get_json()["code"] == "not_found", (url, refused.get_json())
        assert COUNTY not in refused.get_json()["message"] and "health" not in refused.get_json()["message"]
    assert client.post(f"/api/v1/tasks/{task['id']}/extend", json={"workdays": 2, "reason": "试"},
                       headers=doctor).status_code == 404          # the task's own doctor supervises nothing
    [still] = queue(client, county)["items"]
    assert (still["status"], still["note"], still["task"]["assignee"], at(still["task"]["due_at"])) == \
        ("open", None, None, nov(10, 18))
    assert events(ctx, task["instance"], "escalation_acknowledged", "escalation_note", "task_reassigned",
                  "deadline_extended") == []
    moved = client.post(f"/api/v1/tasks/{task['id']}/extend", json={"workdays": 1, "reason": "镇督导延期"},
                        headers=township_sup)
    assert moved.status_code == 200 and at(moved.get_json()["due_at"]) == nov(11, 18)
    assert [(e["actor"], e["reason"]) for e in events(ctx, task["instance"], "deadline_extended")] == \
        [("api:tp-sup", "镇督导延期")]


def test_the_supervisor_acknowledges_notes_reassigns_and_extends(plan):
    ctx, client, clock, task, county = escalated(plan)
    [item] = queue(client, county)["items"]
    escalation = item["id"]

    acknowledged = client.post(f"/api/v1/escalations/{escalation}/acknowledge", json={"note": "已电话督促"},
                               headers=county)
    assert acknowledged.status_code == 200, acknowledged.get_json()
    body = acknowledged.get_json()
    assert (body["id"], body["task"], body["status"], body["acknowledged_by"], body["note"]) == \
        (escalation, task["id"], "acknowledged", "api:jy-sup", "已电话督促")
    assert at(body["acknowledged_at"]) == nov(12, 9)
    [shown] = queue(client, county)["items"]                       # "open" holds the acknowledged too
    assert (shown["status"], shown["note"]) == ("acknowledged", "已电话督促")
    assert [i["id"] for i in queue(client, county, "?status=acknowledged")["items"]] == [escalation]
    assert queue(client, county, "?status=resolved")["items"] == []

    for bad in ({}, {"note": "   "}, {"note": "x", "extra": 1}):
        refused = client.post(f"/api/v1/escalations/{escalation}/notes", json=bad, headers=county)
        assert refused.status_code == 422, bad
        assert set(refused.get_json()["errors"]["json"]) == ({"extra"} if "extra" in bad else {"note"})
    noted = client.post(f"/api/v1/escalations/{escalation}/notes", json={"note": "家长已联系"}, headers=county)
    assert noted.status_code == 200 and noted.get_json()["note"] == "家长已联系"
    assert queue(client, county)["items"][0]["note"] == "家长已联系"

    # Reassign: a reason is required, and exactly one target; refusals change nothing.
    url = f"/api/v1/tasks/{task['id']}/reassign"
    for bad, fields in (({"to_user": "fdoc_deng"}, {"reason"}), ({"to_user": "fdoc_deng", "reason": " "}, {"reason"}),
                        ({"to_user": "fdoc_deng", "to_org": "510781002", "reason": "x"}, {"to_user", "to_org"}),
                        ({"reason": "x"}, {"to_user", "to_org"})):
        refused = client.post(url, json=bad, headers=county)
        body = refused.get_json()
        assert refused.status_code == 422 and body["code"] == "invalid_request", bad
        assert set(body["errors"]["json"]) == fields and all(f"json.{f}" in body["message"] for f in fields)
    nurse = client.post(url, json={"to_user": "teacher_wang", "reason": "试"}, headers=county)
    assert nurse.status_code == 400 and "teacher_wang" in nurse.get_json()["message"]   # lacks the role
    for target in ({"to_user": "nobody"}, {"to_org": OTHER_COUNTY}):     # no such user; not the county's unit
        refused = client.post(url, json={**target, "reason": "试"}, headers=county)
        assert refused.status_code == 404 and [*target.values()][0] in refused.get_json()["message"]
    assert queue(client, county)["items"][0]["task"]["assignee"] is None
    moved = client.post(url, json={"to_user": "fdoc_deng", "reason": "周医生休假，改由邓医生"}, headers=county)
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["assignee"], moved.get_json()["status"]) == ("fdoc_deng", "claimed")
    shown = queue(client, county)["items"][0]["task"]
    assert (shown["assignee"], shown["assignee_name"], shown["status"]) == ("fdoc_deng", "邓医生", "claimed")
    assert [t["id"] for t in services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_deng")] == [task["id"]]
    assert services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_zhou") == []

    # Extend: a reason, one of until / workdays, a moment after now on the engine clock.
    url = f"/api/v1/tasks/{task['id']}/extend"
    for bad, fields in (({"workdays": 2}, {"reason"}), ({"until": "2026-11-11", "reason": "x"}, {"until"}),
                        ({"until": "2026-11-12T08:59:00", "reason": "x"}, {"until"}),
                        ({"until": "next week", "reason": "x"}, {"until"}),
                        ({"workdays": 0, "reason": "x"}, {"workdays"}), ({"reason": "x"}, {"until", "workdays"}),
                        ({"workdays": 1, "until": "2026-11-20", "reason": "x"}, {"until", "workdays"})):
        refused = client.post(url, json=bad, headers=county)
        assert refused.status_code == 422 and set(refused.get_json()["errors"]["json"]) == fields, bad
    # Two working days from Tue 10 Nov 18:00: Thu 12 Nov 18:00.
    extended = client.post(url, json={"workdays": 2, "reason": "家长要求延后面谈"}, headers=county)
    assert extended.status_code == 200, extended.get_json()
    assert at(extended.get_json()["due_at"]) == nov(12, 18) and extended.get_json()["due_source"] != "supervisor"
    assert at(queue(client, county)["items"][0]["task"]["due_at"]) == nov(12, 18)
    # A date is that day's close of business; a date-time without a zone is Shanghai time.
    by_date = client.post(url, json={"until": "2026-11-16", "reason": "等待家长回复"}, headers=county)
    assert at(by_date.get_json()["due_at"]) == nov(16, 18) and by_date.get_json()["due_source"] == "supervisor"
    earlier = client.post(url, json={"until": "2026-11-13T12:00", "reason": "x"}, headers=county)
    assert earlier.status_code == 400 and "截止时间" in earlier.get_json()["message"]     # before the due date
    by_time = client.post(url, json={"until": "2026-11-17T10:30", "reason": "再等一天"}, headers=county)
    assert at(by_time.get_json()["due_at"]) == nov(17, 10, 30)
    assert [t["due_at"] for t in services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_deng")] == [nov(17, 10, 30)]

    recorded = [(e["kind"], e["actor"], e["task"]) for e in events(
        ctx, task["instance"], "escalation_acknowledged", "escalation_note", "task_reassigned", "deadline_extended")]
    assert recorded == [("escalation_acknowledged", "api:jy-sup", task["id"]),
                        ("escalation_note", "api:jy-sup", task["id"]),
                        ("task_reassigned", "api:jy-sup", task["id"])] + \
        [("deadline_extended", "api:jy-sup", task["id"])] * 3
    details = events(ctx, task["instance"], "task_reassigned", "deadline_extended")
    assert (details[0]["to_user"], details[0]["reason"], details[0]["before"]) == \
        ("fdoc_deng", "周医生休假，改由邓医生", {"assignee": None, "org": task["org"]})
    assert [(at(e["old"]), at(e["new"]), e["reason"]) for e in details[1:]] == [
        (nov(10, 18), nov(12, 18), "家长要求延后面谈"), (nov(12, 18), nov(16, 18), "等待家长回复"),
        (nov(16, 18), nov(17, 10, 30), "再等一天")]


def test_a_service_account_is_no_supervisor_to_raise_to_and_is_not_notified(plan):
    """API clients made before the sweep: a township client holding health.supervisor does not
    pull the level-2 escalation down to the township, and a client holding the task's role gets
    no reminder; the people do."""
    ctx, client, clock, task, county = plan
    township_sup = token_for(ctx, "tp-sup", [("health.supervisor", TOWNSHIP)], SUPERVISION)
    token_for(ctx, "tp-doc", [("health.family_doctor", TOWNSHIP)], SUPERVISION)
    ctx, client, clock, task, county = escalated(plan)
    assert [(i["level"], i["org"]) for i in queue(client, county)["items"]] == [(2, COUNTY)]
    assert queue(client, township_sup)["items"] == []
    with ctx.db.unit_of_work() as session:
        assert unread_count(session, "api:tp-doc") == 0 and unread_count(session, "api:tp-sup") == 0
        assert unread_count(session, "fdoc_zhou") > 0


def test_an_ended_task_is_a_conflict_for_its_supervisor_and_not_there_for_anyone_else(plan):
    ctx, client, clock, task, county = plan
    other_county = token_for(ctx, "fc-sup", [("health.supervisor", OTHER_COUNTY)], SUPERVISION)
    control.cancel_instance(ctx.at(nov(10, 9)), task["instance"], "api:jy-sup", "转诊至外省")
    body = {"workdays": 2, "reason": "家属请求"}
    own = client.post(f"/api/v1/tasks/{task['id']}/extend", json=body, headers=county)
    assert own.status_code == 409 and "已取消" in own.get_json()["message"]
    refused = client.post(f"/api/v1/tasks/{task['id']}/extend", json=body, headers=other_county)
    assert refused.status_code == 404 and "取消" not in refused.get_json()["message"]


def test_the_queue_pages_by_cursor_in_its_order(plan):
    ctx, client, clock, task, _county = plan
    for moment in (nov(10, 18), nov(11, 18), nov(13, 18)):        # level 3, at the city, on Fri 13 Nov
        sweep(ctx, clock, moment)
    city = token_for(ctx, "city-sup", [("health.supervisor", CITY)], SUPERVISION)
    seen, cursor = [], None
    while True:
        page = queue(client, city, "?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        assert page["total"] == 2 and len(page["items"]) == 1
        seen += [(i["level"], i["org"], i["task"]["id"]) for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(3, CITY, task["id"]), (2, COUNTY, task["id"])]            # highest level first
    by_age = [i["level"] for i in queue(client, city, "?sort=age")["items"]]
    assert by_age == [2, 3]
    first = queue(client, city, "?limit=1")["next_cursor"]
    rest = queue(client, city, f"?limit=5&cursor={first}")          # another limit goes on from there
    assert [i["level"] for i in rest["items"]] == [2] and rest["next_cursor"] is None
    for bad in ("garbage", "eyJvZmZzZXQiOi0xfQ"):                              # {"offset":-1}
        refused = client.get(f"/api/v1/escalations?cursor={bad}", headers=city)
        assert refused.status_code == 400 and "cursor" in refused.get_json()["message"]
    wrong = client.get("/api/v1/escalations?status=late&sort=size", headers=city)
    assert wrong.status_code == 422 and set(wrong.get_json()["errors"]["query"]) == {"status", "sort"}


def test_scopes_limit_what_a_token_may_call(plan):
    ctx, client, _clock, task, county = escalated(plan)
    reader = token_for(ctx, "jy-reader", [("health.supervisor", COUNTY)], ["escalations:read"])
    tasks_only = token_for(ctx, "jy-tasks", [("health.supervisor", COUNTY)], ["tasks:read", "tasks:write"])
    [item] = queue(client, reader)["items"]
    refused = client.post(f"/api/v1/escalations/{item['id']}/acknowledge", json={}, headers=reader)
    assert refused.status_code == 403 and "escalations:write" in refused.get_json()["message"]
    refused = client.post(f"/api/v1/tasks/{task['id']}/extend", json={"workdays": 1, "reason": "x"}, headers=reader)
    assert refused.status_code == 403 and "escalations:write" in refused.get_json()["message"]
    for url, scope in (("/api/v1/escalations", "escalations:read"), ("/api/v1/indicators", "indicators:read"),
                       ("/api/v1/indicators/tasks", "indicators:read"), ("/api/v1/indicators/units", "indicators:read")):
        response = client.get(url, headers=tasks_only)
        assert response.status_code == 403 and scope in response.get_json()["message"], url
    assert queue(client, reader)["items"][0]["status"] == "open"
    done = client.post(f"/api/v1/escalations/{item['id']}/acknowledge", headers=county)     # no body at all
    assert done.status_code == 200 and (done.get_json()["status"], done.get_json()["note"]) == ("acknowledged", None)
    assert client.get("/api/v1/escalations").status_code == 401


def test_indicators_are_the_dashboards_for_watched_units_only(plan):
    ctx, client, _clock, task, county = escalated(plan)
    now = nov(12, 9)
    engine_at = ctx.at(now)

    def figures(query: str, headers=county):
        response = client.get(f"/api/v1/indicators{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    shown = figures(f"?org={COUNTY}&since=2026-11-01")
    expected = indicators_for_user(engine_at, "api:jy-sup", COUNTY, nov(1, 0), now, locale="zh")
    for key in ("org", "org_name", "totals", "by_agency", "by_org", "by_stage", "programmes"):
        assert shown[key] == expected[key], key
    assert (at(shown["since"]), at(shown["until"])) == (nov(1, 0), now)
    assert shown["totals"]["open"] == 2 and shown["totals"]["overdue"] == 2     # both parts of the joint plan
    # The same window written as date-times; by default the last 30 days to now, the first unit watched.
    assert figures(f"?org={COUNTY}&since=2026-11-01T00:00:00%2B08:00&until=2026-11-12T01:00:00Z")["totals"] == \
        shown["totals"]
    default = figures("")
    assert default["org"] == COUNTY and (at(default["since"]), at(default["until"])) == (now - timedelta(days=30), now)
    assert default["by_stage"] == indicators_for_user(engine_at, "api:jy-sup", COUNTY, now - timedelta(days=30))["by_stage"]
    assert figures(f"?org={TOWNSHIP}")["org"] == TOWNSHIP

    units = client.get("/api/v1/indicators/units", headers=county).get_json()
    assert units == [{"code": c, "name": n, "level": lvl} for c, n, lvl in watched_units(engine_at, "api:jy-sup")]
    assert [u["code"] for u in units] == [COUNTY]

    overdue = client.get(f"/api/v1/indicators/tasks?org={COUNTY}&state=overdue&agency=health", headers=county)
    assert [t["id"] for t in overdue.get_json()["items"]] == [task["id"]] and overdue.get_json()["next_cursor"] is None
    both = indicator_tasks_for_user(engine_at, "api:jy-sup", COUNTY, state="overdue", until=now)
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/indicators/tasks?limit=1" + (f"&cursor={cursor}" if cursor else ""),
                          headers=county).get_json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in both] and len(seen) == 2

    # A unit the client does not watch is refused as on the dashboard; an unknown one is missing.
    other_county = token_for(ctx, "fc-sup", [("health.supervisor", OTHER_COUNTY)], SUPERVISION)
    doctor = token_for(ctx, "tp-doc", [("health.family_doctor", TOWNSHIP)], SUPERVISION)
    for url in (f"/api/v1/indicators?org={COUNTY}", f"/api/v1/indicators/tasks?org={COUNTY}&state=overdue"):
        refused = client.get(url, headers=other_county)
        assert refused.status_code == 403 and refused.get_json()["code"] == "forbidden", url
        assert client.get(url, headers=doctor).status_code == 403
    assert figures("", other_county)["org"] == OTHER_COUNTY and figures("", other_county)["totals"]["open"] == 0
    assert client.get("/api/v1/indicators", headers=doctor).status_code == 403
    assert client.get("/api/v1/indicators/units", headers=doctor).get_json() == []
    assert client.get("/api/v1/indicators?org=999999", headers=county).status_code == 404

    for query, field in (("?until=2026-11-13", "until"), ("?since=2026-11-12T10:00", "since"),
                         ("?since=yesterday", "since"), ("?state=late&stage=nowhere", "stage")):
        url = ("/api/v1/indicators/tasks" if "state" in query else "/api/v1/indicators") + query
        refused = client.get(url, headers=county)
        assert refused.status_code == 422 and field in refused.get_json()["errors"]["query"], query


def test_the_openapi_document_lists_the_supervision_routes(plan):
    _ctx, client, _clock, _task, _county = plan
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/escalations", "/api/v1/escalations/{escalation_id}/acknowledge",
            "/api/v1/escalations/{escalation_id}/notes", "/api/v1/tasks/{task_id}/reassign",
            "/api/v1/tasks/{task_id}/extend", "/api/v1/indicators", "/api/v1/indicators/tasks",
            "/api/v1/indicators/units"} <= set(paths)
    extend = paths["/api/v1/tasks/{task_id}/extend"]["post"]
    assert extend["security"] and extend["summary"].startswith("督导延长任务期限")
