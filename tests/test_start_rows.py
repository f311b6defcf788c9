"""A start writes its instance and its first tasks with one prebuilt INSERT each
(`engine/store/rows.insert_now`), not through the ORM's flush. What the caller is told is what
is stored, defaults included, and the rows stay ORM rows for the rest of the unit of work: a
start that fails at once is saved as an error under the instance's version check."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.pathways import deploy_files
from engine.runtime import services
from engine.store.models import HumanTask, Instance, TaskGrant
from engine.store.rows import insert_now

from conftest import BPMN, T0

VILLAGE = "510781001001"

FAILS_AT_ONCE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs_fails" targetNamespace="http://carepath.example/bpmn">
  <bpmn:process id="fails_at_once" name="启动即出错" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="boom"/>
    <bpmn:scriptTask id="boom" name="缺变量的脚本"><bpmn:script>score = phq9 * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="boom" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_what_a_start_returns_is_what_is_stored(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    started = services.start_instance(ctx, "school_screening", VILLAGE, {}, actor="admin")
    (told,) = started.tasks
    with ctx.db.unit_of_work() as session:
        stored = session.get(HumanTask, told["id"])
        assert services.task_dict(stored) == told
        assert (stored.escalation_level, stored.due_provisional, stored.paused_at) == (0, False, None)
        assert stored.candidate_roles == ["education.teacher"]
        instance = session.get(Instance, started.instance)
        assert (instance.status, instance.lock_version, instance.error) == ("running", 1, None)
        assert instance.state and instance.started_at == instance.updated_at
        grants = session.scalar(select(func.count()).where(TaskGrant.task_id == told["id"]))
        assert grants >= 1


def test_a_start_that_fails_at_once_is_saved_as_an_error_under_the_version_check(ctx, tmp_path):
    path = tmp_path / "fails_at_once.bpmn"
    path.write_text(FAILS_AT_ONCE, encoding="utf-8")
    deploy_files(ctx, [path])
    outcome = services.start_instance(ctx, "fails_at_once", VILLAGE, {})
    assert outcome.status == "error" and outcome.error["element"] == "boom"
    with ctx.db.unit_of_work() as session:
        instance = session.get(Instance, outcome.instance)
        # Inserted at version 1, then updated once (to the error) through the ORM's version check.
        assert (instance.status, instance.lock_version) == ("error", 2)
        assert "phq9" in instance.error["message"]


def test_an_inserted_row_takes_the_defaults_and_later_changes_are_updates(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    instance_id = services.start_instance(ctx, "school_screening", VILLAGE, {}).instance
    with ctx.db.unit_of_work() as session:
        task = HumanTask(instance_id=instance_id, spiff_task_id="00000000-0000-0000-0000-000000000001",
                         element="extra", name="补充", process_id="school_screening",
                         org_code=VILLAGE, org_path="/x/", status="open", created_at=T0)
        insert_now(session, task)
        assert task.id is not None and task in session
        assert (task.candidate_users, task.candidate_roles, task.escalation_level,
                task.due_provisional, task.assignee) == ([], [], 0, False, None)
        task.name = "补充（改）"
        session.flush()
    with ctx.db.unit_of_work() as session:
        again = session.get(HumanTask, task.id)
        assert (again.name, again.escalation_level, again.candidate_users) == ("补充（改）", 0, [])
