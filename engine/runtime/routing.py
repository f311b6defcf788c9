"""Turning a READY SpiffWorkflow user task into a human-task row: owner, org unit, due dates."""
from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.util.task import TaskState

from ..assignment import resolve_org, resolve_owner, unwrap_expression
from ..bpmn.moments import resolve_moment
from ..bpmn.timers import TIMER_CLASSES, pending_wake_time
from ..assignment import AssignmentError
from ..store import directory as directory_repo
from ..store.models import HumanTask, OrgUnit


class Directory:
    """Directory lookups for one unit of work, cached for its duration."""

    def __init__(self, session):
        self.session = session
        self._roles: tuple[dict, dict] | None = None
        self._units: dict[str, OrgUnit | None] = {}

    def roles(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._roles is None:
            rows = directory_repo.all_roles(self.session)
            self._roles = ({r.code: r.name for r in rows}, {r.name: r.code for r in rows})
        return self._roles

    def unit(self, code: str) -> OrgUnit | None:
        if code not in self._units:
            self._units[code] = directory_repo.org_unit(self.session, code)
        return self._units[code]

    def ancestors(self, code: str) -> list[tuple[str, str]]:
        unit = self.unit(code)
        if unit is None:
            return []
        codes = [c for c in unit.path.strip("/").split("/") if c]
        units = directory_repo.org_units_by_code(self.session, codes)
        return [(c, units[c].level) for c in codes if c in units]


def _evaluator(task):
    engine = task.workflow.script_engine
    return lambda expression: engine.evaluate(task, expression)


def boundary_timer_due(task) -> datetime | None:
    """The earliest timer on the task's boundary (the deadline when no dueDate is given)."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return None
    moments = []
    for sibling in parent.children:
        definition = getattr(sibling.task_spec, "event_definition", None)
        if isinstance(definition, TIMER_CLASSES) and sibling.has_state(TaskState.WAITING):
            moment = pending_wake_time(sibling)
            if moment is not None:
                moments.append(moment)
    return min(moments) if moments else None


def _moment(task, text: str | None, clock) -> datetime | None:
    if not text or not text.strip():
        return None
    inner = unwrap_expression(text)
    return resolve_moment(inner if inner is not None else text, _evaluator(task), clock.now(), clock.tz)


def build_human_task(task, instance, directory: Directory, clock) -> HumanTask:
    """A new human-task row for a READY manual task. Raises AssignmentError/MomentError/
    WorkflowException when the pathway's routing cannot be resolved."""
    spec = task.task_spec
    extensions = getattr(spec, "extensions", None) or {}
    evaluate = _evaluator(task)
    by_code, by_name = directory.roles()
    owner = resolve_owner(extensions, spec.lane, evaluate, by_code, by_name)
    org_code = resolve_org(extensions, instance.org_code, directory.ancestors, evaluate)
    unit = directory.unit(org_code)
    if unit is None:
        raise AssignmentError(f"任务的机构 {org_code} 不存在 (unknown org unit)")
    due_at = _moment(task, extensions.get("dueDate"), clock) or boundary_timer_due(task)
    return HumanTask(
        instance_id=instance.id, spiff_task_id=str(task.id), element=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id, process_id=instance.process_id,
        role_code=owner.role, org_code=org_code, org_path=unit.path,
        status="claimed" if owner.assignee else "open", assignee=owner.assignee,
        candidate_users=list(owner.candidate_users), candidate_roles=list(owner.candidate_roles),
        form_key=extensions.get("formKey"), due_at=due_at,
        follow_up_at=_moment(task, extensions.get("followUpDate"), clock),
        created_at=clock.now())
