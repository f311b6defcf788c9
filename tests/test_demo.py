"""`carepath demo`: the demo region, every pathway in pathways/, and the cohort of
engine/demo/cohort.yaml replayed through the real services on an empty database, so that
inboxes, the escalation queue and people's journeys have content from the first login.

The cohort's times are relative to the engine clock. At the fixed "now" below (Friday
2026-11-20 10:00, an ordinary working week) the layout of cohort.yaml gives overdue tasks at
every rung of the default escalation ladder; at another "now" (the first working day after the
National Day holiday) the same cohort must load just as well.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest
import yaml
from sqlalchemy import select

from conftest import DEMO_DIRECTORY, PATHWAYS, Cli

NOW = "2026-11-20T10:00:00+08:00"                 # Friday, no holiday around it
AFTER_NATIONAL_DAY = "2026-10-08T09:00:00+08:00"  # Thursday: first working day after 1–7 October
CITY, JIANGYOU, FUCHENG = "510700", "510781", "510703"
TOWNSHIP_DOCTOR = "mhdoc_qian"                    # 太平镇's 精防医生


def pathway_ids() -> set[str]:
    return {path.stem for path in PATHWAYS.glob("*.bpmn")}


def cohort() -> list[dict]:
    from engine.demo import load_cohort
    return load_cohort()


def engine_on(url: str):
    from engine.context import EngineContext
    from engine.settings import Settings
    return EngineContext(Settings(database_url=url), now=datetime.fromisoformat(NOW))


def instances(url: str) -> list[tuple[str, str, str, int]]:
    """(person ref, pathway, status, instance id) of every instance."""
    from engine.store.models import Instance, Person
    ctx = engine_on(url)
    try:
        with ctx.db.unit_of_work() as session:
            refs = {p.id: p.ref for p in session.scalars(select(Person))}
            return [(refs.get(i.person_id), i.process_id, i.status, i.id)
                    for i in session.scalars(select(Instance).order_by(Instance.id))]
    finally:
        ctx.db.dispose()


def snapshot(cli: Cli) -> dict:
    """Everything a second `carepath demo` must leave as it was."""
    return {"tasks": cli.json("tasks", "--status", "all"),
            "escalations": cli.json("escalations", "--status", "all"),
            "pathways": sorted((p["process_id"], p["version"]) for p in cli.json("pathway", "list"))}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, databases):
    """One demo database for the module, loaded on an empty database at NOW (the loads are the
    slow part: every demo password is hashed with argon2)."""
    url, drop = databases.fresh(tmp_path_factory.mktemp("demo"))
    cli = Cli(url)
    report = cli.json("demo", "--now", NOW)
    yield cli, url, report
    drop()


# --- what the load reports and leaves behind -------------------------------------------------------

def test_demo_loads_the_region_every_pathway_and_the_cohort(demo):
    cli, url, report = demo
    directory = yaml.safe_load(DEMO_DIRECTORY.read_text(encoding="utf-8"))
    people = cohort()
    assert report["skipped"] is False
    assert report["users"] == len(directory["users"])
    assert set(report["pathways"]) == pathway_ids()
    assert {(p["process_id"], p["version"]) for p in cli.json("pathway", "list")} == {
        (pid, 1) for pid in pathway_ids()}
    assert report["people"] == len(people) >= 20
    assert people[0]["ref"] == "DEMO-0001"            # the loader's "already loaded?" marker
    rows = instances(url)
    assert report["instances"] == len(rows) > len(people)     # relief and follow-up cycles by message
    assert {ref for ref, *_ in rows} == {p["ref"] for p in people}
    assert [r for r in rows if r[2] not in ("running", "completed")] == []   # nothing in error
    open_tasks = cli.json("tasks")
    assert report["open_tasks"] == len(open_tasks) > 10
    assert report["escalations"] == len(cli.json("escalations")) > 0


def test_every_pathway_carries_people_at_different_stages(demo):
    cli, url, _ = demo
    rows = instances(url)
    statuses = {pid: Counter(status for _, p, status, _ in rows if p == pid) for pid in pathway_ids()}
    assert {pid for pid, seen in statuses.items() if not seen} == set(), "a pathway nobody is on"
    # Every pathway has work done in it (a completed task), and the demo as a whole has people
    # just started, mid-way and finished.
    done = {t["process"] for t in cli.json("tasks", "--status", "completed")}
    assert done == pathway_ids()
    assert sum(seen["completed"] for seen in statuses.values()) >= 8
    assert sum(seen["running"] for seen in statuses.values()) >= 15
    first_steps = {(t["process"], t["element"]) for t in cli.json("tasks")}
    assert {("school_screening", "screening"), ("severe_registration", "register"),
            ("community_rehab", "intake_check")} <= first_steps             # just started
    # A crisis call in progress: the county team went out, the on-site record is pending.
    crisis = [t for t in cli.json("tasks") if t["process"] == "crisis_intervention"]
    assert "onsite_intervention" in {t["element"] for t in crisis}


def test_escalation_queue_has_all_three_levels_at_county_and_city(demo):
    cli, _, _ = demo
    queue = cli.json("escalations")
    rungs = {(e["level"], e["org"]) for e in queue}
    assert {e["level"] for e in queue} == {1, 2, 3}
    # Level 2: the agency supervisor of the county (both counties) and of the city (for the city
    # mental-health centre's own overdue consult); level 3: one staffed unit up, the city.
    assert {(2, JIANGYOU), (2, FUCHENG), (2, CITY), (3, CITY)} <= rungs
    assert all(e["role"].endswith(".supervisor") for e in queue if e["level"] > 1)
    assert all(not e["role"].endswith(".supervisor") for e in queue if e["level"] == 1)
    # Every escalation is about a task that is still open and past its deadline.
    open_ids = {t["id"]: t for t in cli.json("tasks")}
    assert {e["task"] for e in queue} <= set(open_ids)
    assert all(datetime.fromisoformat(open_ids[e["task"]]["due_at"]) < datetime.fromisoformat(NOW)
               for e in queue)
    # Each county sees its own queue only; the city sees both.
    jiangyou = cli.json("escalations", "--org", JIANGYOU)
    fucheng = cli.json("escalations", "--org", FUCHENG)
    assert jiangyou and fucheng and not {e["id"] for e in jiangyou} & {e["id"] for e in fucheng}
    assert len(cli.json("escalations", "--org", CITY)) == len(queue)
    assert {e["level"] for e in jiangyou} == {1, 2}       # level 3 sits above the county
    assert {e["task"] for e in queue if e["level"] == 3} <= {e["task"] for e in jiangyou}


def test_a_township_doctors_inbox_shows_overdue_work(demo):
    cli, _, _ = demo
    inbox = cli.json("tasks", "--user", TOWNSHIP_DOCTOR, "--now", NOW)
    overdue = [t for t in inbox if t["remaining"]["overdue"]]
    assert overdue and len(overdue) < len(inbox)        # late work, and work still in time
    for task in overdue:
        assert datetime.fromisoformat(task["due_at"]) < datetime.fromisoformat(NOW)
        assert task["remaining"]["workdays"] < 0
        assert task["remaining"]["text"].startswith("已超期")
        assert task["escalation_level"] >= 1
    assert max(-t["remaining"]["workdays"] for t in overdue) >= 3     # up to level 3
    assert all(not t["remaining"]["overdue"] and t["remaining"]["workdays"] > 0
               for t in inbox if t not in overdue)


def test_relief_was_started_by_a_diagnosis_and_is_in_progress(demo):
    from engine.store.models import Message
    cli, url, _ = demo
    rows = instances(url)
    by_id = {instance: (ref, pathway) for ref, pathway, _, instance in rows}
    ctx = engine_on(url)
    try:
        with ctx.db.unit_of_work() as session:
            sent = [(m.sender_instance_id, m.delivered_to) for m in session.scalars(
                select(Message).where(Message.name == "确诊低收入患者"))]
    finally:
        ctx.db.dispose()
    reliefs = [instance for _, pathway, _, instance in rows if pathway == "relief"]
    assert reliefs and sorted(to for _, to in sent) == sorted(reliefs)
    for sender, relief in sent:   # every relief case began with the same person's diagnosis
        assert by_id[sender][1] == "diagnosis" and by_id[sender][0] == by_id[relief][0]
    running = [r for r in rows if r[1] == "relief" and r[2] == "running"]
    assert running and any(r[1] == "relief" and r[2] == "completed" for r in rows)
    in_progress = {t["element"] for t in cli.json("tasks") if t["process"] == "relief"}
    assert in_progress & {"verify_eligibility", "settlement", "approve_relief"}
    detail = cli.json("instance", str(running[0][3]))
    assert detail["data"]["person_ref"] == running[0][0] and detail["data"]["icd10_code"].startswith("F")


def test_a_severe_patient_is_in_a_later_follow_up_cycle(demo):
    cli, url, _ = demo
    cycles = Counter(ref for ref, pathway, _, _ in instances(url) if pathway == "severe_followup")
    assert cycles and max(cycles.values()) >= 3
    ref = max(cycles, key=cycles.get)
    [current] = [i for r, p, status, i in instances(url) if r == ref and p == "severe_followup"
                 and status == "running"]
    assert {t["element"] for t in cli.json("tasks", "--instance", str(current))} == {
        "doctor_followup", "county_check"}     # dual-track follow-up of the current cycle


# --- idempotence, another "now", logins ------------------------------------------------------------

def test_running_demo_again_changes_nothing(demo):
    cli, url, first = demo
    before, rows = snapshot(cli), instances(url)
    again = cli.json("demo")          # at the wall clock this time: still nothing is replayed
    assert again["skipped"] is True
    assert (again["people"], again["instances"]) == (0, 0)
    assert set(again["pathways"]) == set(first["pathways"])
    assert snapshot(cli) == before and instances(url) == rows


def test_the_cohort_loads_at_another_now(db_url):
    """The first working day after the National Day holiday: every offset lands elsewhere in the
    calendar (some steps in the holiday), and the cohort still replays."""
    cli = Cli(db_url)
    report = cli.json("demo", "--now", AFTER_NATIONAL_DAY)
    assert report["skipped"] is False and report["people"] == len(cohort())
    rows = instances(db_url)
    assert {pathway for _, pathway, _, _ in rows} == pathway_ids()
    assert [r for r in rows if r[2] not in ("running", "completed")] == []
    assert report["open_tasks"] > 10 and report["escalations"] > 0
    # The same offsets now straddle the holiday: working-day deadlines skip 1–7 October.
    inbox = cli.json("tasks", "--user", TOWNSHIP_DOCTOR, "--now", AFTER_NATIONAL_DAY)
    assert inbox and all(t["remaining"] is not None for t in inbox)
    assert not [t for t in inbox if "2026-10-01" <= t["due_at"][:10] <= "2026-10-07"]


def test_every_demo_user_can_log_in_with_the_documented_password(demo):
    from engine.demo import PASSWORD
    from engine.directory import verify_password
    from engine.store.directory import get_user
    _, url, _ = demo
    users = yaml.safe_load(DEMO_DIRECTORY.read_text(encoding="utf-8"))["users"]
    assert PASSWORD == "carepath-demo"
    assert {u["password"] for u in users} == {PASSWORD}
    assert "carepath-demo" in DEMO_DIRECTORY.read_text(encoding="utf-8").split("users:")[0]  # documented
    ctx = engine_on(url)
    try:
        with ctx.db.unit_of_work() as session:
            hashes = {u["username"]: get_user(session, u["username"]).password_hash for u in users}
    finally:
        ctx.db.dispose()
    assert all(h.startswith("$argon2") for h in hashes.values())        # stored hashed, not plain
    refused = [name for name, h in hashes.items() if not verify_password(h, PASSWORD)]
    assert refused == []
    assert not verify_password(hashes["mhdoc_qian"], "carepath-dem0")


# --- one time line: sweeps at their own moments; bad cohorts refused with person and step -------

def test_escalations_are_raised_at_their_own_moments_not_at_the_next_step(demo):
    """The replay sweeps whenever something fell due, as a running engine would: every level-1
    reminder is raised exactly at its task's deadline, even when nobody acted for days after."""
    cli, _, _ = demo
    due = {t["id"]: t["due_at"] for t in cli.json("tasks")}
    first_rungs = [e for e in cli.json("escalations") if e["level"] == 1]
    assert len(first_rungs) >= 8
    assert [(e["task"], e["raised_at"]) for e in first_rungs] == [
        (e["task"], due[e["task"]]) for e in first_rungs]


def write_cohort(path, people):
    path.write_text(yaml.safe_dump({"people": people}, allow_unicode=True), encoding="utf-8")
    return path


SCREENING = {"student_birth_date": "2010-04-12", "grade": "g10", "screening_date": "2026-11-17",
             "phq9_score": 3, "phq9_item9": 0}
PERSON = {"ref": "T-1", "name": "测试甲", "org": "510781001001", "pathway": "school_screening",
          "started": "3d"}


def test_a_cohort_out_of_order_or_in_the_future_is_refused_before_anything_is_written(region, tmp_path):
    from engine.demo import load_demo
    from engine.errors import InvalidInput
    from engine.store.models import Person
    cases = [
        ([{**PERSON, "steps": [{"task": "screening", "user": "teacher_wang", "at": "4d", "data": SCREENING}]}],
         "T-1 第 1 步 screening"),                                     # before the start
        ([{**PERSON, "started": "-2d"}], "'-2d' 在“现在”之后"),
        ([PERSON, {**PERSON, "ref": "T-2", "steps": [{"task": "screening", "at": "1d"}]}],
         "T-2 第 1 步：需要 task、user 和 at"),
    ]
    for number, (people, message) in enumerate(cases):
        with pytest.raises(InvalidInput, match=message):
            load_demo(region, PATHWAYS, write_cohort(tmp_path / f"bad{number}.yaml", people))
    with region.db.unit_of_work() as session:
        assert session.scalars(select(Person)).all() == []


def test_a_failing_step_names_the_person_and_a_rerun_reports_the_half_load(region, tmp_path):
    from engine.demo import load_demo
    from engine.errors import InvalidInput
    people = [
        {**PERSON, "steps": [{"task": "screening", "user": "teacher_wang", "at": "2d", "data": SCREENING}]},
        {**PERSON, "ref": "T-2", "name": "测试乙", "started": "2d",
         "steps": [{"task": "screening", "user": "teacher_li", "at": "1d", "data": SCREENING}]},
    ]
    cohort = write_cohort(tmp_path / "cohort.yaml", people)
    with pytest.raises(InvalidInput) as failed:
        load_demo(region, PATHWAYS, cohort)
    # teacher_li teaches in 中坝镇, not at 太平村: the step is refused, and the message says whose.
    assert "演示数据 T-2 第 1 步 screening（teacher_li）" in str(failed.value)
    with pytest.raises(InvalidInput, match="上次未载入完成"):
        load_demo(region, PATHWAYS, cohort)          # not skipped, not loaded twice


def test_unquoted_yaml_dates_in_step_data_reach_the_form_as_strings(region, tmp_path):
    from engine.demo import load_demo
    people = [{**PERSON, "steps": [{"task": "screening", "user": "teacher_wang", "at": "2d",
                                    "data": {**SCREENING, "screening_date": date(2026, 11, 18)}}]}]
    report = load_demo(region, PATHWAYS, write_cohort(tmp_path / "cohort.yaml", people))
    assert (report.people, report.skipped) == (1, False)
    assert load_demo(region, PATHWAYS, tmp_path / "cohort.yaml").skipped is True
