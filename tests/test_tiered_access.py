"""Tiered access to a person's record (分级授权): the pure reading rules, then the real services
and pages — a clinician reads the diagnosis, a social worker (civil affairs) only with the
person's consent, justice only the case record; consent recorded, shown, revoked and expiring;
every read and every refused share in the audit log."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import records
from engine.errors import InvalidInput, PermissionDenied
from engine.pathways import deploy_files
from engine.people import register_person
from engine.privacy import services as privacy
from engine.privacy.rules import ConsentView, may_break_glass, may_manage_consent, reading
from engine.privacy.tiers import DataTiers, declared_tiers, split_by_tier
from engine.runtime import services
from engine.store.audit import AuditEvent

from conftest import BPMN, SHANGHAI, T0
from web import MovableClock, WebClient, text_of

VILLAGE, TOWNSHIP, COUNTY = "/510000/510700/510781/510781001/510781001001/", "/510000/510700/510781/510781001/", "/510000/510700/510781/"
RECORD = {"diagnosis": "诊断标记F32", "case_number": "案件标记2026", "visit_plan": "每月入户"}
ROLE_TIERS = {"health.psychiatrist": ["basic", "clinical"], "civil.social_worker": ["basic", "clinical"],
              "justice.community_corrections": ["basic", "case"], "education.teacher": None,
              "admin.analyst": []}


# --- the rules, pure --------------------------------------------------------------------------------

def consent(agencies=("civil",), tiers=("clinical",), days=30, revoked=False, id=1):
    return ConsentView(id, frozenset(agencies), frozenset(tiers), T0 - timedelta(days=1),
                       T0 + timedelta(days=days), T0 if revoked else None)


def test_a_role_reads_its_tiers_in_its_jurisdiction_only():
    assert reading([("health.psychiatrist", COUNTY)], ROLE_TIERS, [VILLAGE], now=T0).tiers == {"basic", "clinical"}
    assert reading([("education.teacher", TOWNSHIP)], ROLE_TIERS, [VILLAGE], now=T0).tiers == {"basic"}
    assert reading([("justice.community_corrections", TOWNSHIP)], ROLE_TIERS, [VILLAGE], now=T0).tiers == {"basic", "case"}
    other = "/510000/510700/510781/510781002/"
    assert reading([("health.psychiatrist", other)], ROLE_TIERS, [VILLAGE], now=T0).tiers == set()
    assert reading([("admin.analyst", "/510000/")], ROLE_TIERS, [VILLAGE], now=T0).tiers == set()


def test_another_agency_reads_clinical_data_only_while_a_consent_covers_it():
    grants = [("civil.social_worker", TOWNSHIP)]
    without = reading(grants, ROLE_TIERS, [VILLAGE], now=T0)
    assert without.tiers == {"basic"} and without.refused == {("civil", "clinical")}
    granted = reading(grants, ROLE_TIERS, [VILLAGE], [consent()], T0)
    assert granted.tiers == {"basic", "clinical"} and granted.basis["clinical"] == "consent:1" and not granted.refused
    for lapsed in (consent(revoked=True), consent(days=-0.5), consent(agencies=("education",)),
                   consent(tiers=("case",))):
        assert reading(grants, ROLE_TIERS, [VILLAGE], [lapsed], T0).tiers == {"basic"}, lapsed


def test_break_glass_reads_everything_until_it_ends():
    open_until = (7, T0 + timedelta(hours=1))
    found = reading([("education.teacher", "/510000/510700/510703/")], ROLE_TIERS, [VILLAGE], now=T0,
                    break_glass=open_until)
    assert found.tiers == {"basic", "clinical", "case"} and found.break_glass == 7
    assert reading([("education.teacher", "/510000/510700/510703/")], ROLE_TIERS, [VILLAGE],
                   now=T0 + timedelta(hours=1), break_glass=open_until).tiers == set()
    assert not may_manage_consent(found)
    assert may_break_glass([("education.teacher", "/x/")], ROLE_TIERS)
    assert not may_break_glass([("admin.analyst", "/x/")], ROLE_TIERS)


def test_declared_tiers_take_the_field_then_the_form_then_the_pathway():
    form = {"properties": {"tier": "basic"}, "components": [
        {"key": "phone", "type": "textfield"},
        {"key": "diagnosis", "type": "textfield", "properties": {"tier": "clinical"}},
        {"type": "group", "components": [{"key": "verdict", "type": "textfield", "properties": {"tier": "case"}}]}]}
    tiers, problems = declared_tiers([("p", "tier", "case"), ("p", "tier.basic", "relief_amount, phone")],
                                     {"p/f.form": form})
    assert problems == []
    assert [tiers.tier_of(k) for k in ("phone", "diagnosis", "verdict", "relief_amount", "other")] == \
        ["basic", "clinical", "case", "basic", "case"]
    assert DataTiers().tier_of("anything") == "clinical"                    # nothing declared
    shown, hidden = split_by_tier({"phone": 1, "diagnosis": 2, "verdict": 3}, tiers, {"basic"})
    assert shown == {"phone": 1} and hidden == {"clinical": 1, "case": 1}
    _, problems = declared_tiers([("p", "tier", "secret"), ("p", "tier.clinical", "phone")], {"p/f.form": form})
    assert any("secret" in p for p in problems) and any("phone" in p and "basic" in p for p in problems)


# --- through the services ---------------------------------------------------------------------------

@pytest.fixture
def record(region):
    deploy_files(region, [BPMN / "tiered_record.bpmn"])
    register_person(region, "P-9", "钟测试", "510781001001")
    started = services.start_instance(region, "tiered_record", "510781001001", RECORD, person="P-9")
    person_id = services_person_id(region, "P-9")
    return region, person_id, started.instance


def services_person_id(ctx, ref):
    from engine.store.people import person_by_ref
    with ctx.db.unit_of_work() as session:
        return person_by_ref(session, ref).id


def data_for(ctx, instance, username):
    return records.instance_page_for_user(ctx, instance, username)["detail"]


def audit(ctx, **where):
    with ctx.db.unit_of_work() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def test_each_role_sees_the_tiers_it_reads_and_the_rest_is_counted_not_shown(record):
    ctx, person, instance = record
    clinician = data_for(ctx, instance, "psychiatrist_zheng")
    assert clinician["data"] == {"diagnosis": "诊断标记F32", "visit_plan": "每月入户", "person_ref": "P-9"}
    assert clinician["hidden"] == {"case": 1} and clinician["person"]["name"] == "钟测试"
    corrections = data_for(ctx, instance, "corrections_ma")
    assert corrections["data"] == {"case_number": "案件标记2026", "visit_plan": "每月入户", "person_ref": "P-9"}
    assert corrections["hidden"] == {"clinical": 1}
    social = data_for(ctx, instance, "sw_tang")
    assert social["data"] == {"visit_plan": "每月入户", "person_ref": "P-9"} and social["hidden"] == {"clinical": 1, "case": 1}
    with pytest.raises(PermissionDenied):
        data_for(ctx, instance, "teacher_li")                            # another township
    analyst = data_for(ctx, instance, "analyst_xu")                      # sees the instance, no person data
    assert analyst["data"] == {} and analyst["person"] is None

    reads = audit(ctx, action="read", person_id=person)
    assert [(r.actor, r.target, r.detail["tiers"]) for r in reads] == [
        ("psychiatrist_zheng", f"instance:{instance}", ["basic", "clinical"]),
        ("corrections_ma", f"instance:{instance}", ["basic", "case"]),
        ("sw_tang", f"instance:{instance}", ["basic"]),
        ("analyst_xu", f"instance:{instance}", [])]
    [refused] = audit(ctx, action="share_refused")
    assert (refused.actor, refused.person_id, refused.detail) == (
        "sw_tang", person, {"agency": "civil", "tier": "clinical", "values": 1})


def test_consent_lets_civil_affairs_read_clinical_data_until_revoked_or_expired(record):
    ctx, person, instance = record
    until = datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI)
    with pytest.raises(PermissionDenied):                               # not theirs to record
        privacy.record_consent(ctx, person, "teacher_li", ["civil"], ["clinical"], until, "授权书 2026-001")
    with pytest.raises(InvalidInput, match="信息分级"):
        privacy.record_consent(ctx, person, "psychiatrist_zheng", ["civil"], ["basic"], until, "授权书")
    with pytest.raises(InvalidInput, match="截止"):
        privacy.record_consent(ctx, person, "psychiatrist_zheng", ["civil"], ["clinical"], T0 - timedelta(days=1), "授权书")
    given = privacy.record_consent(ctx, person, "psychiatrist_zheng", ["civil"], ["clinical"], until, "授权书 2026-001")
    assert given["state"] == "in_force"
    assert data_for(ctx, instance, "sw_tang")["data"]["diagnosis"] == "诊断标记F32"
    [read] = audit(ctx, action="read", actor="sw_tang")
    assert read.detail["basis"]["clinical"] == f"consent:{given['id']}"
    # One consent, many uses: the county's relief officer (civil, carries clinical) reads it too;
    # the village committee worker (civil, basic only) does not.
    assert data_for(ctx, instance, "relief_wu")["hidden"] == {"case": 1}
    assert data_for(ctx, instance, "cw_huang")["hidden"] == {"clinical": 1, "case": 1}

    later = ctx.at(datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI))
    assert data_for(later, instance, "sw_tang")["hidden"] == {"clinical": 1, "case": 1}    # expired
    revoked = privacy.revoke_consent(ctx, person, given["id"], "cw_huang", "本人撤回授权")
    assert revoked["state"] == "revoked" and revoked["revoked_by"] == "cw_huang"
    assert "diagnosis" not in data_for(ctx, instance, "sw_tang")["data"]
    journey = records.person_for_user(ctx, person, "cw_huang")
    assert [c["state"] for c in journey["consents"]] == ["revoked"] and journey["may_manage_consent"]
    assert [r.action for r in audit(ctx, person_id=person) if r.action.startswith("consent")] == \
        ["consent_recorded", "consent_revoked"]


def test_break_glass_opens_a_record_outside_scope_for_a_limited_time_and_tells_supervisors(record):
    from engine.notify import list_for_user
    ctx, person, instance = record
    with pytest.raises(PermissionDenied):
        records.person_for_user(ctx, person, "psychiatrist_bai")         # another county
    with pytest.raises(InvalidInput, match="原因"):
        privacy.break_glass(ctx, person, "psychiatrist_bai", "急")
    with pytest.raises(PermissionDenied):
        privacy.break_glass(ctx, person, "analyst_xu", "需要查看以便排查流程故障问题")
    opened = privacy.break_glass(ctx, person, "psychiatrist_bai", "患者在我院急诊，需了解既往诊断与处置")
    assert opened["until"] == T0 + timedelta(minutes=60)
    journey = records.person_for_user(ctx, person, "psychiatrist_bai")
    assert journey["break_glass"]["reason"].startswith("患者在我院急诊") and journey["reading"]["break_glass"] == opened["id"]
    assert set(data_for(ctx, instance, "psychiatrist_bai")["data"]) == {"diagnosis", "case_number", "visit_plan", "person_ref"}
    with ctx.db.unit_of_work() as session:
        told = list_for_user(session, "health_sup_jy")
        elsewhere = list_for_user(session, "health_sup_fc")
    assert [n["kind"] for n in told] == ["break_glass"] and "患者在我院急诊" in told[0]["body"]
    assert elsewhere == []                              # 涪城区's supervisor is not over 钟测试
    expired = ctx.at(T0 + timedelta(minutes=61))
    with pytest.raises(PermissionDenied):
        records.person_for_user(expired, person, "psychiatrist_bai")
    with pytest.raises(PermissionDenied):
        data_for(expired, instance, "psychiatrist_bai")
    [glass] = audit(ctx, action="break_glass")
    assert glass.actor == "psychiatrist_bai" and glass.person_id == person and "急诊" in glass.detail["reason"]
    assert all(r.detail.get("break_glass") == opened["id"] for r in audit(ctx, action="read", actor="psychiatrist_bai"))


# --- the pages ---------------------------------------------------------------------------------------

@pytest.fixture
def site(record):
    from webui import create_app
    ctx, person, instance = record
    return create_app(ctx, now=MovableClock(T0).now), person, instance


def signed_in(app, username):
    client = WebClient(app)
    client.login(username)
    return client


def test_consent_is_recorded_shown_and_revoked_on_the_persons_page(site):
    app, person, instance = site
    worker = signed_in(app, "cw_huang")
    page = worker.get(f"/people/{person}")
    assert page.status_code == 200 and 'data-testid="consent-form"' in page.get_data(as_text=True)
    assert "尚未登记授权" in text_of(page)
    assert "诊断标记F32" not in text_of(signed_in(app, "sw_tang").get(f"/instances/{instance}"))
    done = worker.post(f"/people/{person}/consents", {"agencies": ["civil"], "tiers": ["clinical"],
                                                      "until": "2026-12-31", "basis": "书面授权书 JY-2026-118"})
    assert done.status_code == 302
    page = text_of(worker.get(f"/people/{person}"))
    assert "书面授权书 JY-2026-118" in page and "有效" in page and "民政" in page and "临床信息" in page
    social = signed_in(app, "sw_tang")
    assert "诊断标记F32" in text_of(social.get(f"/instances/{instance}"))
    bad = worker.post(f"/people/{person}/consents", {"agencies": ["civil"], "tiers": ["clinical"],
                                                     "until": "31/12/2026", "basis": "x"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in text_of(bad)
    consent_id = privacy_consent_ids(app, person)[0]
    assert worker.post(f"/people/{person}/consents/{consent_id}/revoke", {"reason": "本人要求撤回"}).status_code == 302
    assert "已撤回" in text_of(worker.get(f"/people/{person}"))
    instance_page = text_of(social.get(f"/instances/{instance}"))
    assert "诊断标记F32" not in instance_page and "1 项临床信息不在您的查看权限内" in instance_page
    assert signed_in(app, "teacher_li").post(f"/people/{person}/consents", {
        "agencies": ["education"], "tiers": ["clinical"], "until": "2026-12-31", "basis": "x"}).status_code == 403


def privacy_consent_ids(app, person):
    ctx = app.extensions["carepath"].ctx
    with ctx.db.unit_of_work() as session:
        from engine.store.privacy import consents_of
        return [c.id for c in consents_of(session, person)]


def test_break_glass_from_the_not_found_page(site):
    app, person, instance = site
    outsider = signed_in(app, "psychiatrist_bai")
    refused = outsider.get(f"/people/{person}")
    missing = outsider.get("/people/99999")
    assert refused.status_code == missing.status_code == 404
    assert "钟测试" not in refused.get_data(as_text=True)
    assert text_of(refused).replace(str(person), "N") == text_of(missing).replace("99999", "N")
    assert 'data-testid="break-glass-form"' in refused.get_data(as_text=True)
    short = outsider.post(f"/people/{person}/break-glass", {"reason": "看看"})
    assert short.status_code == 400 and "原因" in text_of(short)
    assert outsider.post("/people/99999/break-glass", {"reason": "患者在我院急诊需要了解既往诊断"}).status_code == 404
    opened = outsider.post(f"/people/{person}/break-glass", {"reason": "患者在我院急诊需要了解既往诊断"})
    assert opened.status_code == 302
    page = outsider.get(f"/people/{person}")
    assert page.status_code == 200 and 'data-testid="break-glass"' in page.get_data(as_text=True)
    assert "患者在我院急诊需要了解既往诊断" in text_of(page) and "钟测试" in text_of(page)
    assert "诊断标记F32" in text_of(outsider.get(f"/instances/{instance}"))
    analyst = signed_in(app, "analyst_xu")
    assert 'break-glass-form' not in analyst.get(f"/people/{person}").get_data(as_text=True)
    assert analyst.post(f"/people/{person}/break-glass", {"reason": "需要查看以便排查流程故障"}).status_code == 403
