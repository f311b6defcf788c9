"""A person's care pathways as FHIR R4, for one reader: the checks, the reads and the audit.

Each service asks exactly what the matching page asks, through the same functions:
- `person_bundle` — the person page (engine.records.person_for_user): the reader must read the
  person's basic information (`reading_for`: a role at or above the person's unit, or an open
  break-glass); else PermissionDenied, and an unknown ref is NotFound. Of the person's instances it
  exports those the reader may view (engine.records.may_view, as the person page draws their
  diagrams), all of them under break-glass.
- `careplan_of_instance` — the instance page (engine.records.instance_page_for_user): who may
  view the instance; the Patient's details only with the basic tier (an analyst sees the plan,
  not who it is about).
- `task_resource` — the task page (engine.worklist.task_page): whoever may see the task, else
  NotFound, exactly like a task that does not exist.

No process data (variables) is exported, so nothing of a tier is held back from a resource and no
share is refused; each read is audited like a page read (`audit_read`), with target
"fhir:Bundle" (a person's bundle), "fhir:CarePlan/<instance id>" or "fhir:Task/<task id>".
"""
from __future__ import annotations

from collections import defaultdict

from ..errors import PermissionDenied
from ..journeys import is_overdue, person_or_fail
from ..people import person_or_fail as person_by_ref_or_fail
from ..privacy.services import audit_read, person_units, reading_for
from ..records import may_view, viewable_instance
from ..runtime.services import actor_for
from ..store import journeys as repo
from ..store import worklist as names_repo
from ..store.models import Instance, PathwayVersion, Person
from ..worklist import visible_task
from . import resources as fhir
from .resources import Names, Refs, Subject, TaskTiming

PERSON_TARGET = "fhir:Bundle"


def person_bundle(ctx, username: str, person_ref: str) -> dict:
    """A `collection` Bundle: the person's Patient, a CarePlan per instance of theirs the reader
    may view (oldest first), each followed by its Tasks (one per human task, any status)."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        person, unit = person_or_fail(session, person_by_ref_or_fail(session, person_ref).id)
        actor = actor_for(session, username)                  # an active user
        found = reading_for(ctx, session, username, person, [unit.path])
        if not found.may("basic"):
            raise PermissionDenied("无权查看此人员的服务记录（不在您的辖区内）")
        rows = repo.person_instances(session, person.id)
        tasks_of = defaultdict(list)
        for task in repo.tasks_of_instances(session, [row.id for row, _, _ in rows]):
            tasks_of[task.instance_id].append(task)
        visible = [(row, version) for row, version, org in rows
                   if found.break_glass or may_view(actor, org.path, tasks_of[row.id])]
        tasks = [t for row, _ in visible for t in tasks_of[row.id]]
        changed = _last_changes(session, [row.id for row, _ in visible])
        names = _names(session, tasks)
        audit_read(ctx, session, username, person.id, PERSON_TARGET, found)
        subject = Subject(person.id, person, unit.name)
        refs = Refs(in_bundle=True)
        shown = {row.id for row, _ in visible}
        resources = [fhir.patient(subject)]
        for row, version in visible:
            name = version.name or row.process_id
            resources.append(fhir.careplan(row, name, tasks_of[row.id], subject, refs, ctx.clock,
                                           part_of=row.parent_instance_id
                                           if row.parent_instance_id in shown else None))
            resources.extend(fhir.task(t, TaskTiming(is_overdue(t, now), changed.get(t.id)), name, subject,
                                       names, refs, ctx.clock) for t in tasks_of[row.id])
        return fhir.bundle(resources, ctx.clock)


def careplan_of_instance(ctx, username: str, instance_id: int) -> dict:
    """A `collection` Bundle: the instance's CarePlan, its Tasks and its Patient (details only
    for a reader of the basic tier); an instance about no one has no Patient."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row, unit, tasks, person, named = viewable_instance(ctx, session, instance_id, username)
        units = [unit.path, *(t.org_path for t in tasks), *(person_units(session, person) if person else [])]
        found = reading_for(ctx, session, username, person, units, named=named)
        name = _pathway_name(session, row)
        changed = _last_changes(session, [row.id])
        names = _names(session, tasks)
        subject = _subject(session, person, found)
        audit_read(ctx, session, username, person.id if person else None, f"fhir:CarePlan/{row.id}", found)
        refs = Refs(in_bundle=True)
        resources = [fhir.patient(subject)] if subject is not None else []
        resources.append(fhir.careplan(row, name, tasks, subject, refs, ctx.clock))
        resources.extend(fhir.task(t, TaskTiming(is_overdue(t, now), changed.get(t.id)), name, subject, names,
                                   refs, ctx.clock) for t in tasks)
        return fhir.bundle(resources, ctx.clock)


def task_resource(ctx, username: str, task_id: int) -> dict:
    """One Task, for a reader who may see it (else NotFound); its references are relative
    ("CarePlan/<instance id>", "Patient/<person id>")."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        task, _ = visible_task(session, task_id, username)
        instance = session.get(Instance, task.instance_id)
        person = session.get(Person, instance.person_id) if instance.person_id else None
        units = [task.org_path, *(person_units(session, person) if person else [])]
        found = reading_for(ctx, session, username, person, units, named=True)
        changed = _last_changes(session, [instance.id])
        subject = _subject(session, person, found)
        audit_read(ctx, session, username, person.id if person else None, f"fhir:Task/{task.id}", found)
        return fhir.task(task, TaskTiming(is_overdue(task, now), changed.get(task.id)),
                         _pathway_name(session, instance), subject, _names(session, [task]),
                         Refs(in_bundle=False), ctx.clock)


# --- reads -------------------------------------------------------------------------------------------

def _subject(session, person: Person | None, found) -> Subject | None:
    """The person as the reader may see them: all of it with the basic tier, else the id only."""
    if person is None:
        return None
    if not found.may("basic"):
        return Subject(person.id)
    return Subject(person.id, person, names_repo.org_names(session, [person.org_code]).get(person.org_code))


def _pathway_name(session, instance: Instance) -> str:
    version = session.get(PathwayVersion, instance.version_id)
    return (version.name if version is not None else None) or instance.process_id


def _last_changes(session, instance_ids: list[int]) -> dict[int, object]:
    """Task id → the time of its latest event (claim, reassignment, extension, escalation...)."""
    latest: dict[int, object] = {}
    for event in repo.events_of_instances(session, instance_ids):   # in time order
        if event.task_id is not None:
            latest[event.task_id] = event.at
    return latest


def _names(session, tasks) -> Names:
    tasks = list(tasks)
    return Names(users=names_repo.user_names(session, [t.assignee for t in tasks]),
                 roles=names_repo.role_names(session, [t.role_code for t in tasks]),
                 orgs=names_repo.org_names(session, [t.org_code for t in tasks]))
