"""The escalation policy is declarative and kept apart from the BPMN: ladders per pathway and
task, an override in the task's camunda:properties, strict validation of the file."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.context import EngineContext
from engine.escalation import actions
from engine.escalation.policy import PolicyError, parse_policy
from engine.pathways import deploy_files
from engine.runtime import services
from engine.settings import Settings

from conftest import BPMN, DATA, T0, task_by_element


@pytest.fixture
def with_policy(ctx):
    engine = EngineContext(Settings(database_url=ctx.settings.database_url,
                                    escalation_policy=str(DATA / "escalation-policy.yaml")), now=T0, db=ctx.db)
    deploy_files(engine, [BPMN / "scored_referral.bpmn"])
    return engine


def test_task_override_uses_the_urgent_hours_ladder(with_policy):
    started = services.start_instance(with_policy, "scored_referral", "510781001", {})
    assert started.tasks[0]["element"] == "assess"
    refer = task_by_element(services.complete(with_policy, started.tasks[0]["id"], "doctor_a",
                                              {"phq9": 20}).tasks, "refer")
    assert refer["due_at"] == T0 + timedelta(hours=4)             # PT4H
    services.tick(with_policy.at(T0 + timedelta(hours=5, minutes=59)))
    assert [r["level"] for r in actions.list_escalations(with_policy)] == [1]
    services.tick(with_policy.at(T0 + timedelta(hours=6)))
    assert sorted(r["level"] for r in actions.list_escalations(with_policy)) == [1, 2]
    services.tick(with_policy.at(T0 + timedelta(days=10)))
    assert sorted(r["level"] for r in actions.list_escalations(with_policy)) == [1, 2]   # ladder ends


def test_none_means_no_escalation(with_policy):
    services.start_instance(with_policy, "scored_referral", "510781001", {})
    services.tick(with_policy.at(T0 + timedelta(days=30)))
    assert actions.list_escalations(with_policy, status="all") == []


def test_camunda_property_overrides_the_file(with_policy, tmp_path):
    text = (BPMN / "scored_referral.bpmn").read_text(encoding="utf-8").replace(
        '<bpmn:userTask id="follow_up" name="常规随访" camunda:candidateGroups="health.family_doctor" camunda:dueDate="workdays(2)"/>',
        '<bpmn:userTask id="follow_up" name="常规随访" camunda:candidateGroups="health.family_doctor" camunda:dueDate="workdays(2)">'
        '<bpmn:extensionElements><camunda:properties><camunda:property name="escalation" value="urgent"/>'
        '</camunda:properties></bpmn:extensionElements></bpmn:userTask>')
    assert "escalation" in text
    path = tmp_path / "scored_referral.bpmn"
    path.write_text(text, encoding="utf-8")
    deploy_files(with_policy, [path])
    started = services.start_instance(with_policy, "scored_referral", "510781001", {})
    follow = task_by_element(services.complete(with_policy, started.tasks[0]["id"], "doctor_a",
                                               {"phq9": 1}).tasks, "follow_up")
    due = follow["due_at"]
    services.tick(with_policy.at(due + timedelta(hours=2)))
    assert sorted(r["level"] for r in actions.list_escalations(with_policy)) == [1, 2]


@pytest.mark.parametrize("text, message", [
    ("ladders: {x: [{level: 2, after: 0}]}", "levels must be 1, 2, 3"),
    ("ladders: {x: [{level: 1, after: soon}]}", "after must be"),
    ("ladders: {x: [{level: 1, notify: mayor}]}", "notify must be"),
    ("pathways: {p: {ladder: missing}}", "unknown ladder"),
    ("ladders: {none: [{level: 1}]}", "reserved"),
])
def test_bad_policies_are_refused_with_where(text, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "policy.yaml")


def test_cli_escalation_queue_and_supervisor_commands(cli):
    cli.run("pathway", "deploy", str(BPMN / "scored_referral.bpmn"))
    started = cli.json("start", "scored_referral", "--org", "510781001", "--now", "2026-11-02T09:00:00+08:00")
    done = cli.json("complete", str(started["tasks"][0]["id"]), "--user", "doctor_a", "--data", '{"phq9": 2}',
                    "--now", "2026-11-02T09:00:00+08:00")
    follow = done["tasks"][0]
    tick = cli.json("tick", "--now", "2026-11-05T18:00:00+08:00")
    assert tick["escalations_raised"] == 2
    queue = cli.json("escalations", "--org", "510781")
    assert sorted((r["level"], r["role"], r["org"]) for r in queue) == [
        (1, "health.family_doctor", "510781001"), (2, "health.supervisor", "510781")]
    assert set(queue[0]) >= {"id", "task", "instance", "level", "role", "org", "raised_at", "status"}
    level2 = [r for r in queue if r["level"] == 2][0]
    refused = cli.run("escalation", "ack", str(level2["id"]), "--user", "teacher_a", check=False)
    assert refused.returncode == 1 and "不负责" in refused.stderr
    acked = cli.json("escalation", "ack", str(level2["id"]), "--user", "sun_sup", "--note", "已督促")
    assert acked["status"] == "acknowledged"
    extended = cli.json("task", "extend", str(follow["id"]), "--user", "sun_sup", "--workdays", "1",
                        "--reason", "等待家属", "--now", "2026-11-06T09:00:00+08:00")
    assert extended["due_at"] == "2026-11-05T18:00:00+08:00"
    paused = cli.json("task", "pause", str(follow["id"]), "--user", "doctor_a", "--reason", "失联")
    assert paused["paused"] is True
    cli.json("task", "resume", str(follow["id"]), "--user", "doctor_a")
    assert cli.json("escalations", "--org", "510703") == []
