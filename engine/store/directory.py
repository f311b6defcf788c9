"""SQL for the directory: org units, roles, users, memberships."""
from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from .models import HumanTask, Membership, OrgUnit, Role, User


def upsert_role(session: Session, code: str, name: str, tiers: list[str] | None = None) -> None:
    role = session.get(Role, code)
    if role is None:
        session.add(Role(code=code, name=name, tiers=tiers))
    else:
        role.name, role.tiers = name, tiers


def role_tiers(session: Session) -> dict[str, list[str] | None]:
    """Role code → the tiers of person data it reads (None: basic only)."""
    return {code: tiers for code, tiers in session.execute(select(Role.code, Role.tiers))}


def upsert_org_unit(session: Session, code: str, name: str, level: str,
                    parent_code: str | None, path: str) -> None:
    unit = session.get(OrgUnit, code)
    if unit is None:
        session.add(OrgUnit(code=code, name=name, level=level, parent_code=parent_code, path=path))
    else:
        unit.name, unit.level, unit.parent_code, unit.path = name, level, parent_code, path
    session.flush()


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def upsert_user(session: Session, username: str, name: str, password_hash: str | None,
                active: bool | None = None) -> User:
    """Create the user (active unless `active` is False) or update their name, and their active
    flag and password hash only when given."""
    user = get_user(session, username)
    if user is None:
        user = User(username=username, name=name, password_hash=password_hash or "!", active=active is not False)
        session.add(user)
    else:
        user.name = name
        if active is not None:
            user.active = active
        if password_hash is not None:
            user.password_hash = password_hash
    session.flush()
    return user


def replace_memberships(session: Session, user: User, pairs: list[tuple[str, str]]) -> None:
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    for role_code, org_code in sorted(set(pairs)):
        session.add(Membership(user_id=user.id, role_code=role_code, org_code=org_code))


def org_unit(session: Session, code: str) -> OrgUnit | None:
    return session.get(OrgUnit, code)


def all_roles(session: Session) -> list[Role]:
    return list(session.scalars(select(Role).order_by(Role.code)))


def role_names(session: Session) -> dict[str, str]:
    """Role code → name, in code order (plain rows: cheaper than loading `Role` objects)."""
    return dict(session.connection().execute(_ROLE_NAMES).all())


def org_unit_brief(session: Session, code: str):
    """(code, name, level, parent_code, path) of an org unit as a plain row, or None: what routing
    reads of a unit, without loading an `OrgUnit` object."""
    return session.connection().execute(_UNIT_BRIEF, {"code": code}).first()


# Built once, on the tables (every start runs them): through the ORM, or made afresh per call,
# these statements cost several times what running them does.
_units = OrgUnit.__table__.c
_UNIT_BRIEF = select(_units.code, _units.name, _units.level, _units.parent_code, _units.path) \
    .where(_units.code == bindparam("code"))
_ROLE_NAMES = select(Role.__table__.c.code, Role.__table__.c.name).order_by(Role.__table__.c.code)


def user_grants(session: Session, username: str) -> list[tuple[str, str]]:
    """(role code, org path) for each membership of an active user."""
    rows = session.execute(
        select(Membership.role_code, OrgUnit.path)
        .join(User, User.id == Membership.user_id)
        .join(OrgUnit, OrgUnit.code == Membership.org_code)
        .where(User.username == username, User.active.is_(True)))
    return [(role, path) for role, path in rows]


def memberships_of(session: Session, username: str) -> list[tuple[str, str, str, str, str]]:
    """(role code, role name, org code, org name, org level) of an active user's memberships."""
    rows = session.execute(
        select(Membership.role_code, Role.name, OrgUnit.code, OrgUnit.name, OrgUnit.level)
        .join(User, User.id == Membership.user_id)
        .join(Role, Role.code == Membership.role_code)
        .join(OrgUnit, OrgUnit.code == Membership.org_code)
        .where(User.username == username, User.active.is_(True))
        .order_by(OrgUnit.path, Membership.role_code))
    return [tuple(row) for row in rows]


# --- accounts ----------------------------------------------------------------------------------

def all_users(session: Session) -> list[User]:
    """Every user, active or disabled (users are disabled, never deleted), by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def set_password_hash(session: Session, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    user.active = active
    session.flush()


def claimed_by(session: Session, username: str) -> list[HumanTask]:
    """The tasks a user holds (claimed by them, or assigned to them by name), oldest first."""
    return list(session.scalars(select(HumanTask).where(
        HumanTask.status == "claimed", HumanTask.assignee == username).order_by(HumanTask.id)))
