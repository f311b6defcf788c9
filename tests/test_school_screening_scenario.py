"""A pathway walked end to end as its users would see it: screening by a township teacher,
remote consult by the city's experts due in 2 days, escalation to the county supervisor when the
consult timer runs out, a joint plan offered to two roles."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import PermissionDenied, TaskNotOpen
from engine.pathways import deploy_files
from engine.runtime import services

from conftest import BPMN, T0, task_by_element

TOWNSHIP_A = "510781001"


@pytest.fixture
def screening(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    return ctx


def test_negative_screen_ends_the_pathway(screening):
    outcome = services.start_instance(screening, "school_screening", TOWNSHIP_A, {"student": "S1"})
    screen = task_by_element(outcome.tasks, "screen")
    assert (screen["role"], screen["org"], screen["status"]) == ("education.teacher", TOWNSHIP_A, "open")
    assert screen["form_key"] == "school/screening.form.json"

    done = services.complete(screening, screen["id"], "teacher_a", {"score": 3})
    assert done.status == "completed"
    assert done.tasks == []


def test_positive_screen_goes_to_city_experts_with_a_deadline(screening):
    outcome = services.start_instance(screening, "school_screening", TOWNSHIP_A, {"student": "S1"})
    screen = task_by_element(outcome.tasks, "screen")
    after = services.complete(screening, screen["id"], "teacher_a", {"score": 14})

    consult = task_by_element(after.tasks, "consult")
    # Lane named by the role's display name 精神卫生中心专家; orgLevel=city lifts it to 绵阳市.
    assert (consult["role"], consult["org"]) == ("health.mh_center_expert", "510700")
    assert consult["due_at"] == T0 + timedelta(days=2)
    assert [t["element"] for t in services.tasks_for_user(screening, "expert")] == ["consult"]
    assert services.tasks_for_user(screening, "teacher_a") == []


def test_consult_timer_escalates_to_supervisor_and_tick_is_idempotent(screening):
    outcome = services.start_instance(screening, "school_screening", TOWNSHIP_A, {"student": "S2"})
    services.complete(screening, task_by_element(outcome.tasks, "screen")["id"], "teacher_a", {"score": 12})

    early = services.tick(screening.at(T0 + timedelta(days=2, hours=23)))
    assert early["timers_fired"] == 0
    assert [t["element"] for t in services.tasks_for_user(screening, "expert")] == ["consult"]

    late = screening.at(T0 + timedelta(days=3, minutes=1))
    fired = services.tick(late)
    assert fired["timers_fired"] == 1 and fired["instances"] == [outcome.instance]
    assert services.tasks_for_user(late, "expert") == []
    supervise = task_by_element(services.tasks_for_user(late, "sun_sup"), "supervise")
    assert (supervise["role"], supervise["org"]) == ("health.supervisor", TOWNSHIP_A)

    again = services.tick(late)
    assert again["timers_fired"] == 0
    assert len(services.list_tasks(late, instance_id=outcome.instance)) == 1
    cancelled = services.list_tasks(late, instance_id=outcome.instance, status="all")
    assert {(t["element"], t["status"]) for t in cancelled} == {
        ("screen", "completed"), ("consult", "cancelled"), ("supervise", "open")}


def test_joint_plan_is_offered_to_both_roles_and_taken_once(screening):
    outcome = services.start_instance(screening, "school_screening", TOWNSHIP_A, {"student": "S3"})
    services.complete(screening, task_by_element(outcome.tasks, "screen")["id"], "teacher_a", {"score": 20})
    consult = task_by_element(services.tasks_for_user(screening, "expert"), "consult")
    later = screening.at(T0 + timedelta(hours=5))
    after = services.complete(later, consult["id"], "expert", {"advice": "联合干预"})
    plan = task_by_element(after.tasks, "joint_plan")
    assert plan["due_at"] == T0 + timedelta(hours=5, days=5)   # ${days(5)} on the engine clock

    assert [t["id"] for t in services.tasks_for_user(later, "psych_a")] == [plan["id"]]
    assert [t["id"] for t in services.tasks_for_user(later, "doctor_a")] == [plan["id"]]

    services.claim(later, plan["id"], "psych_a")
    assert services.tasks_for_user(later, "doctor_a") == []
    with pytest.raises(TaskNotOpen, match="psych_a"):
        services.claim(later, plan["id"], "doctor_a")
    with pytest.raises(PermissionDenied):
        services.complete(later, plan["id"], "doctor_a", {})
    services.release(later, plan["id"], "psych_a")
    assert [t["id"] for t in services.tasks_for_user(later, "doctor_a")] == [plan["id"]]

    final = services.complete(later, plan["id"], "doctor_a", {"plan": "每周随访"})
    assert final.status == "completed"
    with pytest.raises(TaskNotOpen, match="doctor_a"):
        services.complete(later, plan["id"], "psych_a", {})
