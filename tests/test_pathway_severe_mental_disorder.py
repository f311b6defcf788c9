"""Pathway 2, severe mental disorder management (严重精神障碍管理), walked end to end.

`severe_registration`: the township mental-health doctor (乡镇精防医生) registers a diagnosed
patient within 5 working days and makes the first danger (0–5) and clinical assessment; the
decision table `followup_interval` classifies the patient; an unstable patient is referred to
the county psychiatrist within 1 working day and, at danger level 3 or more, the community police
officer is told within 4 hours. Registration ends by throwing 严重精神障碍随访到期, which starts
cycle 1 of `severe_followup`.

`severe_followup`: one instance per follow-up cycle ("continue as new"). It waits until the
follow-up is due (90 days when stable, 14 days otherwise), then the township doctor and the
county technical-guidance department both follow up within 5 working days (双轨制); medicine is
delivered to the township within 3 working days when needed; the table classifies again: unstable
→ referral within 1 working day and police within 4 hours, basically stable → adjust treatment
(twice in a row → refer up), stable → 3 months. The cycle throws the same message again and a new
instance carries on; 结案 ends the management.

Times: the demo region's clock starts Monday 2 November 2026 09:00 (T0). A stable patient
registered on Tuesday 4 August 2026 09:00 (90 days earlier) is due for follow-up exactly at T0,
so the follow-up deadlines below fall in November 2026 (official calendar, no holidays): counted
from the next working day, closing at 18:00.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.errors import FormInvalid
from engine.escalation import actions
from engine.notify import list_for_user
from engine.people import register_person
from engine.runtime import services
from engine.store.models import Instance, Message
from engine.store.people import instances_of_person, person_by_ref

from conftest import SHANGHAI, T0, deploy_pathways, task_by_element

VILLAGE = "510781001001"      # 太平村, where the patients live
TOWNSHIP = "510781001"        # 太平镇: its 精防医生 mhdoc_qian, 社区民警 police_tian
COUNTY = "510781"             # 江油市: psychiatrist_zheng, guide_wu, pharm_feng, health_sup_jy
MESSAGE = "严重精神障碍随访到期"
REGISTERED = datetime(2026, 8, 4, 9, 0, tzinfo=SHANGHAI)    # T0 - 90 days


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


# --- what the users type (every submission is valid for its form) -------------------------------

REGISTER = {
    "diagnosis": "schizophrenia", "diagnosis_date": "2026-07-20",
    "diagnosing_hospital": "江油市第三人民医院", "guardian_name": "张桂兰",
    "guardian_relation": "parent", "guardian_phone": "13812345678", "consent_status": "guardian",
}
COUNTY_CALL = {"call_result": "reached", "findings": "监护人反映患者按时服药，睡眠、饮食正常。"}
REFERRAL = {"disposition": "outpatient", "treatment_advice": "加量奥氮平至每日 15 mg，两周后复诊。"}
POLICE = {"police_actions": ["home_visit", "key_watch"], "police_note": "已上门，监护人在家看护。"}


def assessment(danger: int, stability: str) -> dict:
    return {"danger_level": danger, "stability": stability, "insight": "partial",
            "social_function": "fair", "side_effects": "none", "compliance": "regular"}


def follow_up(danger: int, stability: str, medication: bool = False, police: bool | None = None) -> dict:
    data = {"followup_method": "face", "management": "继续管理", "danger_level": danger,
            "stability": stability, "insight": "partial", "side_effects": "none",
            "compliance": "regular", "medication_needed": medication}
    if police is not None:        # the form shows 需要公安协助 only from danger level 3
        data["police_help"] = police
    return data


# --- helpers ------------------------------------------------------------------------------------

@pytest.fixture
def severe(region):
    deploy_pathways(region.at(at(7, 1, 9)), "severe_registration", "severe_followup")
    return region


def inbox(ctx, moment: datetime, username: str) -> list[dict]:
    return services.tasks_for_user(ctx.at(moment), username)


def elements(ctx, moment: datetime, username: str) -> list[str]:
    return sorted(t["element"] for t in inbox(ctx, moment, username))


def register(ctx, ref: str, moment: datetime, danger: int, stability: str) -> int:
    """Register the person, start registration, and let 钱精防 register and assess at `moment`.
    Returns the registration instance."""
    register_person(ctx, ref, "李某", VILLAGE, gender="男", birth_date="1980-05-01")
    started = services.start_instance(ctx.at(moment), "severe_registration", VILLAGE, {}, person=ref)
    services.complete(ctx.at(moment), task_by_element(started.tasks, "register")["id"], "mhdoc_qian", REGISTER)
    assess = task_by_element(services.list_tasks(ctx, instance_id=started.instance), "assess")
    services.complete(ctx.at(moment), assess["id"], "mhdoc_qian", assessment(danger, stability))
    return started.instance


def cycles(ctx, ref: str) -> list[Instance]:
    """The person's follow-up cycles, oldest first (detached rows)."""
    with ctx.db.unit_of_work() as session:
        person = person_by_ref(session, ref)
        rows = [i for i in instances_of_person(session, person.id) if i.process_id == "severe_followup"]
        session.expunge_all()
        return rows


def person_id(ctx, ref: str) -> int:
    with ctx.db.unit_of_work() as session:
        return person_by_ref(session, ref).id


def thrown_by(ctx, instance_id: int) -> list[Message]:
    with ctx.db.unit_of_work() as session:
        rows = list(session.scalars(select(Message).where(Message.sender_instance_id == instance_id)))
        session.expunge_all()
        return rows


def open_tasks(ctx, instance_id: int) -> dict[str, dict]:
    return {t["element"]: t for t in services.list_tasks(ctx, instance_id=instance_id)}


def stable_patient_due_at_t0(ctx, ref: str) -> Instance:
    """A stable patient registered 90 days before T0: cycle 1's two tracks open at T0."""
    register(ctx, ref, REGISTERED, 0, "稳定")
    services.tick(ctx.at(T0))
    [cycle] = cycles(ctx, ref)
    assert set(open_tasks(ctx, cycle.id)) == {"doctor_followup", "county_check"}
    return cycle


def finish_cycle(ctx, cycle_id: int, moment: datetime, doctor_data: dict) -> None:
    """Both tracks done at `moment`: the county's phone check, then the doctor's follow-up."""
    tasks = open_tasks(ctx, cycle_id)
    services.complete(ctx.at(moment), tasks["county_check"]["id"], "guide_wu", COUNTY_CALL)
    services.complete(ctx.at(moment), tasks["doctor_followup"]["id"], "mhdoc_qian", doctor_data)


# --- registration ----------------------------------------------------------------------------------

def test_stable_registration_starts_a_cycle_that_opens_both_tracks_three_months_later(severe):
    register_person(severe, "SMI-001", "李某", VILLAGE, gender="男", birth_date="1980-05-01")
    notified = at(7, 31, 9)                                      # Friday: the diagnosis is reported
    started = services.start_instance(severe.at(notified), "severe_registration", VILLAGE, {},
                                      person="SMI-001")

    # 登记建档: the township's 精防医生, within 5 working days (Fri 31 Jul → Fri 7 Aug 18:00).
    reg = task_by_element(started.tasks, "register")
    assert (reg["role"], reg["org"], reg["status"]) == ("health.township_mh_doctor", VILLAGE, "open")
    assert reg["form_key"] == "severe_registration/register.form"
    assert reg["due_at"] == at(8, 7, 18)
    assert elements(severe, notified, "mhdoc_qian") == ["register"]
    assert inbox(severe, notified, "mhdoc_sun") == []            # 中坝镇's doctor: not his township
    assert inbox(severe, notified, "mhdoc_ye") == []             # 涪城区

    # Registered on Monday afternoon; the first assessment is due 5 working days later.
    services.complete(severe.at(at(8, 3, 15)), reg["id"], "mhdoc_qian", REGISTER)
    assess = task_by_element(services.list_tasks(severe, instance_id=started.instance), "assess")
    assert (assess["role"], assess["org"], assess["due_at"]) == (
        "health.township_mh_doctor", VILLAGE, at(8, 10, 18))
    done = services.complete(severe.at(REGISTERED), assess["id"], "mhdoc_qian", assessment(0, "稳定"))
    assert (done.status, done.tasks) == ("completed", [])       # stable: no referral, no police

    # The thrown message started cycle 1 of the follow-up pathway for the same person.
    [message] = thrown_by(severe, started.instance)
    assert message.name == MESSAGE and message.status == "delivered"
    assert message.payload == {"person_ref": "SMI-001", "danger_level": 0, "stability": "稳定",
                               "stability_class": "stable", "next_followup_days": 90, "cycle": 1,
                               "basic_stable_streak": 0}
    [cycle] = cycles(severe, "SMI-001")
    assert message.delivered_to == cycle.id
    assert (cycle.status, cycle.org_code, cycle.person_id) == ("running", VILLAGE, person_id(severe, "SMI-001"))
    assert cycle.parent_instance_id == started.instance
    assert cycle.wake_at == T0                                   # 3 months: 90 days after registration
    assert open_tasks(severe, cycle.id) == {}

    # Nothing is due a minute early; at T0 the dual-track follow-up opens.
    assert services.tick(severe.at(T0 - timedelta(minutes=1)))["timers_fired"] == 0
    assert open_tasks(severe, cycle.id) == {}
    fired = services.tick(severe.at(T0))
    assert fired["timers_fired"] == 1 and fired["instances"] == [cycle.id]
    tasks = open_tasks(severe, cycle.id)
    assert set(tasks) == {"doctor_followup", "county_check"}
    doctor, county = tasks["doctor_followup"], tasks["county_check"]
    # Both within 5 working days: Mon 2 Nov → Mon 9 Nov 18:00.
    assert (doctor["role"], doctor["org"], doctor["due_at"]) == ("health.township_mh_doctor", VILLAGE, at(11, 9, 18))
    assert (county["role"], county["org"], county["due_at"]) == ("health.county_guidance", COUNTY, at(11, 9, 18))
    assert doctor["form_key"] == "severe_followup/doctor_followup.form"
    [seen] = inbox(severe, T0, "mhdoc_qian")
    assert seen["element"] == "doctor_followup" and seen["remaining"]["text"] == "还剩 5 个工作日"
    assert elements(severe, T0, "guide_wu") == ["county_check"]
    assert inbox(severe, T0, "guide_xie") == []                 # 涪城区's guidance department
    assert inbox(severe, T0, "mhdoc_sun") == []


def test_unstable_registration_refers_and_tells_police_in_parallel(severe):
    register_person(severe, "SMI-002", "王某", VILLAGE, gender="女", birth_date="1975-03-12")
    started = services.start_instance(severe, "severe_registration", VILLAGE, {}, person="SMI-002")
    services.complete(severe, task_by_element(started.tasks, "register")["id"], "mhdoc_qian", REGISTER)
    assess = task_by_element(services.list_tasks(severe, instance_id=started.instance), "assess")
    after = services.complete(severe.at(at(11, 2, 11)), assess["id"], "mhdoc_qian", assessment(3, "不稳定"))

    tasks = {t["element"]: t for t in after.tasks}
    assert set(tasks) == {"refer_psychiatrist", "police_notify"}
    refer, police = tasks["refer_psychiatrist"], tasks["police_notify"]
    # County psychiatrist within 1 working day (Tue 18:00); police within 4 clock hours.
    assert (refer["role"], refer["org"], refer["due_at"]) == ("health.psychiatrist", COUNTY, at(11, 3, 18))
    assert (police["role"], police["org"], police["due_at"]) == ("police.community_officer", VILLAGE, at(11, 2, 15))
    assert elements(severe, T0, "psychiatrist_zheng") == ["refer_psychiatrist"]
    assert inbox(severe, T0, "psychiatrist_bai") == []          # 涪城区's psychiatrist
    assert elements(severe, T0, "police_tian") == ["police_notify"]
    assert cycles(severe, "SMI-002") == []                       # no cycle before the referral is done

    services.complete(severe.at(at(11, 2, 13)), police["id"], "police_tian", POLICE)
    assert cycles(severe, "SMI-002") == []                       # still waiting for the psychiatrist
    done = services.complete(severe.at(at(11, 3, 10)), refer["id"], "psychiatrist_zheng", REFERRAL)
    assert done.status == "completed"
    [message] = thrown_by(severe, started.instance)
    assert message.payload == {"person_ref": "SMI-002", "danger_level": 3, "stability": "不稳定",
                               "stability_class": "unstable", "next_followup_days": 14, "cycle": 1,
                               "basic_stable_streak": 0}
    [cycle] = cycles(severe, "SMI-002")
    assert cycle.wake_at == at(11, 17, 10)                       # treatment checked within 2 weeks


def test_unstable_below_level_three_is_referred_without_police(severe):
    register_person(severe, "SMI-003", "赵某", VILLAGE)
    started = services.start_instance(severe, "severe_registration", VILLAGE, {}, person="SMI-003")
    services.complete(severe, task_by_element(started.tasks, "register")["id"], "mhdoc_qian", REGISTER)
    assess = task_by_element(services.list_tasks(severe, instance_id=started.instance), "assess")
    after = services.complete(severe, assess["id"], "mhdoc_qian", assessment(1, "不稳定"))
    assert [t["element"] for t in after.tasks] == ["refer_psychiatrist"]
    assert inbox(severe, T0, "police_tian") == []
    services.complete(severe.at(T0 + timedelta(hours=2)), after.tasks[0]["id"], "psychiatrist_zheng", REFERRAL)
    [cycle] = cycles(severe, "SMI-003")
    assert cycle.wake_at == T0 + timedelta(hours=2, days=14)


# --- follow-up cycles ---------------------------------------------------------------------------

def test_each_cycle_is_a_new_instance_of_the_same_person(severe):
    first = stable_patient_due_at_t0(severe, "SMI-010")
    finish_cycle(severe, first.id, at(11, 3, 10), follow_up(0, "稳定"))

    old, new = cycles(severe, "SMI-010")
    assert old.id == first.id and new.id != first.id
    assert (old.status, old.ended_at) == ("completed", at(11, 3, 10))
    assert (new.status, new.person_id, new.org_code) == ("running", old.person_id, VILLAGE)
    assert new.parent_instance_id == old.id
    [message] = thrown_by(severe, old.id)
    assert message.delivered_to == new.id
    assert message.payload == {"person_ref": "SMI-010", "danger_level": 0, "stability": "稳定",
                               "stability_class": "stable", "next_followup_days": 90, "cycle": 2,
                               "basic_stable_streak": 0}
    assert new.wake_at == at(2, 1, 10, year=2027)                # stable again: 3 months on
    assert open_tasks(severe, new.id) == {}
    assert inbox(severe, at(11, 3, 10), "mhdoc_qian") == []


def test_medication_is_delivered_to_the_township_before_the_cycle_closes(severe):
    cycle = stable_patient_due_at_t0(severe, "SMI-011")
    tasks = open_tasks(severe, cycle.id)
    after = services.complete(severe.at(at(11, 2, 10)), tasks["doctor_followup"]["id"], "mhdoc_qian",
                              follow_up(0, "稳定", medication=True))
    deliver = task_by_element(after.tasks, "deliver_medication")
    # 县药师 within 3 working days: Mon 10:00 → Thu 5 Nov 18:00.
    assert (deliver["role"], deliver["org"], deliver["due_at"]) == ("health.pharmacist", COUNTY, at(11, 5, 18))
    assert elements(severe, at(11, 2, 10), "pharm_feng") == ["deliver_medication"]
    services.complete(severe.at(at(11, 4, 16)), deliver["id"], "pharm_feng",
                      {"drugs": "奥氮平片 10 mg × 28 片", "supply_days": 28, "delivered_on": "2026-11-04",
                       "received_by": "钱精防"})
    assert len(cycles(severe, "SMI-011")) == 1                   # the county's call is still open
    services.complete(severe.at(at(11, 5, 9)), tasks["county_check"]["id"], "guide_wu", COUNTY_CALL)
    old, new = cycles(severe, "SMI-011")
    assert (old.status, new.status) == ("completed", "running")
    assert new.wake_at == at(11, 5, 9) + timedelta(days=90)


def test_unstable_level_four_refers_within_a_working_day_and_calls_police_within_four_hours(severe):
    cycle = stable_patient_due_at_t0(severe, "SMI-012")
    tasks = open_tasks(severe, cycle.id)
    services.complete(severe.at(at(11, 2, 10)), tasks["county_check"]["id"], "guide_wu",
                      {"call_result": "unreachable", "guidance": "请乡镇当面核实。"})
    after = services.complete(severe.at(at(11, 2, 11)), tasks["doctor_followup"]["id"], "mhdoc_qian",
                              follow_up(4, "不稳定", police=True))

    urgent = {t["element"]: t for t in after.tasks}
    assert set(urgent) == {"refer_urgent", "police_notify"}
    refer, police = urgent["refer_urgent"], urgent["police_notify"]
    assert (refer["role"], refer["org"], refer["due_at"]) == ("health.psychiatrist", COUNTY, at(11, 3, 18))
    assert (police["role"], police["org"], police["due_at"]) == ("police.community_officer", VILLAGE, at(11, 2, 15))
    assert elements(severe, at(11, 2, 11), "psychiatrist_zheng") == ["refer_urgent"]
    assert elements(severe, at(11, 2, 11), "police_tian") == ["police_notify"]
    assert inbox(severe, at(11, 2, 11), "psychiatrist_bai") == []

    # Four clock hours pass: the officer is reminded (level 1) at 15:00 sharp.
    assert services.tick(severe.at(at(11, 2, 14, 59)))["escalations_raised"] == 0
    assert services.tick(severe.at(at(11, 2, 15)))["escalations_raised"] == 1
    [reminder] = actions.list_escalations(severe, org=TOWNSHIP)
    assert (reminder["task"], reminder["level"], reminder["role"], reminder["org"]) == (
        police["id"], 1, "police.community_officer", VILLAGE)
    with severe.db.unit_of_work() as session:
        assert [n["title"] for n in list_for_user(session, "police_tian")] == ["任务到期提醒"]

    services.complete(severe.at(at(11, 2, 16)), police["id"], "police_tian", POLICE)
    assert actions.list_escalations(severe, org=TOWNSHIP) == []      # resolved by completion
    services.complete(severe.at(at(11, 3, 9)), refer["id"], "psychiatrist_zheng", REFERRAL)

    old, new = cycles(severe, "SMI-012")
    assert old.status == "completed"
    [message] = thrown_by(severe, old.id)
    assert message.payload == {"person_ref": "SMI-012", "danger_level": 4, "stability": "不稳定",
                               "stability_class": "unstable", "next_followup_days": 14, "cycle": 2,
                               "basic_stable_streak": 0}
    assert new.wake_at == at(11, 17, 9)                          # next check in 14 days
    services.tick(severe.at(at(11, 17, 9)))
    again = open_tasks(severe, new.id)
    assert {e: t["due_at"] for e, t in again.items()} == {
        "doctor_followup": at(11, 24, 18), "county_check": at(11, 24, 18)}


def test_unstable_without_police_request_is_only_referred(severe):
    cycle = stable_patient_due_at_t0(severe, "SMI-013")
    tasks = open_tasks(severe, cycle.id)
    services.complete(severe, tasks["county_check"]["id"], "guide_wu", COUNTY_CALL)
    after = services.complete(severe, tasks["doctor_followup"]["id"], "mhdoc_qian",
                              follow_up(3, "不稳定", police=False))
    assert [t["element"] for t in after.tasks] == ["refer_urgent"]
    assert inbox(severe, T0, "police_tian") == []


def test_basically_stable_twice_in_a_row_is_referred_up(severe):
    first = stable_patient_due_at_t0(severe, "SMI-014")

    # Cycle 1: basically stable (level 1) → the doctor analyses and adjusts within 2 working days.
    tasks = open_tasks(severe, first.id)
    services.complete(severe.at(at(11, 2, 10)), tasks["county_check"]["id"], "guide_wu", COUNTY_CALL)
    after = services.complete(severe.at(at(11, 2, 11)), tasks["doctor_followup"]["id"], "mhdoc_qian",
                              follow_up(1, "基本稳定"))
    adjust = task_by_element(after.tasks, "adjust_treatment")
    assert (adjust["role"], adjust["org"], adjust["due_at"]) == ("health.township_mh_doctor", VILLAGE, at(11, 4, 18))
    services.complete(severe.at(at(11, 3, 9)), adjust["id"], "mhdoc_qian",
                      {"causes": ["missed_doses"], "adjustment": "督促监护人按时发药，维持原剂量。",
                       "psychiatrist_consulted": True})
    _, second = cycles(severe, "SMI-014")
    [message] = thrown_by(severe, first.id)
    assert (message.payload["stability_class"], message.payload["next_followup_days"],
            message.payload["basic_stable_streak"], message.payload["cycle"]) == ("basically_stable", 14, 1, 2)
    assert second.wake_at == at(11, 17, 9)                       # re-check in 2 weeks

    # Cycle 2: still basically stable (level 0 but symptoms) → referred up, no second adjustment.
    services.tick(severe.at(at(11, 17, 9)))
    finish_cycle(severe, second.id, at(11, 17, 11), follow_up(0, "基本稳定"))
    [refer_up] = services.list_tasks(severe, instance_id=second.id)
    assert refer_up["element"] == "refer_up"
    assert (refer_up["role"], refer_up["org"], refer_up["due_at"]) == ("health.psychiatrist", COUNTY, at(11, 24, 18))
    assert elements(severe, at(11, 17, 11), "psychiatrist_zheng") == ["refer_up"]
    assert inbox(severe, at(11, 17, 11), "mhdoc_qian") == []
    services.complete(severe.at(at(11, 18, 9)), refer_up["id"], "psychiatrist_zheng",
                      {"receiving_hospital": "绵阳市第三人民医院", "referral_result": "plan_adjusted",
                       "referral_advice": "换用阿立哌唑，两周后复查。"})
    _, _, third = cycles(severe, "SMI-014")
    [message] = thrown_by(severe, second.id)
    assert (message.payload["stability_class"], message.payload["basic_stable_streak"],
            message.payload["cycle"]) == ("basically_stable", 2, 3)
    assert third.wake_at == at(12, 2, 9)                         # referral checked within 2 weeks

    # Cycle 3: settled → the streak resets and the interval goes back to 3 months.
    services.tick(severe.at(at(12, 2, 9)))
    finish_cycle(severe, third.id, at(12, 2, 10), follow_up(0, "稳定"))
    [message] = thrown_by(severe, third.id)
    assert (message.payload["stability_class"], message.payload["basic_stable_streak"],
            message.payload["next_followup_days"]) == ("stable", 0, 90)


def test_closing_the_case_ends_management_without_a_new_cycle(severe):
    cycle = stable_patient_due_at_t0(severe, "SMI-015")
    tasks = open_tasks(severe, cycle.id)
    services.complete(severe.at(at(11, 3, 10)), tasks["doctor_followup"]["id"], "mhdoc_qian",
                      {"followup_method": "phone", "management": "结案", "closure_reason": "moved_away",
                       "closure_note": "已随子女迁居成都，档案转出。"})
    assert set(open_tasks(severe, cycle.id)) == {"county_check"}   # the county still calls
    services.complete(severe.at(at(11, 3, 11)), tasks["county_check"]["id"], "guide_wu",
                      {"call_result": "reached", "findings": "家属确认已迁居成都。"})

    [closed] = cycles(severe, "SMI-015")
    assert (closed.id, closed.status) == (cycle.id, "completed")
    assert thrown_by(severe, cycle.id) == []
    services.tick(severe.at(at(11, 3, 11) + timedelta(days=120)))
    assert len(cycles(severe, "SMI-015")) == 1


def test_missed_follow_up_escalates_to_the_county_health_supervisor(severe):
    cycle = stable_patient_due_at_t0(severe, "SMI-016")
    tasks = open_tasks(severe, cycle.id)
    doctor, county = tasks["doctor_followup"]["id"], tasks["county_check"]["id"]

    # Level 1 at the deadline (Mon 9 Nov 18:00) to the people holding each task.
    assert services.tick(severe.at(at(11, 9, 17, 59)))["escalations_raised"] == 0
    assert services.tick(severe.at(at(11, 9, 18)))["escalations_raised"] == 2
    level1 = {r["task"]: r for r in actions.list_escalations(severe, org=COUNTY)}
    assert {(r["level"], r["role"], r["org"]) for r in level1.values()} == {
        (1, "health.township_mh_doctor", VILLAGE), (1, "health.county_guidance", COUNTY)}
    assert set(level1) == {doctor, county}
    with severe.db.unit_of_work() as session:
        assert [n["title"] for n in list_for_user(session, "mhdoc_qian")] == ["任务到期提醒"]
        assert [n["title"] for n in list_for_user(session, "guide_wu")] == ["任务到期提醒"]
        assert list_for_user(session, "mhdoc_sun") == []
        assert list_for_user(session, "health_sup_jy") == []
    [late] = inbox(severe, at(11, 10, 9), "mhdoc_qian")
    assert late["remaining"]["overdue"] is True

    # Level 2 one working day later (Tue 10 Nov 18:00) to 江油市's 卫健督导.
    assert services.tick(severe.at(at(11, 10, 17, 59)))["escalations_raised"] == 0
    assert services.tick(severe.at(at(11, 10, 18)))["escalations_raised"] == 2
    level2 = [r for r in actions.list_escalations(severe, org=COUNTY) if r["level"] == 2]
    assert sorted((r["task"], r["role"], r["org"], r["raised_at"]) for r in level2) == sorted([
        (doctor, "health.supervisor", COUNTY, at(11, 10, 18)),
        (county, "health.supervisor", COUNTY, at(11, 10, 18))])
    with severe.db.unit_of_work() as session:
        titles = [n["title"] for n in list_for_user(session, "health_sup_jy")]
        assert titles == ["2 级督办：任务超期", "2 级督办：任务超期"]
        assert list_for_user(session, "health_sup_fc") == []     # 涪城区's supervisor
    assert actions.list_escalations(severe, org="510703") == []

    # The supervisor acknowledges; the late follow-up resolves both escalations of its task.
    ack = next(r for r in level2 if r["task"] == doctor)
    assert actions.acknowledge(severe.at(at(11, 11, 9)), ack["id"], "health_sup_jy", "已电话督促太平镇")["status"] == "acknowledged"
    services.complete(severe.at(at(11, 11, 10)), doctor, "mhdoc_qian", follow_up(0, "稳定"))
    open_rows = actions.list_escalations(severe, org=COUNTY)
    assert {r["task"] for r in open_rows} == {county}


def test_a_stable_patient_is_followed_up_at_least_four_times_a_year_in_small_cycles(severe):
    register(severe, "SMI-020", REGISTERED, 0, "稳定")
    year_end = REGISTERED + timedelta(days=365)
    follow_ups = []
    while True:
        current = cycles(severe, "SMI-020")[-1]
        if current.wake_at > year_end + timedelta(days=90):
            break
        services.tick(severe.at(current.wake_at))
        done_at = current.wake_at + timedelta(hours=1)
        finish_cycle(severe, current.id, done_at, follow_up(0, "稳定"))
        follow_ups.append(done_at)
    rows = cycles(severe, "SMI-020")
    started = [r.started_at for r in rows if r.started_at <= year_end]
    assert len(started) >= 5                   # cycle 1 at registration, then one per quarter
    assert len([t for t in follow_ups if t <= year_end]) >= 4     # 每年至少随访 4 次
    assert all(r.status == "completed" for r in rows[:-1]) and rows[-1].status == "running"
    assert len({r.id for r in rows}) == len(rows)
    assert {r.person_id for r in rows} == {person_id(severe, "SMI-020")}
    [message] = thrown_by(severe, rows[4].id)
    assert message.payload["cycle"] == 6

    # Continue-as-new keeps each instance's stored state the same size, cycle after cycle.
    first, fifth = rows[0], rows[4]
    assert len(fifth.state) <= len(first.state) + 300, (len(first.state), len(fifth.state))


def test_an_invalid_assessment_is_refused_naming_the_field(severe):
    register_person(severe, "SMI-030", "周某", VILLAGE)
    started = services.start_instance(severe, "severe_registration", VILLAGE, {}, person="SMI-030")
    reg = task_by_element(started.tasks, "register")
    with pytest.raises(FormInvalid) as refused:
        services.complete(severe, reg["id"], "mhdoc_qian", {**REGISTER, "guardian_phone": "12345"})
    assert "guardian_phone" in refused.value.fields
    services.complete(severe, reg["id"], "mhdoc_qian", REGISTER)
    assess = task_by_element(services.list_tasks(severe, instance_id=started.instance), "assess")
    with pytest.raises(FormInvalid) as refused:
        services.complete(severe, assess["id"], "mhdoc_qian", assessment(7, "稳定"))
    assert set(refused.value.fields) == {"danger_level"}
    assert task_by_element(services.list_tasks(severe, instance_id=started.instance), "assess")["status"] == "open"
