"""Role × jurisdiction: staff see and act only on tasks of their roles at or below their unit."""
from __future__ import annotations

import pytest

from engine.access import Actor, TaskView, can_claim, can_complete, can_release, can_see
from engine.errors import PermissionDenied
from engine.pathways import deploy_files
from engine.runtime import services

from conftest import BPMN

TAIPING = "/510000/510700/510781/510781001/"
ZHONGBA = "/510000/510700/510781/510781002/"
JIANGYOU = "/510000/510700/510781/"


def _task(status="open", assignee=None, roles=("education.teacher",), users=(), path=TAIPING):
    return TaskView(status, assignee, tuple(roles), tuple(users), path)


def test_membership_covers_its_unit_and_below_only():
    township = Actor("a", (("education.teacher", TAIPING),))
    county = Actor("c", (("education.teacher", JIANGYOU),))
    neighbour = Actor("b", (("education.teacher", ZHONGBA),))
    village_task = _task(path=TAIPING + "510781001001/")
    assert can_complete(township, village_task) and can_complete(county, village_task)
    assert not can_see(neighbour, village_task) and not can_complete(neighbour, village_task)
    assert not can_complete(township, _task(path=JIANGYOU))   # above the member's unit


def test_prefix_of_a_code_is_not_an_ancestor():
    """510781001 must not cover 5107810010 just because the string starts the same."""
    actor = Actor("a", (("education.teacher", TAIPING),))
    assert not can_see(actor, _task(path="/510000/510700/510781/5107810010/"))


def test_role_must_match():
    doctor = Actor("d", (("health.family_doctor", TAIPING),))
    assert not can_claim(doctor, _task())


def test_claimed_task_belongs_to_its_assignee():
    a = Actor("a", (("education.teacher", TAIPING),))
    c = Actor("c", (("education.teacher", JIANGYOU),))
    claimed = _task(status="claimed", assignee="a")
    assert can_complete(a, claimed) and can_release(a, claimed)
    assert not can_complete(c, claimed) and not can_claim(c, claimed) and not can_release(c, claimed)
    assert can_see(a, claimed)


def test_candidate_user_may_act_anywhere_and_finished_tasks_are_closed():
    named = Actor("x", ())
    task = _task(roles=(), users=("x",), path=ZHONGBA)
    assert can_claim(named, task) and can_complete(named, task)
    assert not can_complete(named, _task(status="completed", roles=(), users=("x",)))


def test_other_township_never_sees_or_acts(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    started = services.start_instance(ctx, "school_screening", "510781001", {})
    screen = started.tasks[0]
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_a")] == [screen["id"]]
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_county")] == [screen["id"]]
    assert services.tasks_for_user(ctx, "teacher_b") == []
    assert services.tasks_for_user(ctx, "doctor_a") == []
    with pytest.raises(PermissionDenied, match="辖区"):
        services.claim(ctx, screen["id"], "teacher_b")
    with pytest.raises(PermissionDenied):
        services.complete(ctx, screen["id"], "teacher_b", {"score": 1})
    with pytest.raises(PermissionDenied):
        services.complete(ctx, screen["id"], "nobody", {"score": 1})


def test_cli_refuses_with_a_clear_message(cli):
    cli.run("pathway", "deploy", str(BPMN / "school_screening.bpmn"))
    started = cli.json("start", "school_screening", "--org", "510781001")
    task_id = str(started["tasks"][0]["id"])
    assert cli.json("tasks", "--user", "teacher_b") == []
    refused = cli.run("complete", task_id, "--user", "teacher_b", "--data", '{"score": 1}', check=False)
    assert refused.returncode == 1 and "无权处理" in refused.stderr
    mine = cli.json("tasks", "--user", "teacher_a")
    assert [t["id"] for t in mine] == [int(task_id)]


def test_inbox_filters_by_role_in_the_query(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    services.start_instance(ctx, "school_screening", "510781001", {})
    assert len(services.tasks_for_user(ctx, "teacher_a", role="education.teacher")) == 1
    assert services.tasks_for_user(ctx, "teacher_a", role="health.family_doctor") == []
