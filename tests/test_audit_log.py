"""The audit log as it is read: who may read which rows (a pure rule, tested alone), the same
rule applied by the SQL itself on real rows of two counties, the entries' shape and filters, the
CSV and JSON exports (themselves audited), and rows that cannot be changed or deleted."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from engine import audit as audit_log
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.people import register_person
from engine.privacy.services import break_glass
from engine.runtime import services
from engine.store import audit as audit_repo
from engine.store.directory import user_grants
from engine.store.audit import AuditEvent
from engine.store.models import Membership, OrgUnit, Person, User

from conftest import SHANGHAI, deploy_pathways
from pathway_steps import inbox_task

TAIPING_VILLAGE = "510781001001"      # 江油市 太平镇 太平村
DONGJIE = "510703001001"              # 涪城区 城厢街道 东街社区
SCREENING = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
             "phq9_score": 4, "phq9_item9": 0}

PROVINCE = "/510000/"
CITY = "/510000/510700/"
JIANGYOU = "/510000/510700/510781/"
TAIPING = "/510000/510700/510781/510781001/"
FUCHENG = "/510000/510700/510703/"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


# --- the rule, alone -------------------------------------------------------------------------------

def test_a_supervisor_reads_rows_about_people_below_their_units():
    county = [("health.supervisor", JIANGYOU)]
    assert audit_log.can_read_audit(county, TAIPING + "510781001001/", [])
    assert audit_log.can_read_audit(county, JIANGYOU, [])
    assert not audit_log.can_read_audit(county, FUCHENG + "510703001/510703001001/", [])
    assert not audit_log.can_read_audit(county, CITY, [])                   # the city is above the county
    # whoever acted: a row about a person is read by the person's place, not the actor's
    assert not audit_log.can_read_audit(county, FUCHENG, [JIANGYOU])
    # any agency's supervisor; the same unit held with another role gives nothing
    assert audit_log.can_read_audit([("civil.supervisor", JIANGYOU)], TAIPING, [])
    assert not audit_log.can_read_audit([("health.psychiatrist", JIANGYOU)], TAIPING, [])
    assert not audit_log.can_read_audit([], TAIPING, [TAIPING])
    mixed = [("health.family_doctor", JIANGYOU), ("education.supervisor", FUCHENG)]
    assert not audit_log.can_read_audit(mixed, TAIPING, [])
    assert audit_log.can_read_audit(mixed, FUCHENG + "510703001/", [])
    # a prefix of the code is not a unit above it
    assert not audit_log.can_read_audit([("health.supervisor", "/510000/510700/51078/")], JIANGYOU, [])


def test_rows_about_no_one_are_read_by_where_the_actor_works():
    county = [("health.supervisor", JIANGYOU)]
    assert audit_log.can_read_audit(county, None, [TAIPING])
    assert audit_log.can_read_audit(county, None, [FUCHENG, TAIPING])      # one membership below is enough
    assert not audit_log.can_read_audit(county, None, [CITY])              # a city analyst's deploy
    assert not audit_log.can_read_audit(county, None, [FUCHENG])
    assert not audit_log.can_read_audit(county, None, [])                  # unknown or absent actor
    assert audit_log.can_read_audit([("health.supervisor", PROVINCE)], None, [CITY])


# --- real rows of two counties -----------------------------------------------------------------------

def two_counties(region) -> dict:
    """A city analyst deploys the school screening; 张一 of 太平村 (江油市) and 李二 of 东街社区
    (涪城区) are registered and screened by their teachers (claim, complete); an expert and a
    psychiatrist read their records; sign-ins of both teachers and of someone unknown; a 江油
    psychiatrist breaks the glass on 李二 (涪城) on 5 Nov (ended) and on 12 Nov (open at 09:00),
    and one on 张一 on 1 Oct (too old for the panel). Returns the people by ref."""
    deploy_pathways(region, "school_screening")
    with region.db.unit_of_work() as session:        # the deploy, as the city's analyst did it
        audit_repo.append(session, nov(2, 8), "analyst_xu", "pathway_deployed", target="pathway:school_screening",
                          process_id="school_screening", version=1)
    people = {}
    for ref, name, village, teacher, day in (("S-1", "张一", TAIPING_VILLAGE, "teacher_wang", 2),
                                             ("F-1", "李二", DONGJIE, "teacher_song", 3)):
        at = region.at(nov(day, 9))
        people[ref] = register_person(at, ref, name, village, gender="男", birth_date="2010-12-15", actor=teacher)
        services.start_instance(at, "school_screening", village, person=ref)
        task = inbox_task(region, nov(day, 10), teacher, "screening")
        services.claim(region.at(nov(day, 10)), task["id"], teacher)
        services.complete(region.at(nov(day, 10, 30)), task["id"], teacher, SCREENING)
    with region.db.unit_of_work() as session:
        for at, actor, action, ref, detail in (
                (nov(4, 9), "expert_chen", "read", "S-1", {"tiers": ["basic", "clinical"], "basis": {"basic": "role"}}),
                (nov(4, 9, 5), "psychiatrist_bai", "read", "F-1", {"tiers": ["basic", "clinical"]}),
                (nov(4, 8), "teacher_wang", "login", None, {}),
                (nov(4, 8, 1), "teacher_song", "login", None, {}),
                (nov(4, 8, 2), "nobody", "login_failed", None, {})):
            person_id = people[ref]["id"] if ref else None
            target = f"person:{person_id}" if ref else None
            audit_repo.append(session, at, actor, action, person_id=person_id, target=target, **detail)
    break_glass(region.at(datetime(2026, 10, 1, 9, tzinfo=SHANGHAI)), people["S-1"]["id"], "psychiatrist_zheng",
                "十月的一次紧急会诊需要病史")
    break_glass(region.at(nov(5, 10)), people["F-1"]["id"], "psychiatrist_zheng", "夜间急诊转入，需要查看既往病史")
    break_glass(region.at(nov(12, 8, 30)), people["F-1"]["id"], "psychiatrist_zheng", "复诊前再次核对用药记录")
    return people


def all_rows(ctx) -> list[tuple[AuditEvent, str | None, list[str]]]:
    """Every audit row with its person's org path and its actor's membership paths."""
    with ctx.db.unit_of_work() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        paths = dict(session.execute(
            select(Person.id, OrgUnit.path).join(OrgUnit, OrgUnit.code == Person.org_code)).all())
        memberships: dict[str, list[str]] = {}
        for username, path in session.execute(select(User.username, OrgUnit.path)
                                              .join(Membership, Membership.user_id == User.id)
                                              .join(OrgUnit, OrgUnit.code == Membership.org_code)):
            memberships.setdefault(username, []).append(path)
        return [(row, paths.get(row.person_id), memberships.get(row.actor, [])) for row in rows]


SUPERVISORS = {"health_sup_jy": JIANGYOU, "health_sup_fc": FUCHENG, "civil_sup_fc": FUCHENG,
               "health_sup_city": CITY, "health_sup_prov": PROVINCE}


def test_the_scoped_query_gives_exactly_the_rows_the_rule_allows(region):
    two_counties(region)
    rows = all_rows(region)
    assert len(rows) >= 15 and {"read", "login", "login_failed", "break_glass", "task_completed",
                               "person_registered", "pathway_deployed"} <= {row.action for row, _, _ in rows}
    for username, path in SUPERVISORS.items():
        with region.db.unit_of_work() as session:
            grants = user_grants(session, username)
        assert audit_log.audit_paths(grants) == [path]
        expected = [row.id for row, person_path, actor_paths in rows
                    if audit_log.can_read_audit(grants, person_path, actor_paths)]
        seen = [e["id"] for e in audit_log.audit_entries(region, scope_username=username)]
        assert seen == expected, username
    everything = [row.id for row, _, _ in rows]
    province = {e["id"] for e in audit_log.audit_entries(region, scope_username="health_sup_prov")}
    assert {row.actor for row, _, _ in rows if row.id not in province} == {"nobody"}   # no membership anywhere
    assert [e["id"] for e in audit_log.audit_entries(region)] == everything      # the console reads everything


def test_a_county_supervisor_never_sees_the_other_county(region):
    two_counties(region)
    jiangyou = audit_log.audit_entries(region, scope_username="health_sup_jy")
    fucheng = audit_log.audit_entries(region, scope_username="health_sup_fc")
    assert {e["person_name"] for e in jiangyou} == {"张一", None}
    assert {e["person_name"] for e in fucheng} == {"李二", None}
    assert {e["actor"] for e in jiangyou if e["person_id"] is None} == {"teacher_wang"}   # registered, signed in
    assert {e["actor"] for e in fucheng if e["person_id"] is None} == {"teacher_song"}
    # the 江油 psychiatrist's break-glass on 李二 is 涪城's to see, not 江油's
    assert [e["action"] for e in fucheng if e["actor"] == "psychiatrist_zheng"] == ["break_glass", "break_glass"]
    assert not [e for e in jiangyou if e["actor"] == "psychiatrist_zheng" and e["person_name"] == "李二"]
    city = audit_log.audit_entries(region, scope_username="health_sup_city")
    assert {"张一", "李二"} <= {e["person_name"] for e in city}
    assert "analyst_xu" in {e["actor"] for e in city} and "analyst_xu" not in {e["actor"] for e in jiangyou}
    # filtering by the other county's person gives nothing, never its rows
    assert audit_log.audit_entries(region, scope_username="health_sup_jy", person="F-1") == []
    with pytest.raises(PermissionDenied):
        audit_log.audit_entries(region, scope_username="teacher_wang")


def test_entries_have_their_shape_and_filters(region):
    people = two_counties(region)
    [registered] = audit_log.audit_entries(region, actions=["person_registered"], user="teacher_wang")
    assert set(registered) == {"id", "at", "actor", "actor_name", "action", "action_label", "person_id",
                               "person_ref", "person_name", "target", "origin", "detail"}
    assert (registered["actor_name"], registered["action_label"], registered["person_name"]) == ("王老师", "登记服务对象", None)
    assert registered["at"] == nov(2, 9) and registered["at"].utcoffset() == timedelta(hours=8)
    assert registered["detail"] == {"person": "S-1", "org": TAIPING_VILLAGE}

    by_ref = audit_log.audit_entries(region, person="S-1")
    assert by_ref == audit_log.audit_entries(region, person=people["S-1"]["id"])
    assert [e["action"] for e in by_ref if e["actor"] == "teacher_wang"] == \
        ["task_claimed", "task_completed", "instance_completed"]     # a low score ends the screening
    assert {(e["person_ref"], e["person_name"]) for e in by_ref} == {("S-1", "张一")}
    completed = next(e for e in by_ref if e["action"] == "task_completed")
    assert completed["target"].startswith("task:") and completed["action_label"] == "完成任务"

    reads = audit_log.audit_entries(region, actions=["read", "break_glass"])
    assert [(e["actor"], e["action"], e["person_ref"]) for e in reads] == [
        ("expert_chen", "read", "S-1"), ("psychiatrist_bai", "read", "F-1"),
        ("psychiatrist_zheng", "break_glass", "S-1"), ("psychiatrist_zheng", "break_glass", "F-1"),
        ("psychiatrist_zheng", "break_glass", "F-1")]

    day = audit_log.audit_entries(region, since=nov(4, 0), until=nov(5, 0))
    assert {e["action"] for e in day} == {"read", "login", "login_failed"}
    newest = audit_log.audit_entries(region, newest_first=True, limit=2)
    assert [e["id"] for e in newest] == sorted((e["id"] for e in audit_log.audit_entries(region)), reverse=True)[:2]
    assert audit_log.audit_entries(region, user="nobody")[0]["actor_name"] is None
    with pytest.raises(NotFound, match="X-404"):
        audit_log.audit_entries(region, person="X-404")
    assert audit_log.action_label("something_new") == "something_new"
    assert all(zh and en for zh, en in audit_log.ACTION_LABELS.values())


def test_day_bounds_take_both_days_whole_in_the_deployment_time_zone(region):
    since, until = audit_log.day_bounds(region, "2026-11-04", "2026-11-04")
    assert (since, until) == (nov(4, 0), nov(5, 0))
    assert audit_log.day_bounds(region, None, "") == (None, None)
    assert audit_log.day_bounds(region, "2026-11-04T08:01:00", None)[0] == nov(4, 8, 1)
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        audit_log.day_bounds(region, "04/11/2026", None)


# --- exports -----------------------------------------------------------------------------------------

def test_the_csv_export_opens_in_excel_and_is_itself_audited(region):
    two_counties(region)
    document = audit_log.export_entries(region.at(nov(12, 9)), "csv", actor="health_sup_jy",
                                        scope_username="health_sup_jy", person="S-1")
    assert document.startswith("\ufeff")
    assert document.encode("utf-8")[:3] == b"\xef\xbb\xbf"
    table = list(csv.reader(io.StringIO(document[1:])))
    assert table[0] == ["id", "时间", "操作人", "操作", "服务对象", "对象", "来源", "详情"]
    rows = table[1:]
    assert rows and all(row[4] == "张一（S-1）" for row in rows)
    claimed = next(row for row in rows if row[3] == "认领任务")
    assert claimed[1] == "2026-11-02 10:00:00" and claimed[2] == "王老师（teacher_wang）"
    read = next(row for row in rows if row[3] == "查看记录")
    assert json.loads(read[7]) == {"basis": {"basic": "role"}, "tiers": ["basic", "clinical"]}

    [exported] = audit_log.audit_entries(region, actions=["audit_exported"])
    assert (exported["actor"], exported["person_id"], exported["at"]) == ("health_sup_jy", None, nov(12, 9))
    assert exported["detail"] == {"filters": {"person": "S-1"}, "count": len(rows), "format": "csv"}


def test_csv_cells_are_never_formulas(region):
    two_counties(region)
    with region.db.unit_of_work() as session:
        audit_repo.append(session, nov(6, 9), "teacher_wang", "read", target="=HYPERLINK(\"http://x\")")
    document = audit_log.export_entries(region, "csv", actions=["read"], user="teacher_wang")
    [row] = list(csv.reader(io.StringIO(document[1:])))[1:]
    assert row[5] == "'=HYPERLINK(\"http://x\")"


def test_the_json_export_and_its_limit(region):
    two_counties(region)
    document = audit_log.export_entries(region, "json", actor="health_sup_fc", scope_username="health_sup_fc")
    entries = json.loads(document)
    assert {e["person_name"] for e in entries} == {"李二", None}
    assert all(datetime.fromisoformat(e["at"]).utcoffset() == timedelta(hours=8) for e in entries)
    before = len(audit_log.audit_entries(region))
    with pytest.raises(InvalidInput, match="超过 3 条"):
        audit_log.export_entries(region, "json", actor="health_sup_fc", scope_username="health_sup_fc", max_rows=3)
    assert len(audit_log.audit_entries(region)) == before          # a refused export wrote nothing
    with pytest.raises(PermissionDenied):
        audit_log.export_entries(region, "csv", actor="teacher_song", scope_username="teacher_song")


# --- append-only -------------------------------------------------------------------------------------

def test_audit_rows_cannot_be_updated_or_deleted(region):
    two_counties(region)
    with region.db.unit_of_work() as session:
        count = len(session.scalars(select(AuditEvent)).all())
    with pytest.raises(DatabaseError, match="append-only"):
        with region.db.unit_of_work() as session:
            session.execute(update(AuditEvent).where(AuditEvent.action == "break_glass").values(actor="someone_else"))
    with pytest.raises(DatabaseError, match="append-only"):
        with region.db.unit_of_work() as session:
            session.execute(delete(AuditEvent).where(AuditEvent.actor == "psychiatrist_zheng"))
    with region.db.unit_of_work() as session:
        assert len(session.scalars(select(AuditEvent)).all()) == count
        assert session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "break_glass").limit(1)) == \
            "psychiatrist_zheng"
