"""SQL for consents and break-glass openings."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .models import BreakGlass, Consent, OrgUnit, Person
from .runtime import _prefix_pattern


def consents_of(session: Session, person_id: int) -> list[Consent]:
    return list(session.scalars(select(Consent).where(Consent.person_id == person_id).order_by(Consent.id)))


def add_consent(session: Session, **values) -> Consent:
    consent = Consent(**values)
    session.add(consent)
    session.flush()
    return consent


def open_break_glass(session: Session, username: str, person_id: int, now: datetime) -> BreakGlass | None:
    """This user's break-glass on this person that is still open at `now`, the latest if several."""
    return session.scalar(select(BreakGlass).where(
        BreakGlass.username == username, BreakGlass.person_id == person_id, BreakGlass.until > now)
        .order_by(BreakGlass.until.desc()).limit(1))


def add_break_glass(session: Session, **values) -> BreakGlass:
    row = BreakGlass(**values)
    session.add(row)
    session.flush()
    return row


def break_glass_under(session: Session, paths: list[str], since: datetime) -> list[tuple[BreakGlass, Person]]:
    """Break-glass openings since `since` on people living at or below any of `paths`, newest first."""
    if not paths:
        return []
    return list(session.execute(
        select(BreakGlass, Person).join(Person, Person.id == BreakGlass.person_id)
        .join(OrgUnit, OrgUnit.code == Person.org_code)
        .where(BreakGlass.opened_at >= since,
               or_(*(OrgUnit.path.like(_prefix_pattern(path), escape="\\") for path in paths)))
        .order_by(BreakGlass.opened_at.desc())).all())
