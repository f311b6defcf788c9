"""Every way an analyst can name a task's owner and org unit, as the Camunda Modeler writes it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import Conflict, PermissionDenied
from engine.pathways import deploy_files
from engine.runtime import services

from conftest import BPMN, T0, task_by_element

TOWNSHIP_A = "510781001"


@pytest.fixture
def started(ctx):
    deploy_files(ctx, [BPMN / "assignment_forms.bpmn"])
    return services.start_instance(ctx, "assignment_forms", TOWNSHIP_A,
                                   {"case_manager": "doctor_a", "home_county": "510703"})


def test_assignee_expression_starts_claimed_by_that_user(ctx, started):
    task = task_by_element(started.tasks, "by_assignee")
    assert (task["status"], task["assignee"], task["role"]) == ("claimed", "doctor_a", None)
    assert task["follow_up_at"] == T0 + timedelta(days=1)
    assert task["id"] in [t["id"] for t in services.tasks_for_user(ctx, "doctor_a")]
    with pytest.raises(Conflict, match="没有其他候选人"):
        services.release(ctx, task["id"], "doctor_a")


def test_candidate_users_act_wherever_the_task_is(ctx, started):
    task = task_by_element(started.tasks, "by_users")
    assert task["candidate_users"] == ["teacher_b", "relief_other"]
    # teacher_b's township is 中坝镇, the instance is in 太平镇: named users still get it.
    assert [t["element"] for t in services.tasks_for_user(ctx, "teacher_b")] == ["by_users"]
    with pytest.raises(PermissionDenied):
        services.claim(ctx, task["id"], "teacher_a")


def test_org_property_moves_the_task_to_another_unit(ctx, started):
    task = task_by_element(started.tasks, "by_org")
    assert (task["org"], task["role"]) == ("510703", "civil.relief_officer")
    assert [t["element"] for t in services.tasks_for_user(ctx, "relief_other")] == ["by_users", "by_org"]
    assert "by_org" not in [t["element"] for t in services.tasks_for_user(ctx, "relief_a")]


def test_all_three_complete_and_the_join_ends_the_instance(ctx, started):
    ids = {t["element"]: t["id"] for t in started.tasks}
    services.complete(ctx, ids["by_assignee"], "doctor_a", {})
    services.complete(ctx, ids["by_users"], "relief_other", {})
    final = services.complete(ctx, ids["by_org"], "relief_other", {})
    assert final.status == "completed"
