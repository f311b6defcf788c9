"""SQL for people and the instances that carry them."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Instance, Person


def person_by_ref(session: Session, ref: str) -> Person | None:
    return session.scalar(select(Person).where(Person.ref == ref))


def add_person(session: Session, **values) -> Person:
    person = Person(**values)
    session.add(person)
    session.flush()
    return person


def people_under(session: Session, org_path_prefix: str | None = None, limit: int = 100) -> list[Person]:
    from .models import OrgUnit
    query = select(Person).order_by(Person.ref).limit(limit)
    if org_path_prefix:
        query = query.join(OrgUnit, OrgUnit.code == Person.org_code).where(
            OrgUnit.path.startswith(org_path_prefix, autoescape=True))
    return list(session.scalars(query))


def instances_of_person(session: Session, person_id: int) -> list[Instance]:
    return list(session.scalars(select(Instance).where(Instance.person_id == person_id)
                                .order_by(Instance.started_at, Instance.id)))
