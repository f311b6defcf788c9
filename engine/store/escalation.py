"""SQL for escalations, SLA pauses and who to tell."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from .models import Escalation, HumanTask, Membership, OrgUnit, User
from .runtime import ACTIVE, _prefix_pattern, for_update_skip_locked


def tasks_due_for_escalation(session: Session, now: datetime, limit: int) -> list[int]:
    """Active, unpaused tasks whose next escalation step is due: a range scan on an index."""
    return list(session.scalars(
        select(HumanTask.id).where(HumanTask.status.in_(ACTIVE), HumanTask.next_escalation_at <= now,
                                   HumanTask.paused_at.is_(None))
        .order_by(HumanTask.next_escalation_at, HumanTask.id).limit(limit)))


def lock_task(session: Session, task_id: int) -> HumanTask | None:
    """The task row, locked for this transaction where the database supports it; a row another
    sweep holds is skipped (None) rather than waited for."""
    query = select(HumanTask).where(HumanTask.id == task_id)
    return session.scalar(for_update_skip_locked(query, session))


def advance_level(session: Session, task_id: int, from_level: int, to_level: int,
                  next_at: datetime | None) -> bool:
    """Record that the task's ladder reached `to_level` (next step at `next_at`), only if it is
    still active, unpaused and at `from_level`: False when another sweep, a completion or a pause
    got there first (on SQLite, where `lock_task` locks nothing), and the caller rolls back."""
    result = session.execute(
        update(HumanTask).where(HumanTask.id == task_id, HumanTask.status.in_(ACTIVE),
                                HumanTask.paused_at.is_(None),
                                func.coalesce(HumanTask.escalation_level, 0) == from_level)
        .values(escalation_level=to_level, next_escalation_at=next_at)
        .execution_options(synchronize_session="fetch"))
    return result.rowcount == 1


def escalation_exists(session: Session, task_id: int, level: int) -> bool:
    return session.scalar(select(Escalation.id).where(
        Escalation.task_id == task_id, Escalation.level == level)) is not None


def add_escalation(session: Session, **values) -> Escalation:
    row = Escalation(**values)
    session.add(row)
    session.flush()
    return row


def resolve_for_task(session: Session, task_id: int, now: datetime) -> int:
    result = session.execute(
        update(Escalation).where(Escalation.task_id == task_id,
                                 Escalation.status.in_(("open", "acknowledged")))
        .values(status="resolved", resolved_at=now).execution_options(synchronize_session="fetch"))
    return result.rowcount


def members(session: Session, roles, org_codes) -> list[tuple[str, str, str]]:
    """(username, role, org code) of active users holding one of `roles` at one of `org_codes`."""
    roles, org_codes = list(roles), list(org_codes)
    if not roles or not org_codes:
        return []
    rows = session.execute(
        select(User.username, Membership.role_code, Membership.org_code)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role_code.in_(roles), Membership.org_code.in_(org_codes),
               User.active.is_(True))
        .order_by(User.username))
    return [tuple(r) for r in rows]


def list_escalations(session: Session, org_path: str | None, statuses: tuple[str, ...] | None,
                     limit: int = 500) -> list[Escalation]:
    query = select(Escalation)
    if statuses:
        query = query.where(Escalation.status.in_(statuses))
    if org_path:
        query = query.where(Escalation.org_path.like(_prefix_pattern(org_path), escape="\\"))
    return list(session.scalars(query.order_by(Escalation.raised_at.desc(), Escalation.id.desc()).limit(limit)))


def units(session: Session, codes) -> dict[str, OrgUnit]:
    codes = list(codes)
    if not codes:
        return {}
    return {u.code: u for u in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(codes)))}


QUEUE_SORTS = {"level": (Escalation.level.desc(), Escalation.raised_at, Escalation.id),
               "age": (Escalation.raised_at, Escalation.id),
               "-age": (Escalation.raised_at.desc(), Escalation.id.desc())}


def queue_query(grants: list[tuple[str, str]], statuses: tuple[str, ...] | None, *,
                level: int | None = None, agency: str | None = None, org_path: str | None = None):
    """Escalations whose target role the user holds at or above their unit (who works them)."""
    conditions = [and_(Escalation.role_code == role, Escalation.org_path.like(_prefix_pattern(path), escape="\\"))
                  for role, path in grants]
    query = select(Escalation, HumanTask).join(HumanTask, HumanTask.id == Escalation.task_id).where(
        or_(*conditions) if conditions else false())
    if statuses:
        query = query.where(Escalation.status.in_(statuses))
    if level:
        query = query.where(Escalation.level == level)
    if agency:
        query = query.where(Escalation.agency == agency)
    if org_path:
        query = query.where(Escalation.org_path.like(_prefix_pattern(org_path), escape="\\"))
    return query


def queue_page(session: Session, query, sort: str, limit: int, offset: int):
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.order_by(*QUEUE_SORTS[sort]).limit(limit).offset(offset)).all()
    return rows, total
