"""`carepath audit` on real rows: what the teacher did through the command line (register,
claim, complete a school screening) and what others' services log (reads, sign-ins,
break-glass), filtered by person, user, action and dates; JSON lines, CSV and the table, each
reading itself audited; clear refusals."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest

from engine.context import EngineContext
from engine.settings import Settings
from engine.store import audit as audit_repo

from conftest import BPMN, SHANGHAI

TOWNSHIP_A = "510781001"
ENTRY_KEYS = {"id", "at", "actor", "actor_name", "action", "action_label", "person_id", "person_ref",
              "person_name", "target", "origin", "detail"}


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def logged(cli, db_url):
    """张一 (S-1, 太平镇) registered by 王老师, who claims and completes the screening on Mon 2 Nov;
    on Tue 3 Nov, from the web: 王老师 signs in, 冯医生 reads 李二 (F-1, 涪城区) and 周医生 breaks
    the glass on him. Returns the people's ids by ref."""
    cli.run("pathway", "deploy", str(BPMN / "school_screening.bpmn"), "--comment", "v1")
    people = {}
    for ref, name, org, user in (("S-1", "张一", TOWNSHIP_A, "teacher_a"), ("F-1", "李二", "510703001", "fc_doctor")):
        people[ref] = cli.json("person", "register", ref, "--name", name, "--org", org, "--user", user,
                               "--now", "2026-11-02T09:00:00+08:00")["id"]
    started = cli.json("start", "school_screening", "--org", TOWNSHIP_A, "--person", "S-1", "--data",
                       '{"student": "S1"}', "--now", "2026-11-02T09:30:00+08:00")
    [screen] = started["tasks"]
    cli.run("claim", str(screen["id"]), "--user", "teacher_a", "--now", "2026-11-02T10:00:00+08:00")
    cli.run("complete", str(screen["id"]), "--user", "teacher_a", "--data", '{"score": 12}',
            "--now", "2026-11-02T10:30:00+08:00")
    ctx = EngineContext(Settings(database_url=db_url))
    token = audit_repo.ORIGIN.set("web 10.0.0.7")
    try:
        with ctx.db.unit_of_work() as session:
            def at(hour: int) -> datetime:
                return datetime(2026, 11, 3, hour, tzinfo=SHANGHAI)
            audit_repo.append(session, at(8), "teacher_a", "login")
            audit_repo.append(session, at(9), "fc_doctor", "read", person_id=people["F-1"],
                              target=f"person:{people['F-1']}", tiers=["basic", "clinical"], basis={"basic": "role"})
            audit_repo.append(session, at(10), "doctor_a", "break_glass", person_id=people["F-1"],
                              target=f"person:{people['F-1']}", reason="急诊转入，需要查看既往病史")
    finally:
        audit_repo.ORIGIN.reset(token)
        ctx.db.dispose()
    return people


def test_json_lines_carry_who_when_what_and_from_where(cli, logged):
    rows = lines(cli.run("audit", "--json", "--now", "2026-11-04T09:00:00+08:00"))
    assert rows and all(set(row) == ENTRY_KEYS for row in rows)
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("teacher_a", "person_registered"), ("fc_doctor", "person_registered"),
        ("teacher_a", "task_claimed"), ("teacher_a", "task_completed"),
        ("teacher_a", "task_created"),                                     # the consult her completion made
        ("teacher_a", "login"), ("fc_doctor", "read"), ("doctor_a", "break_glass")]
    claimed = rows[2]
    assert claimed["at"] == "2026-11-02T10:00:00+08:00" and claimed["origin"] == "cli"
    assert (claimed["actor_name"], claimed["action_label"]) == ("王老师", "认领任务")
    assert (claimed["person_id"], claimed["person_ref"], claimed["person_name"]) == (logged["S-1"], "S-1", "张一")
    assert claimed["target"].startswith("task:")
    read = rows[6]
    assert read["origin"] == "web 10.0.0.7"
    assert read["detail"] == {"tiers": ["basic", "clinical"], "basis": {"basic": "role"}}
    assert rows[0]["person_id"] is None and rows[0]["detail"] == {"person": "S-1", "org": TOWNSHIP_A}
    # the reading itself was logged, from the console, at the engine clock
    [exported] = lines(cli.run("audit", "--json", "--action", "audit_exported"))
    assert (exported["actor"], exported["origin"], exported["at"]) == (None, "cli", "2026-11-04T09:00:00+08:00")
    assert exported["detail"] == {"filters": {}, "count": 8, "format": "json"}


def test_filters_by_person_user_action_and_dates(cli, logged):
    by_ref = lines(cli.run("audit", "--person", "S-1", "--json"))
    assert [r["action"] for r in by_ref] == ["task_claimed", "task_completed", "task_created"]
    assert lines(cli.run("audit", "--person", str(logged["S-1"]), "--json")) == by_ref
    assert [r["action"] for r in lines(cli.run("audit", "--person", "F-1", "--json"))] == ["read", "break_glass"]

    assert [r["action"] for r in lines(cli.run("audit", "--user", "teacher_a", "--json"))] == \
        ["person_registered", "task_claimed", "task_completed", "task_created", "login"]
    assert lines(cli.run("audit", "--user", "someone_else", "--json")) == []

    repeated = lines(cli.run("audit", "--action", "read", "--action", "break_glass", "--json"))
    assert [r["actor"] for r in repeated] == ["fc_doctor", "doctor_a"]
    assert lines(cli.run("audit", "--action", "read,break_glass", "--json")) == repeated

    tuesday = lines(cli.run("audit", "--since", "2026-11-03", "--until", "2026-11-03", "--json"))
    assert [r["action"] for r in tuesday] == ["login", "read", "break_glass"]
    monday = lines(cli.run("audit", "--until", "2026-11-02", "--json"))
    assert {r["at"][:10] for r in monday} == {"2026-11-02"} and len(monday) == 5
    assert [r["action"] for r in lines(cli.run("audit", "--since", "2026-11-03T08:30:00", "--user", "teacher_a",
                                               "--json"))] == []

    latest = lines(cli.run("audit", "--action", "task_claimed,task_completed,login,read", "--limit", "2", "--json"))
    assert [r["action"] for r in latest] == ["login", "read"]                # the latest two, oldest first


def test_the_table_and_the_csv(cli, logged):
    table = cli.run("audit", "--person", "S-1").stdout.splitlines()
    assert table[0].split("\t") == ["编号", "时间", "操作人", "操作", "服务对象", "对象", "来源", "详情"]
    claimed = table[1].split("\t")
    assert claimed[1:5] == ["2026-11-02 10:00:00", "王老师（teacher_a）", "认领任务", "张一（S-1）"] and claimed[6] == "cli"
    assert len(table) == 4
    assert cli.run("audit", "--user", "someone_else").stdout.strip() == "（无审计记录）"

    result = cli.run("audit", "--person", "F-1", "--csv")
    assert result.stdout.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(result.stdout[1:])))
    assert rows[0] == ["id", "时间", "操作人", "操作", "服务对象", "对象", "来源", "详情"]
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows[1:]] == [
        ("2026-11-03 09:00:00", "冯医生（fc_doctor）", "查看记录", "李二（F-1）", "web 10.0.0.7"),
        ("2026-11-03 10:00:00", "周医生（doctor_a）", "紧急查看", "李二（F-1）", "web 10.0.0.7")]
    assert json.loads(rows[2][7]) == {"reason": "急诊转入，需要查看既往病史"}
    audited = lines(cli.run("audit", "--action", "audit_viewed,audit_exported", "--json"))
    assert [(r["action"], r["detail"].get("format"), r["detail"]["filters"].get("person")) for r in audited] == [
        ("audit_viewed", None, "S-1"), ("audit_viewed", None, None), ("audit_exported", "csv", "F-1")]


def test_refusals_are_one_clear_line(cli, logged):
    unknown = cli.run("audit", "--person", "X-404", check=False)
    assert unknown.returncode == 1 and "X-404" in unknown.stderr and "Traceback" not in unknown.stderr
    assert unknown.stdout == ""
    bad_date = cli.run("audit", "--since", "3 Nov", check=False)
    assert bad_date.returncode == 2 and "3 Nov" in bad_date.stderr
    both = cli.run("audit", "--json", "--csv", check=False)
    assert both.returncode == 2 and "--csv" in both.stderr
    assert cli.run("audit", "--limit", "0", check=False).returncode == 2
