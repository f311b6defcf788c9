"""POST /api/v1/messages: an outside system reports a correlated message into running pathways.

Civil affairs' own relief system (not a CarePath pathway here) reports the relief result
「救助结果」 for a person, and the county clinic's diagnosis pathway (pathways/diagnosis.bpmn),
waiting at 等待救助结果, moves on to 根据救助结果调整治疗. The message goes only to an instance
within the unit the system sends for (its jurisdiction): a waiting instance of the same person in
another county does not get it, and it stays pending until one within does. A hospital's system
reports 「确诊低收入患者」, which starts the relief pathway (pathways/relief.bpmn), within its
jurisdiction only. Unknown names and correlations are refused naming what is known; an
idempotency key makes a retry deliver nothing twice; the scope `messages:send` is needed; the
status is its sender's alone. Revision 0005 goes down and up keeping the messages.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect, select, text

from engine import apiclients
from engine.people import register_person
from engine.runtime import outside, services
from engine.runtime.instances import load
from engine.store.migrations import runner
from engine.store.audit import AuditEvent
from engine.store.models import Event, Instance, Message

from conftest import SHANGHAI, deploy_pathways, task_by_element
from web import MovableClock, WebClient

TAIPING = "510781001001"        # 太平村, 江油市
XINAN = "510781001002"          # 新安村, 江油市
JIANGYOU = "510781"             # 江油市: the county clinic and its civil affairs
DONGJIE = "510703001001"        # 东街社区, 涪城区: another county of the city
CITY = "510700"                 # 绵阳市

CONFIRMED_DIBAO = {"diagnosis_result": "confirmed", "icd10_code": "F20.0", "diagnosis_name": "偏执型精神分裂症",
                   "severity": "severe", "household_type": "dibao", "consent_share_civil": True}
PLAN = {"treatment_setting": "outpatient", "medication_plan": "利培酮 2mg 每日两次", "follow_up_interval": "1m"}
RESULT = {"relief_approved": True, "relief_reason": "符合低保救助条件", "total_cost": 6000,
          "insurance_paid": 3600, "relief_paid": 1800, "out_of_pocket": 600}
RELIEF_RESULT = "救助结果"
DIAGNOSED = "确诊低收入患者"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def api(region):
    """The demo region with the diagnosis pathway (relief runs in civil affairs' own system), and
    patient P-A of 太平村; the app's clock at Tuesday 3 November 09:00."""
    from webui import create_app
    deploy_pathways(region, "diagnosis")
    register_person(region, "P-A", "张某", TAIPING, gender="男", birth_date="1979-03-12")
    clock = MovableClock(nov(3, 9))
    return region, create_app(region, now=clock.now).test_client(), clock


def token_for(ctx, name: str, members: list[tuple[str, str]], scopes: list[str]) -> dict:
    _client, token = apiclients.create_client(ctx, name, members, scopes, actor="admin")
    return {"Authorization": f"Bearer {token}"}


def relief_system(ctx, name: str = "relief-jy", org: str = JIANGYOU) -> dict:
    return token_for(ctx, name, [("civil.relief_officer", org)], ["messages:send"])


def waiting_diagnosis(ctx, ref: str, village: str, doctor: str, when: datetime) -> int:
    """A confirmed low-income diagnosis with consent, its treatment plan made: the instance now
    waits at 等待救助结果 for the person's relief result."""
    at = ctx.at(when)
    started = services.start_instance(at, "diagnosis", village, {}, person=ref)
    after = services.complete(at, task_by_element(started.tasks, "diagnose")["id"], doctor, CONFIRMED_DIBAO)
    waiting = services.complete(at, task_by_element(after.tasks, "treatment_plan")["id"], doctor, PLAN)
    assert (waiting.status, waiting.tasks) == ("running", [])
    return started.instance


def report(client, headers: dict, org: str = JIANGYOU, ref: str = "P-A", **extra):
    body = {"name": RELIEF_RESULT, "org": org, "correlation": {"cp_person_ref": ref},
            "payload": {"person_ref": ref, **RESULT}, **extra}
    return client.post("/api/v1/messages", json=body, headers=headers)


def elements(ctx, instance_id: int) -> list[str]:
    return [t["element"] for t in services.list_tasks(ctx, instance_id=instance_id)]


def stored_messages(ctx) -> list[tuple]:
    with ctx.db.unit_of_work() as session:
        return [tuple(row) for row in session.execute(
            select(Message.name, Message.status, Message.delivered_to, Message.sender_instance_id,
                   Message.sent_by, Message.org_code, Message.scope_path).order_by(Message.id))]


def delivered_events(ctx) -> list[tuple]:
    with ctx.db.unit_of_work() as session:
        return [(e.instance_id, e.detail.get("message_id"), e.detail.get("sent_by")) for e in session.scalars(
            select(Event).where(Event.kind == "message_delivered").order_by(Event.id))]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- delivered into the waiting instance ---------------------------------------------------------

def test_the_relief_result_reaches_the_waiting_diagnosis_and_the_doctor_adjusts_treatment(api):
    ctx, client, clock = api
    diagnosis = waiting_diagnosis(ctx, "P-A", TAIPING, "psychiatrist_zheng", nov(2, 10))
    assert elements(ctx, diagnosis) == []

    response = report(client, relief_system(ctx))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: v for k, v in body.items() if not k.endswith("_at")} == {
        "id": body["id"], "name": RELIEF_RESULT, "status": "delivered", "instance": diagnosis, "org": JIANGYOU}
    assert instant(body["created_at"]) == instant(body["delivered_at"]) == nov(3, 9)

    adjust = task_by_element(services.list_tasks(ctx, instance_id=diagnosis), "adjust_treatment")
    assert (adjust["role"], adjust["org"], adjust["status"]) == ("health.psychiatrist", JIANGYOU, "open")
    assert [t["id"] for t in services.tasks_for_user(ctx, "psychiatrist_zheng")] == [adjust["id"]]
    with ctx.db.unit_of_work() as session:
        data = load(ctx, session, diagnosis)[1].get_tasks(spec_name="adjust_treatment")[-1].data
        received = session.scalars(select(Event).where(Event.kind == "message_received")).one()
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "message_received")).one()
        assert (received.actor, received.instance_id, received.detail) == ("api:relief-jy", None, {
            "message": RELIEF_RESULT, "message_id": body["id"], "org": JIANGYOU, "properties": ["cp_person_ref"]})
        assert (audited.actor, audited.detail["message_id"]) == ("api:relief-jy", body["id"])
    assert {k: data[k] for k in ("person_ref", "relief_approved", "out_of_pocket", "relief_paid")} == {
        "person_ref": "P-A", "relief_approved": True, "out_of_pocket": 600, "relief_paid": 1800}
    assert delivered_events(ctx) == [(diagnosis, body["id"], "api:relief-jy")]


# --- jurisdiction: pending until an instance within waits ----------------------------------------

def test_a_waiting_instance_outside_the_senders_jurisdiction_never_gets_it(api):
    ctx, client, _clock = api
    # The same person was diagnosed in 涪城区 first: that instance has waited longest.
    fucheng = waiting_diagnosis(ctx, "P-A", DONGJIE, "psychiatrist_bai", nov(2, 10))

    pending = report(client, relief_system(ctx)).get_json()
    assert (pending["status"], pending["instance"], pending["delivered_at"]) == ("pending", None, None)
    assert elements(ctx, fucheng) == []
    assert stored_messages(ctx)[-1] == (RELIEF_RESULT, "pending", None, None, "api:relief-jy", JIANGYOU,
                                        "/510000/510700/510781/")

    # 江油市's clinic diagnoses the person too; its instance waits, and the kept message lands there.
    jiangyou = waiting_diagnosis(ctx, "P-A", TAIPING, "psychiatrist_zheng", nov(4, 10))
    assert elements(ctx, jiangyou) == ["adjust_treatment"]
    assert elements(ctx, fucheng) == []
    later = client.get(f"/api/v1/messages/{pending['id']}", headers=relief_system(ctx, "relief-jy-2"))
    assert later.status_code == 404          # another client of the same county: not its message
    status = outside.message_status(ctx, pending["id"], "api:relief-jy")
    assert (status["status"], status["instance"], status["delivered_at"]) == ("delivered", jiangyou, nov(4, 10))

    # The city's relief system covers both counties: its message goes to the one still waiting.
    city = report(client, relief_system(ctx, "relief-city", CITY), org=CITY).get_json()
    assert (city["status"], city["instance"]) == ("delivered", fucheng)
    assert elements(ctx, fucheng) == ["adjust_treatment"]
    assert delivered_events(ctx) == [(jiangyou, pending["id"], "api:relief-jy"),
                                     (fucheng, city["id"], "api:relief-city")]


def test_a_message_start_happens_only_within_the_senders_jurisdiction(api):
    ctx, client, _clock = api
    deploy_pathways(ctx, "relief")
    hospital = token_for(ctx, "his-jy", [("health.psychiatrist", JIANGYOU)], ["messages:send"])
    body = {"name": DIAGNOSED, "correlation": {"cp_person_ref": "P-A"},
            "payload": {"person_ref": "P-A", "icd10_code": "F20.0", "severity": "severe", "household_type": "dibao"}}

    inside = client.post("/api/v1/messages", json={**body, "org": JIANGYOU,
                                                   "payload": {**body["payload"], "org": XINAN}}, headers=hospital)
    outside_org = client.post("/api/v1/messages", json={**body, "org": JIANGYOU,
                                                        "payload": {**body["payload"], "org": DONGJIE}},
                              headers=hospital)
    assert inside.status_code == outside_org.status_code == 201, (inside.get_json(), outside_org.get_json())
    started = [inside.get_json()["instance"], outside_org.get_json()["instance"]]
    with ctx.db.unit_of_work() as session:
        assert [(session.get(Instance, i).process_id, session.get(Instance, i).org_code) for i in started] == [
            ("relief", XINAN), ("relief", JIANGYOU)]         # 涪城区 is not the hospital's to send to
    for instance in started:
        verify = task_by_element(services.list_tasks(ctx, instance_id=instance), "verify_eligibility")
        assert (verify["role"], verify["org"]) == ("civil.relief_officer", JIANGYOU)
        with ctx.db.unit_of_work() as session:
            data = load(ctx, session, instance)[1].get_tasks(spec_name="verify_eligibility")[-1].data
        assert (data["person_ref"], data["icd10_code"]) == ("P-A", "F20.0")
    assert services.tasks_for_user(ctx, "relief_zheng") == []          # 涪城区 civil affairs


# --- what is refused ---------------------------------------------------------------------------------

def test_unknown_names_and_correlations_are_refused_naming_what_is_known(api):
    ctx, client, _clock = api
    relief = relief_system(ctx)

    def refused(body: dict, status: int = 400) -> dict:
        response = client.post("/api/v1/messages", json={"org": JIANGYOU, **body}, headers=relief)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    good = {"correlation": {"cp_person_ref": "P-A"}, "payload": {"person_ref": "P-A"}}
    unknown = refused({"name": DIAGNOSED, **good})
    assert (unknown["code"], unknown["message"]) == (
        "invalid", "没有已部署的路径接收或由消息「确诊低收入患者」启动；可发送的消息有：「救助结果」 (unknown message name)")
    assert refused({"name": RELIEF_RESULT, "correlation": {"person_ref": "P-A"}})["message"] == (
        "消息「救助结果」没有关联属性 person_ref；它的关联属性是：cp_person_ref (unknown correlation property)")
    assert refused({"name": RELIEF_RESULT, "correlation": {}})["message"] == (
        "消息「救助结果」缺少关联属性 cp_person_ref；它的关联属性是：cp_person_ref (missing correlation property)")
    assert refused({"name": RELIEF_RESULT, "correlation": {"cp_person_ref": {"id": 1}}})["message"] == (
        "关联属性 cp_person_ref 的值须为字符串（1–200 个字符）、数字或布尔值 (correlation values are scalars)")
    assert refused({"name": RELIEF_RESULT, **good, "payload": {"person_ref": "P-B"}})["message"] == (
        "载荷须带关联属性 cp_person_ref 的值 'P-A'：路径按 person_ref 从载荷中取得它，得到 'P-B' "
        "(the payload must carry the correlation value)")
    assert refused({"name": RELIEF_RESULT, **good, "payload": RESULT})["message"] == (
        "载荷须带关联属性 cp_person_ref 的值 'P-A'：路径按 person_ref 从载荷中取得它，得到 None "
        "(the payload must carry the correlation value)")
    assert "1x" in refused({"name": RELIEF_RESULT, **good, "payload": {"person_ref": "P-A", "1x": 1}})["message"]
    schema = refused({"name": RELIEF_RESULT, **good, "sender": "x"}, 422)
    assert schema["code"] == "invalid_request" and "sender" in schema["errors"]["json"]
    elsewhere = refused({"name": RELIEF_RESULT, **good, "org": DONGJIE}, 403)
    assert elsewhere["message"] == "机构 510703001001 不在您的辖区内，不能为此机构发送消息 (outside your jurisdiction)"
    assert refused({"name": RELIEF_RESULT, **good, "org": "999999"}, 404)["code"] == "not_found"
    assert stored_messages(ctx) == []
    with ctx.db.unit_of_work() as session:
        assert session.scalars(select(Event).where(Event.kind == "message_received")).all() == []


def test_a_token_without_the_messages_scope_is_refused(api):
    ctx, client, _clock = api
    waiting_diagnosis(ctx, "P-A", TAIPING, "psychiatrist_zheng", nov(2, 10))
    worker = token_for(ctx, "relief-worker", [("civil.relief_officer", JIANGYOU)],
                       ["instances:write", "tasks:write"])
    response = report(client, worker)
    assert response.status_code == 403
    assert response.get_json()["message"] == "令牌缺少权限范围 messages:send（发送路径间消息）(missing scope messages:send)"
    assert client.get("/api/v1/messages/1", headers=worker).status_code == 403
    assert [row for row in stored_messages(ctx) if row[4] is not None] == []


# --- retries and status --------------------------------------------------------------------------------

def test_an_idempotency_key_makes_a_retried_report_deliver_once(api):
    ctx, client, _clock = api
    diagnosis = waiting_diagnosis(ctx, "P-A", TAIPING, "psychiatrist_zheng", nov(2, 10))
    headers = {**relief_system(ctx), "Idempotency-Key": "relief-P-A-20261103"}
    first, again = report(client, headers), report(client, headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["status"] == "delivered"
    assert elements(ctx, diagnosis) == ["adjust_treatment"]
    assert delivered_events(ctx) == [(diagnosis, first.get_json()["id"], "api:relief-jy")]
    assert [row[:3] for row in stored_messages(ctx) if row[4]] == [(RELIEF_RESULT, "delivered", diagnosis)]

    # Without the key a repeat is a new message; nobody waits for it any more, so it is kept.
    repeat = report(client, {k: v for k, v in headers.items() if k != "Idempotency-Key"}).get_json()
    assert (repeat["status"], repeat["instance"]) == ("pending", None)
    assert elements(ctx, diagnosis) == ["adjust_treatment"]


def test_the_status_is_shown_to_its_sender_only(api):
    ctx, client, clock = api
    relief = relief_system(ctx)
    sent = report(client, relief).get_json()
    shown = client.get(f"/api/v1/messages/{sent['id']}", headers=relief)
    assert shown.status_code == 200 and shown.get_json() == sent
    assert (sent["status"], sent["instance"]) == ("pending", None)

    diagnosis = waiting_diagnosis(ctx, "P-A", TAIPING, "psychiatrist_zheng", nov(3, 10))   # throws 确诊低收入患者
    with ctx.db.unit_of_work() as session:
        thrown_id = session.scalars(select(Message.id).where(Message.sender_instance_id == diagnosis)).one()
    assert client.get(f"/api/v1/messages/{sent['id']}", headers=relief).get_json()["instance"] == diagnosis
    other = relief_system(ctx, "relief-other")
    for message_id, headers in ((sent["id"], other), (thrown_id, relief), (sent["id"] + 100, relief)):
        missing = client.get(f"/api/v1/messages/{message_id}", headers=headers)
        assert missing.status_code == 404 and missing.get_json()["code"] == "not_found", message_id
    from webui import create_app
    browser = WebClient(create_app(ctx, now=clock.now))
    browser.login("relief_wu")
    assert browser.client.get(f"/api/v1/messages/{sent['id']}").status_code == 404


# --- revision 0005 ---------------------------------------------------------------------------------------

def message_rows(db) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT id, name, correlation, payload, sender_instance_id, org_code, status, needs_attempt,"
            " created_at, delivered_at, delivered_to FROM messages ORDER BY id"))]


def message_columns(db) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("messages")}


def test_revision_0005_goes_down_and_up_keeping_the_messages(api):
    ctx, client, _clock = api
    waiting_diagnosis(ctx, "P-A", TAIPING, "psychiatrist_zheng", nov(2, 10))   # a thrown message, pending
    assert report(client, relief_system(ctx)).get_json()["status"] == "delivered"
    before = message_rows(ctx.db)
    assert [(row[1], row[6]) for row in before] == [(DIAGNOSED, "pending"), (RELIEF_RESULT, "delivered")]
    ctx.db.engine.dispose()

    assert runner.downgrade(ctx.db, "0004_api_clients") == ["0008_lean_indexes", "0007_reference_token", "0006_simulations",
                                                            "0005_message_scope"]
    assert message_rows(ctx.db) == before
    assert {"scope_path", "sent_by"} & message_columns(ctx.db) == set()
    ctx.db.engine.dispose()
    assert runner.upgrade(ctx.db).applied == ["0005_message_scope", "0006_simulations", "0007_reference_token",
                                              "0008_lean_indexes"]
    assert message_rows(ctx.db) == before
    with ctx.db.engine.connect() as connection:
        assert connection.execute(text("SELECT scope_path, sent_by FROM messages")).all() == [(None, None)] * 2


def test_revision_0005_is_not_undone_while_an_outside_message_is_pending(api):
    ctx, client, _clock = api
    assert report(client, relief_system(ctx)).get_json()["status"] == "pending"
    before = message_rows(ctx.db)
    ctx.db.engine.dispose()
    with pytest.raises(runner.SchemaError) as refused:
        runner.downgrade(ctx.db, "0004_api_clients")
    assert "0005_message_scope" in str(refused.value)
    assert "1 message(s) sent from outside are still pending" in str(refused.value)
    assert runner.status(ctx.db).revision == "0008_lean_indexes"    # the whole downgrade rolled back
    assert {"scope_path", "sent_by"} <= message_columns(ctx.db)
    assert message_rows(ctx.db) == before
