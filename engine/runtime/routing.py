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
from ..store import reference
from ..calendars import chain_of
from ..deadlines import Due, due_from_expression, due_from_timer
from ..stages import is_stage
from ..store.models import HumanTask
from ..store.rows import new_row


class Directory:
    """Directory lookups for one unit of work, cached for its duration: `Directory.of(session)`
    is the same object for every caller in that unit of work (the session's identity map holds
    rows only while something refers to them, so without it each lookup would read again)."""

    def __init__(self, session):
        self.session = session
        self._roles: tuple[dict, dict] | None = None
        self._units: dict = {}

    @classmethod
    def of(cls, session) -> "Directory":
        directory = session.info.get("directory")
        if directory is None:
            directory = session.info["directory"] = cls(session)
        return directory

    def roles(self) -> tuple[dict[str, str], dict[str, str]]:
        """(code → name, name → code) of every role. Shared: read, never change."""
        if self._roles is None:
            self._roles = reference.cached(self.session, "roles", "all", self._read_roles)
        return self._roles

    def _read_roles(self) -> tuple[dict[str, str], dict[str, str]]:
        names = directory_repo.role_names(self.session)
        return names, {name: code for code, name in names.items()}

    def unit(self, code: str):
        """The unit's (code, name, level, parent_code, path), or None when there is no such unit."""
        if code not in self._units:
            self._units[code] = reference.cached(self.session, "units", code,
                                                 lambda: directory_repo.org_unit_brief(self.session, code))
        return self._units[code]

    def ancestors(self, code: str) -> list[tuple[str, str]]:
        unit = self.unit(code)
        if unit is None:
            return []
        codes = [c for c in unit.path.strip("/").split("/") if c]
        found = [(c, self.unit(c)) for c in codes]
        return [(c, u.level) for c, u in found if u is not None]


def _evaluator(task):
    engine = task.workflow.script_engine
    return lambda expression: engine.evaluate(task, expression)


def boundary_timer(task):
    """The earliest armed timer on the task's boundary and its instant, or (None, None)."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return None, None
    best = (None, None)
    for sibling in parent.children:
        definition = getattr(sibling.task_spec, "event_definition", None)
        if isinstance(definition, TIMER_CLASSES) and sibling.has_state(TaskState.WAITING):
            moment = pending_wake_time(sibling)
            if moment is not None and (best[1] is None or moment < best[1]):
                best = (sibling, moment)
    return best


def resolve_due(task, extensions: dict, clock, calendar) -> Due | None:
    """The task's deadline: its dueDate (counted on the task's unit's calendar), else its
    earliest boundary timer."""
    text = extensions.get("dueDate")
    if text and text.strip():
        engine = task.workflow.script_engine
        with engine.calendar_of(calendar):
            return due_from_expression(task, text, clock)
    timer, moment = boundary_timer(task)
    return due_from_timer(timer, moment) if timer is not None else None


def _moment(task, text: str | None, clock) -> datetime | None:
    if not text or not text.strip():
        return None
    inner = unwrap_expression(text)
    return resolve_moment(inner if inner is not None else text, _evaluator(task), clock.now(), clock.tz)


def task_stage(properties: dict) -> str | None:
    """The care stage the task's `stage` property states; None when it states none (BPMN from
    outside the library) or one `pathway validate` would have refused."""
    stage = (properties.get("stage") or "").strip()
    return stage if is_stage(stage) else None


def build_human_task(task, instance, directory: Directory, ctx) -> HumanTask:
    """A new human-task row (not yet inserted: see `new_row`) for a READY manual task. Raises
    AssignmentError/MomentError/WorkflowException when the pathway's routing cannot be resolved."""
    spec = task.task_spec
    extensions = getattr(spec, "extensions", None) or {}
    evaluate = _evaluator(task)
    by_code, by_name = directory.roles()
    owner = resolve_owner(extensions, spec.lane, evaluate, by_code, by_name)
    org_code = resolve_org(extensions, instance.org_code, directory.ancestors, evaluate)
    unit = directory.unit(org_code)
    if unit is None:
        raise AssignmentError(f"任务的机构 {org_code} 不存在 (unknown org unit)")
    calendar = ctx.calendar(chain_of(unit.path), directory.session)
    due = resolve_due(task, extensions, ctx.clock, calendar)
    properties = extensions.get("properties") or {}
    ladder = ctx.policy().ladder_name(instance.process_id, spec.bpmn_id, properties.get("escalation"))
    steps = ctx.policy().ladder(ladder)
    first_escalation = steps[0].moment(due.at, calendar) if steps and due else None
    return new_row(
        HumanTask, instance_id=instance.id, spiff_task_id=str(task.id), element=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id, process_id=instance.process_id,
        role_code=owner.role, org_code=org_code, org_path=unit.path,
        status="claimed" if owner.assignee else "open", assignee=owner.assignee,
        candidate_users=list(owner.candidate_users), candidate_roles=list(owner.candidate_roles),
        form_key=extensions.get("formKey"), stage=task_stage(properties),
        due_at=due.at if due else None, due_kind=due.kind if due else None,
        due_basis=due.basis if due else None, due_source=due.source if due else None,
        due_provisional=due.provisional if due else False,
        follow_up_at=_moment(task, extensions.get("followUpDate"), ctx.clock),
        escalation_ladder=ladder, escalation_level=0, next_escalation_at=first_escalation,
        created_at=ctx.clock.now())
