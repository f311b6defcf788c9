"""Steps the pathway scenario tests take as users would: find the task in the inbox at a moment,
complete it with the form's data, see what is open and where the instance ended."""
from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState

from engine.runtime import instances, services

from conftest import task_by_element


def inbox_task(ctx, at: datetime, username: str, element: str) -> dict:
    """The one open `element` task in the user's inbox at `at`."""
    return task_by_element(services.tasks_for_user(ctx.at(at), username), element)


def do(ctx, at: datetime, username: str, element: str, data: dict):
    """The user finds the task in their inbox and completes it with the form's data."""
    task = inbox_task(ctx, at, username, element)
    return services.complete(ctx.at(at), task["id"], username, data)


def open_elements(ctx, instance: int) -> list[str]:
    return sorted(t["element"] for t in services.list_tasks(ctx, instance_id=instance))


def ended_at(ctx, instance: int) -> list[str]:
    """The end events the instance's top level reached."""
    with ctx.db.unit_of_work() as session:
        _, workflow = instances.load(ctx, session, instance)
        return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)
                      if isinstance(t.task_spec, EndEvent) and t.workflow is workflow)
