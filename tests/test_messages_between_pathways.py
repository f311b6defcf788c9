"""A confirmed diagnosis of a low-income person starts the civil-affairs relief pathway by
message; the relief result flows back to the right person's treatment, even when it arrives
before the treatment pathway waits for it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import BPMN, T0, task_by_element

COUNTY = "510781"


@pytest.fixture
def linked(ctx):
    deploy_files(ctx, [BPMN / "diagnosis.bpmn", BPMN / "relief.bpmn"])
    return ctx


def _diagnose(ctx, person_id: str, low_income: bool = True):
    started = services.start_instance(ctx, "diagnosis", COUNTY, {"person_id": person_id})
    confirm = task_by_element(started.tasks, "confirm")
    after = services.complete(ctx, confirm["id"], "doctor_a",
                              {"diagnosis": "抑郁症", "low_income": low_income})
    return started.instance, after


def _person_of(ctx, instance_id):
    from engine.runtime.instances import load
    with ctx.db.unit_of_work() as session:
        _, workflow = load(ctx, session, instance_id)
        return workflow.get_tasks(spec_name="assess")[0].data.get("person_id")


def test_diagnosis_message_starts_relief_pathway_in_the_same_county(linked):
    diagnosis_id, after = _diagnose(linked, "P-001")
    assert [t["element"] for t in after.tasks] == ["start_treatment"]

    relief = services.tasks_for_user(linked, "relief_a")
    assert [(t["element"], t["process"], t["org"]) for t in relief] == [("assess", "relief", COUNTY)]
    # 民政救助专员 of another county never sees it.
    assert services.tasks_for_user(linked, "relief_other") == []
    assert relief[0]["due_at"] == T0 + timedelta(hours=48)
    relief_detail = instance_detail(linked, relief[0]["instance"])
    assert relief_detail["status"] == "running"


def test_result_waits_until_treatment_waits_then_lands_in_the_right_instance(linked):
    first, _ = _diagnose(linked, "P-001")
    second, _ = _diagnose(linked, "P-002")
    relief_tasks = {(_person_of(linked, t["instance"])): t for t in services.tasks_for_user(linked, "relief_a")}
    assert set(relief_tasks) == {"P-001", "P-002"}

    # Relief for P-002 settles while its treatment pathway is still on start_treatment.
    services.complete(linked, relief_tasks["P-002"]["id"], "relief_a", {"amount": 1200})
    second_tasks = services.list_tasks(linked, instance_id=second)
    assert [t["element"] for t in second_tasks] == ["start_treatment"]

    # Treatment starts for P-001 first: nothing has arrived for P-001, so it waits.
    first_start = task_by_element(services.list_tasks(linked, instance_id=first), "start_treatment")
    waiting = services.complete(linked, first_start["id"], "doctor_a", {})
    assert waiting.tasks == []

    # Treatment starts for P-002: the kept message is delivered to it, not to P-001.
    second_start = task_by_element(second_tasks, "start_treatment")
    services.complete(linked, second_start["id"], "doctor_a", {})
    adjust = task_by_element(services.list_tasks(linked, instance_id=second), "adjust")
    assert adjust["role"] == "health.psychiatrist"
    assert services.list_tasks(linked, instance_id=first) == []

    from engine.runtime.instances import load
    with linked.db.unit_of_work() as session:
        _, workflow = load(linked, session, second)
        data = workflow.get_tasks(spec_name="adjust")[0].data
    assert data["relief"] == {"person_id": "P-002", "amount": 1200}

    # P-001's relief settles later and reaches P-001.
    services.complete(linked, relief_tasks["P-001"]["id"], "relief_a", {"amount": 800})
    assert [t["element"] for t in services.list_tasks(linked, instance_id=first)] == ["adjust"]


def test_no_low_income_no_message(linked):
    instance_id, after = _diagnose(linked, "P-009", low_income=False)
    assert after.status == "completed"
    assert services.tasks_for_user(linked, "relief_a") == []


def test_tick_delivers_a_message_kept_for_a_catcher(linked):
    """Delivery does not depend on who is running: tick retries flagged messages too."""
    first, _ = _diagnose(linked, "P-001")
    relief = services.tasks_for_user(linked, "relief_a")[0]
    services.complete(linked, relief["id"], "relief_a", {"amount": 500})
    start = task_by_element(services.list_tasks(linked, instance_id=first), "start_treatment")
    services.complete(linked, start["id"], "doctor_a", {})
    assert [t["element"] for t in services.list_tasks(linked, instance_id=first)] == ["adjust"]
    assert services.tick(linked)["messages_delivered"] == 0


def test_a_message_started_pathway_cannot_be_started_by_hand(linked):
    from engine.errors import InvalidInput
    with pytest.raises(InvalidInput, match="diagnosis_confirmed"):
        services.start_instance(linked, "relief", COUNTY, {"person_id": "P-1"})
