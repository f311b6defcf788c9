"""The audit log (append-only, enforced by the database) and sign-in attempts: their tables and SQL.

`ORIGIN` is where the current actor acts from — "web 10.0.0.7" set by the web layer for each
request, "cli" by the command line, "worker" by background workers — written with every audit
row so that no service has to pass it along."""
from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, and_, exists, false, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .models import Base, Instance, Membership, OrgUnit, Person, User
from .types import UTCDateTime

ORIGIN: ContextVar[str | None] = ContextVar("carepath_origin", default=None)


class AuditEvent(Base):
    """Append-only record of who did or read what, when and from where: reads of person records
    and clinical data, writes, assignments, escalation actions, deploys, sign-ins. `origin` is
    where the actor acted from ("web 10.0.0.7", "cli", "worker")."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str | None] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    origin: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class LoginAttempt(Base):
    """One sign-in attempt, kept to throttle guessing by username and by origin."""
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    username: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str | None] = mapped_column(String(200))
    ok: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (Index("ix_login_attempts_user", "username", "at"),
                      Index("ix_login_attempts_origin", "origin", "at"))


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
    session.add(AuditEvent(at=at, actor=actor, action=kind, person_id=person_id, target=target,
                           origin=ORIGIN.get(), detail=detail))


def entries(session: Session, *, person_id: int | None = None, actor: str | None = None,
            actions: list[str] | None = None, since: datetime | None = None,
            until: datetime | None = None, after_id: int | None = None,
            limit: int | None = None, before_id: int | None = None,
            scope_paths: list[str] | None = None, newest_first: bool = False) -> list[AuditEvent]:
    """Audit rows, oldest first (or newest first), narrowed by whichever filters are given; with
    `scope_paths`, only the rows a supervisor at those org paths reads (see `in_scope`)."""
    return list(session.scalars(_narrowed(
        select(AuditEvent), person_id=person_id, actor=actor, actions=actions, since=since,
        until=until, after_id=after_id, before_id=before_id, scope_paths=scope_paths,
        newest_first=newest_first, limit=limit)))


def entries_with_names(session: Session, **filters) -> list[tuple[AuditEvent, Person | None, str | None]]:
    """`entries` (same filters), each with its person (None when the row is about no one) and
    the actor's display name (None for an unknown or absent actor)."""
    query = (select(AuditEvent, Person, User.name)
             .outerjoin(Person, Person.id == AuditEvent.person_id)
             .outerjoin(User, User.username == AuditEvent.actor))
    return [tuple(row) for row in session.execute(_narrowed(query, **filters))]


def in_scope(paths: list[str]):
    """The rows a supervisor at any of `paths` reads: those about a person living at or below one
    of them, and those about no one whose actor holds a membership at or below one of them
    (engine.audit.can_read_audit says the same, without SQL)."""
    if not paths:
        return false()

    def under(column):
        return or_(*(column.startswith(path, autoescape=True) for path in paths))

    person_under = exists().where(Person.id == AuditEvent.person_id, OrgUnit.code == Person.org_code,
                                  under(OrgUnit.path))
    actor_under = exists().where(User.username == AuditEvent.actor, Membership.user_id == User.id,
                                 OrgUnit.code == Membership.org_code, under(OrgUnit.path))
    return or_(and_(AuditEvent.person_id.is_not(None), person_under),
               and_(AuditEvent.person_id.is_(None), actor_under))


def _narrowed(query, *, person_id=None, actor=None, actions=None, since=None, until=None, after_id=None,
              before_id=None, scope_paths=None, newest_first=False, limit=None):
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
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if scope_paths is not None:
        query = query.where(in_scope(scope_paths))
    query = query.order_by(AuditEvent.id.desc() if newest_first else AuditEvent.id)
    if limit is not None:
        query = query.limit(limit)
    return query


# --- sign-in attempts ------------------------------------------------------------------------------

def add_login_attempt(session: Session, at: datetime, username: str, origin: str | None, ok: bool) -> None:
    session.add(LoginAttempt(at=at, username=username[:100], origin=origin[:200] if origin else origin, ok=ok))
    session.flush()


def recent_failures(session: Session, now: datetime, since: datetime, limit: int, *,
                    username: str | None = None, origin: str | None = None) -> list[datetime]:
    """The times of the latest failed attempts in [since, now] (for a username or for an
    origin), newest first, at most `limit`. A success for the username ends its run of failures:
    only the failures after its latest success count."""
    query = select(LoginAttempt.at).where(LoginAttempt.ok.is_(False), LoginAttempt.at >= since,
                                          LoginAttempt.at <= now)
    if username is not None:
        last_ok = session.scalar(select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.ok.is_(True), LoginAttempt.at <= now))
        query = query.where(LoginAttempt.username == username)
        if last_ok is not None:
            query = query.where(LoginAttempt.at > last_ok)
    if origin is not None:
        query = query.where(LoginAttempt.origin == origin)
    return list(session.scalars(query.order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc()).limit(limit)))
