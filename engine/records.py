"""What one user sees of a person's record: their journey, an instance of it, the instance's
diagram — each checked (jurisdiction, then tiers), filtered by tier and audited.

- Someone may open a person's journey when they read the person's basic information: a role at
  or above the person's unit, or an open break-glass on the person.
- Someone may open an instance when they may view it (engine.access.can_view_instance: its unit,
  one of its task's units, or named on one of its tasks) or hold an open break-glass on its person.
- Instance data is shown tier by tier (engine.privacy); what is held back is counted, not shown,
  and a tier held back for want of consent is logged as a refused share.

Missing and not-yours raise NotFound and PermissionDenied; the web answers both alike.
"""
from __future__ import annotations

from .access import can_retry, can_view_instance
from .errors import NotFound, PermissionDenied
from .journeys import diagram_of, instance_or_fail, journey_of, person_or_fail, source_text
from .privacy.services import audit_read, consents_of, data_tiers, person_units, reading_for
from .privacy.rules import may_manage_consent
from .privacy.tiers import split_by_tier
from .runtime.services import actor_for, retry_instance, task_dict
from .store import journeys as repo
from .store import privacy as privacy_repo
from .store import runtime as runtime_repo
from .store.models import Person


def _reading_dict(found) -> dict:
    return {"tiers": sorted(found.tiers), "basis": dict(found.basis), "break_glass": found.break_glass}


def person_for_user(ctx, person_id: int, username: str) -> dict:
    """The person's journey (engine.journeys) plus `reading` (tiers read and on what basis),
    `consents`, `may_manage_consent` and `break_glass` (the user's open one, if any)."""
    with ctx.db.unit_of_work() as session:
        person, unit = person_or_fail(session, person_id)
        actor_for(session, username)                  # an active user
        found = reading_for(ctx, session, username, person, [unit.path])
        if not found.may("basic"):
            raise PermissionDenied("无权查看此人员的服务记录（不在您的辖区内）")
        journey = journey_of(ctx, session, person, unit)
        audit_read(ctx, session, username, person.id, f"person:{person.id}", found)
        opened = privacy_repo.open_break_glass(session, username, person.id, ctx.clock.now())
        return {**journey, "reading": _reading_dict(found), "consents": consents_of(ctx, session, person.id),
                "may_manage_consent": may_manage_consent(found),
                "break_glass": None if opened is None else {
                    "id": opened.id, "until": opened.until, "reason": opened.reason}}


def task_people(tasks) -> set[str]:
    """Everyone named on the tasks: assignees, who completed them, candidate users."""
    return {name for t in tasks for name in (t.assignee, t.completed_by, *(t.candidate_users or [])) if name}


def may_view(actor, unit_path: str, tasks) -> bool:
    """The instance at `unit_path` with these task rows is one the actor may view (no break-glass)."""
    return can_view_instance(actor, unit_path, [t.org_path for t in tasks], task_people=task_people(tasks))


def viewable_instance(ctx, session, instance_id: int, username: str):
    """(instance, its unit, its task rows, person or None, named on a task), or NotFound /
    PermissionDenied."""
    row, unit = instance_or_fail(session, instance_id)
    tasks = repo.tasks_of_instances(session, [row.id])
    person = session.get(Person, row.person_id) if row.person_id else None
    if not may_view(actor_for(session, username), unit.path, tasks):
        opened = person is not None and privacy_repo.open_break_glass(session, username, person.id, ctx.clock.now())
        if not opened:
            raise PermissionDenied("无权查看此流程实例（不在您的辖区内）")
    return row, unit, tasks, person, username in task_people(tasks)


def instance_for_user(ctx, instance_id: int, username: str) -> dict:
    """The instance's diagram (engine.journeys.instance_diagram) for a user who may view it."""
    with ctx.db.unit_of_work() as session:
        row, unit, tasks, _, _ = viewable_instance(ctx, session, instance_id, username)
        return diagram_of(ctx, session, row, unit, tasks)


def instance_page_for_user(ctx, instance_id: int, username: str) -> dict:
    """The diagram, plus `detail`: the instance's data of the tiers this user reads (`hidden`
    counts the values held back, by tier), its tasks and its events; `person` only for a user who
    reads the person's basic information. The read is audited."""
    with ctx.db.unit_of_work() as session:
        row, unit, tasks, person, named = viewable_instance(ctx, session, instance_id, username)
        units = [unit.path, *(t.org_path for t in tasks), *(person_units(session, person) if person else [])]
        found = reading_for(ctx, session, username, person, units, named=named)
        shown, hidden = split_by_tier(row.variables or {}, data_tiers(ctx, session, row.version_id), found.tiers)
        audit_read(ctx, session, username, person.id if person else None, f"instance:{row.id}", found, hidden)
        diagram = diagram_of(ctx, session, row, unit, tasks)
        detail = {
            "instance": row.id, "process_id": row.process_id, "status": row.status, "error": row.error,
            "data": shown, "hidden": hidden, "reading": _reading_dict(found),
            "person": ({"id": person.id, "ref": person.ref, "name": person.name}
                       if person is not None and found.may("basic") else None),
            "tasks": [task_dict(t) for t in sorted(tasks, key=lambda t: t.id)],
            "events": [{"at": e.at, "kind": e.kind, "task": e.task_id, "actor": e.actor,
                        "element": (e.detail or {}).get("element")}
                       for e in runtime_repo.events_for_instance(session, row.id)],
        }
        return {"diagram": diagram, "detail": detail}


def instance_bpmn_for_user(ctx, instance_id: int, username: str, process_id: str | None = None) -> str:
    """The BPMN the instance's diagram (or a pathway it called) is drawn from, for a user who may
    view the instance; read from the deployed source without loading the workflow."""
    with ctx.db.unit_of_work() as session:
        row, _, _, _, _ = viewable_instance(ctx, session, instance_id, username)
        version, source = repo.version_with_source(session, row.version_id)
        if process_id and process_id != row.process_id:
            called = repo.called_version_with_source(session, process_id, version)
            if called is None:
                raise NotFound(f"路径 {process_id} 未部署")
            source = called[1]
        return source_text(source.content)


def retry_for_user(ctx, instance_id: int, username: str):
    """Run an instance in error again, if the user supervises its unit (or is an analyst there)."""
    with ctx.db.unit_of_work() as session:
        _, unit = instance_or_fail(session, instance_id)
        if not can_retry(actor_for(session, username), unit.path):
            raise PermissionDenied("只有该机构或上级的督导、路径管理员可以重试出错的实例")
    return retry_instance(ctx, instance_id, username)
