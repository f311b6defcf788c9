"""SQL for the audit log (append-only, enforced by the database) and sign-in attempts.

`ORIGIN` is where the current actor acts from — "web 10.0.0.7" set by the web layer for each
request, "cli" by the command line, "worker" by background workers — written with every audit
row so that no service has to pass it along."""
from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import AuditEvent, Instance, LoginAttempt

ORIGIN: ContextVar[str | None] = ContextVar("carepath_origin", default=None)


def append(session: Session, at: datetime, actor: str | None, action: str, *,
           person_id: int | None = None, target: str | None = None, **detail) -> None:
    session.add(AuditEvent(at=at, actor=actor, action=action, person_id=person_id, target=target,
                           origin=ORIGIN.get(), detail=detail))


def append_for_event(session: Session, at: datetime, kind: str, instance_id: int | None,
                     task_id: int | None, actor: str, detail: dict) -> None:
    """The audit row of something a person did that the instance's event log also records."""
    person_id = None
    if instance_id is not None:
        instance = session.get(Instance, instance_id)
        person_id = instance.person_id if instance is not None else None
    target = f"task:{task_id}" if task_id is not None else (
        f"instance:{instance_id}" if instance_id is not None else None)
    append(session, at, actor, kind, person_id=person_id, target=target, **detail)


def entries(session: Session, *, person_id: int | None = None, actor: str | None = None,
            actions: list[str] | None = None, since: datetime | None = None,
            until: datetime | None = None, after_id: int | None = None,
            limit: int | None = None) -> list[AuditEvent]:
    """Audit rows, oldest first, narrowed by whichever filters are given."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if person_id is not None:
        query = query.where(AuditEvent.person_id == person_id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if actions:
        query = query.where(AuditEvent.action.in_(actions))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# --- sign-in attempts ------------------------------------------------------------------------------

def add_login_attempt(session: Session, at: datetime, username: str, origin: str | None, ok: bool) -> None:
    session.add(LoginAttempt(at=at, username=username, origin=origin, ok=ok))


def failures_since(session: Session, since: datetime, *, username: str | None = None,
                   origin: str | None = None) -> tuple[int, datetime | None]:
    """How many failed attempts since `since` (by username or by origin), and the latest one.
    A success for the username ends its run of failures."""
    query = select(func.count(LoginAttempt.id), func.max(LoginAttempt.at)).where(
        LoginAttempt.at >= since, LoginAttempt.ok.is_(False))
    if username is not None:
        last_ok = session.scalar(select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.ok.is_(True), LoginAttempt.at >= since))
        query = query.where(LoginAttempt.username == username)
        if last_ok is not None:
            query = query.where(LoginAttempt.at > last_ok)
    if origin is not None:
        query = query.where(LoginAttempt.origin == origin)
    count, latest = session.execute(query).one()
    return int(count or 0), latest
