"""SQL for the worklist: one inbox page (sorted, counted; the grants queries are in `runtime`),
names by primary key, and form drafts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from .models import (
    HumanTask, Instance, Membership, OrgUnit, PathwayVersion, Person, Role, TaskDraft, User,
)
from . import runtime
from .runtime import _prefix_pattern

SORTS = {"due": None,       # the grants index's own order: runtime.inbox_by_due
         "-due": (HumanTask.due_at.is_(None), HumanTask.due_at.desc(), HumanTask.id.desc()),
         "created": (HumanTask.created_at, HumanTask.id),
         "-created": (HumanTask.created_at.desc(), HumanTask.id.desc())}


def inbox_page(session: Session, username: str, grants: list[tuple[str, str]], sort: str, limit: int,
               offset: int, **filters) -> tuple[list[HumanTask], int]:
    """One page of the inbox (`runtime.InboxFilters` for the filters) and how many tasks it holds.
    By due time the page comes from the grants index ranges (`runtime.inbox_by_due`); the other
    sorts order the visible tasks' rows."""
    total = runtime.inbox_count(session, username, grants, **filters)
    if SORTS[sort] is None:
        return runtime.inbox(session, username, grants, limit=limit, offset=offset, **filters), total
    query = runtime.inbox_query(username, grants, **filters)
    return list(session.scalars(query.order_by(*SORTS[sort]).limit(limit).offset(offset))), total


def org_names(session: Session, codes) -> dict[str, str]:
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    return dict(session.execute(select(OrgUnit.code, OrgUnit.name).where(OrgUnit.code.in_(codes))).all())


def org_units_under(session: Session, paths: list[str], limit: int = 500) -> list[OrgUnit]:
    """Units at or below any of the given paths, in tree order."""
    if not paths:
        return []
    conditions = [OrgUnit.path.like(_prefix_pattern(path), escape="\\") for path in paths]
    return list(session.scalars(select(OrgUnit).where(or_(*conditions)).order_by(OrgUnit.path).limit(limit)))


def user_names(session: Session, usernames) -> dict[str, str]:
    usernames = sorted({u for u in usernames if u})
    if not usernames:
        return {}
    return dict(session.execute(select(User.username, User.name).where(User.username.in_(usernames))).all())


def pathway_names(session: Session) -> dict[str, str]:
    """process id → name of its latest version."""
    rows = session.execute(select(PathwayVersion.process_id, PathwayVersion.name)
                           .order_by(PathwayVersion.process_id, PathwayVersion.version))
    return {pid: name or pid for pid, name in rows}


def get_draft(session: Session, task_id: int, username: str) -> TaskDraft | None:
    return session.get(TaskDraft, (task_id, username))


def put_draft(session: Session, task_id: int, username: str, data: dict, at: datetime) -> None:
    draft = session.get(TaskDraft, (task_id, username))
    if draft is None:
        session.add(TaskDraft(task_id=task_id, username=username, data=data, saved_at=at))
    else:
        draft.data, draft.saved_at = data, at


def drop_drafts(session: Session, task_id: int) -> None:
    session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))


def people_of_instances(session: Session, instance_ids: set[int]) -> dict[int, Person]:
    """instance id → the person it is about (instances about nobody are left out)."""
    if not instance_ids:
        return {}
    rows = session.execute(select(Instance.id, Person).join(Person, Person.id == Instance.person_id)
                           .where(Instance.id.in_(instance_ids)))
    return {instance_id: person for instance_id, person in rows}


def users_with_roles_under(session: Session, roles: set[str], paths: list[str]) -> list[tuple[str, str, str, str]]:
    """(username, name, role, org name) of active users holding one of `roles` at or below any path."""
    if not roles or not paths:
        return []
    under = or_(*[OrgUnit.path.like(_prefix_pattern(path), escape="\\") for path in paths])
    rows = session.execute(
        select(User.username, User.name, Membership.role_code, OrgUnit.name)
        .join(Membership, Membership.user_id == User.id).join(OrgUnit, OrgUnit.code == Membership.org_code)
        .where(User.active.is_(True), Membership.role_code.in_(roles), under)
        .order_by(OrgUnit.path, User.username))
    return [tuple(row) for row in rows]


def role_names(session: Session, codes) -> dict[str, str]:
    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    return dict(session.execute(select(Role.code, Role.name).where(Role.code.in_(codes))).all())
