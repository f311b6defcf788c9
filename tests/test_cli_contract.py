"""The command-line contract other tools rely on: names, JSON shapes, --now and CAREPATH_NOW,
times in the deployment time zone with their offset, clear refusals."""
from __future__ import annotations

from datetime import datetime

from conftest import BPMN

TOWNSHIP_A = "510781001"
TASK_KEYS = {"id", "instance", "name", "element", "role", "org", "status", "assignee", "due_at"}


def test_start_tasks_claim_complete_tick_round_trip(cli):
    deployed = cli.json("pathway", "deploy", str(BPMN / "school_screening.bpmn"), "--comment", "v1")
    assert [(d["process_id"], d["version"], d["changed"]) for d in deployed] == [("school_screening", 1, True)]

    started = cli.json("start", "school_screening", "--org", TOWNSHIP_A, "--data", '{"student": "S1"}',
                       "--now", "2026-11-02T09:00:00+08:00")
    assert set(started) >= {"instance", "status", "tasks"} and started["status"] == "running"
    instance = started["instance"]

    listed = cli.json("tasks", "--instance", str(instance))
    assert len(listed) == 1 and TASK_KEYS <= set(listed[0])
    screen = listed[0]
    assert (screen["element"], screen["role"], screen["org"], screen["status"], screen["assignee"]) == \
        ("screen", "education.teacher", TOWNSHIP_A, "open", None)

    claimed = cli.json("claim", str(screen["id"]), "--user", "teacher_a")
    assert (claimed["status"], claimed["assignee"]) == ("claimed", "teacher_a")
    assert cli.json("tasks", "--user", "teacher_county") == []   # claimed by someone else
    released = cli.json("release", str(screen["id"]), "--user", "teacher_a")
    assert released["status"] == "open"

    done = cli.json("complete", str(screen["id"]), "--user", "teacher_a", "--data", '{"score": 12}',
                    "--now", "2026-11-02T10:00:00+08:00")
    consult = [t for t in done["tasks"] if t["element"] == "consult"][0]
    # P2D from 10:00 Shanghai, printed in the deployment time zone with its offset.
    assert consult["due_at"] == "2026-11-04T10:00:00+08:00"
    assert datetime.fromisoformat(consult["due_at"]).utcoffset().total_seconds() == 8 * 3600

    by_role = cli.json("tasks", "--role", "health.mh_center_expert", "--org", "510700")
    assert [t["id"] for t in by_role] == [consult["id"]]
    completed = cli.json("tasks", "--instance", str(instance), "--status", "completed")
    assert [t["element"] for t in completed] == ["screen"]

    quiet = cli.json("tick", "--now", "2026-11-04T10:00:00+08:00")
    assert quiet["timers_fired"] == 0
    fired = cli.json("tick", env={"CAREPATH_NOW": "2026-11-05T10:00:00+08:00"})
    assert fired["timers_fired"] == 1 and fired["now"] == "2026-11-05T10:00:00+08:00"
    assert cli.json("tick", "--now", "2026-11-05T10:00:00+08:00")["timers_fired"] == 0

    detail = cli.json("instance", str(instance))
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds[:2] == ["instance_started", "task_created"] and "timer_fired" in kinds


def test_refusals_are_one_clear_line(cli):
    missing = cli.run("start", "nope", "--org", TOWNSHIP_A, check=False)
    assert missing.returncode == 1 and "nope" in missing.stderr and "Traceback" not in missing.stderr
    cli.run("pathway", "deploy", str(BPMN / "school_screening.bpmn"))
    bad_org = cli.run("start", "school_screening", "--org", "999", check=False)
    assert bad_org.returncode == 1 and "999" in bad_org.stderr
    bad_json = cli.run("start", "school_screening", "--org", TOWNSHIP_A, "--data", "{oops", check=False)
    assert bad_json.returncode == 2 and "--data" in bad_json.stderr
    bad_var = cli.run("start", "school_screening", "--org", TOWNSHIP_A, "--data", '{"__class__": 1}', check=False)
    assert bad_var.returncode == 1 and "__class__" in bad_var.stderr
    bad_now = cli.run("tick", "--now", "yesterday", check=False)
    assert bad_now.returncode == 2 and "yesterday" in bad_now.stderr
    gone = cli.run("complete", "424242", "--user", "teacher_a", check=False)
    assert gone.returncode == 1 and "424242" in gone.stderr


def test_init_is_idempotent(cli):
    first = cli.json("init")
    second = cli.json("init")
    assert first == second and first["schema_version"] >= 1


def test_inbox_shows_remaining_working_time(cli):
    cli.run("pathway", "deploy", str(BPMN / "scored_referral.bpmn"))
    started = cli.json("start", "scored_referral", "--org", TOWNSHIP_A, "--now", "2026-09-18T10:00:00+08:00")
    cli.json("complete", str(started["tasks"][0]["id"]), "--user", "doctor_a", "--data", '{"phq9": 1}',
             "--now", "2026-09-18T10:00:00+08:00")
    inbox = cli.json("tasks", "--user", "doctor_a", "--now", "2026-09-20T11:00:00+08:00")
    assert [(t["element"], t["remaining"]["text"]) for t in inbox] == [("follow_up", "还剩 1 个工作日")]
    late = cli.json("tasks", "--user", "doctor_a", "--now", "2026-09-22T09:00:00+08:00")
    assert late[0]["remaining"]["overdue"] is True
