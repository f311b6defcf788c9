"""The directory: who works where, in which role.

Org units form a tree (province → city → county → township → village) identified by codes such as
administrative division codes. Roles are dotted codes (`health.mh_center_expert`) with a display
name. Users hold (role, org unit) memberships; a membership covers that unit and everything below.

`load_directory` reads the YAML format documented in README.md and is idempotent: loading the same
file twice leaves the same rows, and a user's memberships become exactly those in the file.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .notify import PreferenceError, parse_preferences, set_preferences
from .privacy.tiers import TIERS
from .store import directory as repo
from .store.db import Database

LEVELS = ("province", "city", "county", "township", "village")
_ROLE_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_ORG_CODE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_hasher = PasswordHasher()


class DirectoryError(ValueError):
    """The directory file is not valid; the message says what and where."""


@dataclass
class DirectoryReport:
    roles: int = 0
    org_units: int = 0
    users: int = 0
    memberships: int = 0
    problems: list[str] = field(default_factory=list)


def org_path(parent_path: str | None, code: str) -> str:
    """The materialized path of a unit: `/510000/510700/510781/`."""
    return f"{parent_path or '/'}{code}/"


def covers(membership_path: str, task_org_path: str) -> bool:
    """Jurisdiction: a membership at X covers X and every unit below X."""
    return task_org_path.startswith(membership_path)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with other parameters than this deployment's (argon2's own check)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _flatten_units(units, parent: tuple[str, str, int] | None, out: list, where: str) -> None:
    if not isinstance(units, list):
        raise DirectoryError(f"{where}: org_units must be a list")
    for index, unit in enumerate(units):
        here = f"{where}[{index}]"
        if not isinstance(unit, dict):
            raise DirectoryError(f"{here}: expected a mapping with code, name, level")
        code, name, level = str(unit.get("code", "")), unit.get("name"), unit.get("level")
        if not _ORG_CODE.match(code):
            raise DirectoryError(f"{here}: invalid org unit code {code!r}")
        if not name:
            raise DirectoryError(f"{here} ({code}): missing name")
        if level not in LEVELS:
            raise DirectoryError(f"{here} ({code}): level must be one of {', '.join(LEVELS)}, got {level!r}")
        depth = LEVELS.index(level)
        if parent is not None and depth <= parent[2]:
            raise DirectoryError(
                f"{here} ({code}): level {level} cannot sit under {LEVELS[parent[2]]} unit {parent[0]}")
        path = org_path(parent[1] if parent else None, code)
        out.append((code, str(name), level, parent[0] if parent else None, path))
        _flatten_units(unit.get("children", []) or [], (code, path, depth), out, f"{here}.children")


def parse_directory(text: str, source: str = "directory") -> dict:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise DirectoryError(f"{source}{line}: not valid YAML: {getattr(err, 'problem', err)}") from err
    if not isinstance(data, dict):
        raise DirectoryError(f"{source}: expected a mapping with roles, org_units, users")
    roles = data.get("roles", []) or []
    for index, role in enumerate(roles):
        if not isinstance(role, dict) or not _ROLE_CODE.match(str(role.get("code", ""))):
            raise DirectoryError(f"{source}: roles[{index}]: role code must be dotted, like health.supervisor")
        if not role.get("name"):
            raise DirectoryError(f"{source}: roles[{index}] ({role['code']}): missing name")
        tiers = role.get("tiers")
        if tiers is not None and (not isinstance(tiers, list) or any(t not in TIERS for t in tiers)):
            raise DirectoryError(f"{source}: roles[{index}] ({role['code']}): tiers must be a list of "
                                 f"{', '.join(TIERS)}, got {tiers!r}")
    units: list = []
    _flatten_units(data.get("org_units", []) or [], None, units, f"{source}: org_units")
    codes = [u[0] for u in units]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise DirectoryError(f"{source}: duplicate org unit codes: {', '.join(duplicates)}")
    users = data.get("users", []) or []
    for index, user in enumerate(users):
        if not isinstance(user, dict) or not user.get("username"):
            raise DirectoryError(f"{source}: users[{index}]: missing username")
    return {"roles": roles, "units": units, "users": users}


def load_directory(db: Database, path: str | Path) -> DirectoryReport:
    """Load a directory YAML file into the database, idempotently, in one transaction."""
    path = Path(path)
    parsed = parse_directory(path.read_text(encoding="utf-8"), str(path))
    report = DirectoryReport()
    with db.unit_of_work() as session:
        for role in parsed["roles"]:
            repo.upsert_role(session, role["code"], role["name"], role.get("tiers"))
            report.roles += 1
        for code, name, level, parent, upath in parsed["units"]:
            repo.upsert_org_unit(session, code, name, level, parent, upath)
            report.org_units += 1
        session.flush()
        known_roles = {r.code for r in repo.all_roles(session)}
        for index, entry in enumerate(parsed["users"]):
            username = str(entry["username"])
            pairs = []
            for m_index, membership in enumerate(entry.get("roles", []) or []):
                role, org = membership.get("role"), str(membership.get("org", ""))
                where = f"{path}: users[{index}] ({username}).roles[{m_index}]"
                if role not in known_roles:
                    raise DirectoryError(f"{where}: unknown role {role!r}")
                if repo.org_unit(session, org) is None:
                    raise DirectoryError(f"{where}: unknown org unit {org!r}")
                pairs.append((role, org))
            # A file's password sets a new user's first password only, and a user is disabled or
            # enabled again only when the file says so: loading the file again never undoes a
            # password change or `carepath user disable`.
            existing = repo.get_user(session, username)
            password = entry.get("password")
            new_hash = hash_password(str(password)) if password is not None and existing is None else None
            user = repo.upsert_user(session, username, str(entry.get("name") or username), new_hash,
                                    active=bool(entry["active"]) if "active" in entry else None)
            repo.replace_memberships(session, user, pairs)
            if any(key in entry for key in ("email", "webhook", "notify")):
                try:
                    set_preferences(session, username, parse_preferences(entry))
                except PreferenceError as err:
                    raise DirectoryError(f"{path}: users[{index}] ({username}): {err}") from err
            report.users += 1
            report.memberships += len(set(pairs))
    return report


SERVICE_PREFIX = "api:"      # usernames of API clients' service accounts (engine/apiclients.py)


def is_service_account(username: str) -> bool:
    """An API client's service account, not a person: it never signs in, and the escalation
    ladder neither counts it as a supervisor nor notifies it."""
    return username.startswith(SERVICE_PREFIX)


def authenticate(session, username: str, password: str):
    """The active user whose password this is, else None; its hash is renewed on the way when
    the hashing parameters changed since it was made (argon2's `check_needs_rehash`).

    An unknown or disabled user costs a hash verification too, so timing does not tell which
    names exist."""
    user = repo.get_user(session, (username or "").strip())
    # An API client's service account (`api:…`) never signs in; it costs a verification too.
    usable = user is not None and user.active and not is_service_account(user.username)
    stored = user.password_hash if usable else _dummy_hash()
    if not verify_password(stored, password or "") or not usable:
        return None
    if needs_rehash(user.password_hash):
        repo.set_password_hash(session, user, hash_password(password))
    return user


def profile(session, username: str) -> dict | None:
    """Who a signed-in user is: name and memberships (role and unit, with display names)."""
    user = repo.get_user(session, username)
    if user is None or not user.active:
        return None
    return {"username": user.username, "name": user.name,
            "memberships": [{"role": role, "role_name": role_name, "org": org, "org_name": org_name,
                             "level": level}
                            for role, role_name, org, org_name, level in repo.memberships_of(session, username)]}


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("carepath: no such user")
