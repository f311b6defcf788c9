"""Reading a person's data through the tier rules, consent and break-glass; every read audited.

The read services of people, instances and tasks call `reading_for` to learn which tiers the
user reads, `split_by_tier` (engine.privacy.tiers) to hold back the rest, and `audit_read` to log
the read — and, when a tier was held back for want of consent, the refused share.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from ..bpmn.xmlsafe import UnsafeXmlError, parse_xml
from ..calendars import chain_of
from ..errors import InvalidInput, NotFound, PermissionDenied
from ..store import audit as audit_repo
from ..store import directory as directory_repo
from ..store import privacy as repo
from ..store.models import BpmnSource, Person, PathwayVersion
from .rules import ConsentView, Reading, may_break_glass, may_manage_consent, reading
from .tiers import TIERS, DataTiers, declared_tiers

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MIN_REASON = 10
MAX_TEXT = 2000


# --- which tier each variable carries ----------------------------------------------------------

def tier_properties(source: bytes) -> list[tuple[str, str, str]]:
    """(process id, property name, value) of every `tier`/`tier.*` property on a process."""
    try:
        root = parse_xml(source)
    except UnsafeXmlError:
        return []
    found = []
    for process in root.iter(f"{{{BPMN}}}process"):
        for prop in process.findall(f"{{{BPMN}}}extensionElements/{{{CAMUNDA}}}properties/{{{CAMUNDA}}}property"):
            name = prop.get("name") or ""
            if name == "tier" or name.startswith("tier."):
                found.append((process.get("id") or "", name, prop.get("value") or ""))
    return found


def data_tiers(ctx, session, version_id: int) -> DataTiers:
    """The tier of each variable of a deployed version (cached: versions never change)."""
    cached = ctx.tier_cache.get(version_id)
    if cached is None:
        version = session.get(PathwayVersion, version_id)
        source = session.get(BpmnSource, version.source_sha256)
        cached, _problems = declared_tiers(tier_properties(source.content), version.forms or {})
        ctx.tier_cache[version_id] = cached
    return cached


# --- who reads what -------------------------------------------------------------------------------

def _consents(session, person_id: int) -> list[ConsentView]:
    return [ConsentView(c.id, frozenset(c.agencies), frozenset(c.tiers), c.valid_from, c.until, c.revoked_at)
            for c in repo.consents_of(session, person_id)]


def reading_for(ctx, session, username: str, person: Person | None, units: Iterable[str],
                named: bool = False) -> Reading:
    """What `username` reads of `person`'s data at the org paths `units` now. Someone named on
    one of the record's tasks (`named`) reads its basic information whatever their roles."""
    now = ctx.clock.now()
    grants = directory_repo.user_grants(session, username)
    opened = repo.open_break_glass(session, username, person.id, now) if person is not None else None
    found = reading(grants, directory_repo.role_tiers(session), units,
                    _consents(session, person.id) if person is not None else (), now,
                    (opened.id, opened.until) if opened is not None else None)
    if named and "basic" not in found.tiers:
        found = Reading(found.tiers | {"basic"}, {**found.basis, "basic": "task"}, found.refused,
                        found.break_glass)
    return found


def audit_read(ctx, session, username: str, person_id: int | None, target: str, found: Reading,
               hidden: dict[str, int] | None = None) -> None:
    """Log a read of a person's record: which tiers were shown and on what basis; and for each
    tier held back because no consent covers the reader's agency, a refused share."""
    now = ctx.clock.now()
    audit_repo.append(session, now, username, "read", person_id=person_id, target=target,
                      tiers=sorted(found.tiers), basis=dict(found.basis),
                      **({"break_glass": found.break_glass} if found.break_glass else {}))
    for agency, tier in sorted(found.refused):
        if (hidden or {}).get(tier):
            audit_repo.append(session, now, username, "share_refused", person_id=person_id, target=target,
                              agency=agency, tier=tier, values=hidden[tier])


def person_units(session, person: Person) -> list[str]:
    unit = directory_repo.org_unit(session, person.org_code)
    return [unit.path] if unit is not None else []


def _person(session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"人员 {person_id} 不存在")
    return person


# --- consent --------------------------------------------------------------------------------------

def consent_dict(consent, now: datetime) -> dict:
    state = "revoked" if consent.revoked_at else (
        "pending" if now < consent.valid_from else ("expired" if now >= consent.until else "in_force"))
    return {"id": consent.id, "agencies": list(consent.agencies), "tiers": list(consent.tiers),
            "valid_from": consent.valid_from, "until": consent.until, "basis": consent.basis,
            "recorded_by": consent.recorded_by, "recorded_at": consent.recorded_at,
            "revoked_at": consent.revoked_at, "revoked_by": consent.revoked_by,
            "revoke_reason": consent.revoke_reason, "state": state}


def _manageable(ctx, session, person_id: int, username: str) -> Person:
    person = _person(session, person_id)
    if not may_manage_consent(reading_for(ctx, session, username, person, person_units(session, person))):
        raise PermissionDenied("只有本辖区内可查看此人基本信息的工作人员可以登记或撤回授权")
    return person


def record_consent(ctx, person_id: int, username: str, agencies: list[str], tiers: list[str],
                   until: datetime, basis: str, valid_from: datetime | None = None) -> dict:
    """Record that the person authorizes `agencies` to read `tiers` of their data until `until`."""
    from ..agencies import AGENCIES
    now = ctx.clock.now()
    agencies = sorted({str(a) for a in agencies or []})
    tiers = sorted({str(t) for t in tiers or []})
    basis = (basis or "").strip()
    valid_from = valid_from or now
    unknown = [a for a in agencies if a not in AGENCIES]
    if not agencies or unknown:
        raise InvalidInput(f"请选择被授权的部门（未知部门：{', '.join(unknown)}）" if unknown else "请选择被授权的部门")
    bad = [t for t in tiers if t not in TIERS or t == "basic"]
    if not tiers or bad:
        raise InvalidInput("授权的信息分级应为 clinical（临床信息）和/或 case（案件相关信息）"
                           + (f"，而不是 {', '.join(bad)}" if bad else ""))
    if until <= max(now, valid_from):
        raise InvalidInput("授权截止时间必须晚于生效时间和当前时间")
    if not basis or len(basis) > MAX_TEXT:
        raise InvalidInput(f"请填写授权依据（如书面授权书编号），不超过 {MAX_TEXT} 个字符")
    with ctx.db.unit_of_work() as session:
        person = _manageable(ctx, session, person_id, username)
        consent = repo.add_consent(session, person_id=person.id, agencies=agencies, tiers=tiers,
                                   valid_from=valid_from, until=until, basis=basis, recorded_by=username,
                                   recorded_at=now)
        audit_repo.append(session, now, username, "consent_recorded", person_id=person.id,
                          target=f"consent:{consent.id}", agencies=agencies, tiers=tiers,
                          until=until.isoformat())
        return consent_dict(consent, now)


def revoke_consent(ctx, person_id: int, consent_id: int, username: str, reason: str) -> dict:
    now = ctx.clock.now()
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_TEXT:
        raise InvalidInput(f"请填写撤回原因，不超过 {MAX_TEXT} 个字符")
    with ctx.db.unit_of_work() as session:
        person = _manageable(ctx, session, person_id, username)
        consent = next((c for c in repo.consents_of(session, person.id) if c.id == consent_id), None)
        if consent is None:
            raise NotFound(f"授权 {consent_id} 不存在")
        if consent.revoked_at is None:
            consent.revoked_at, consent.revoked_by, consent.revoke_reason = now, username, reason
            audit_repo.append(session, now, username, "consent_revoked", person_id=person.id,
                              target=f"consent:{consent.id}", reason=reason)
        return consent_dict(consent, now)


def consents_of(ctx, session, person_id: int) -> list[dict]:
    now = ctx.clock.now()
    return [consent_dict(c, now) for c in reversed(repo.consents_of(session, person_id))]


# --- break-glass ----------------------------------------------------------------------------------

def offers_break_glass(ctx, username: str) -> bool:
    """Whether this user's roles read person data somewhere, so break-glass is theirs to use."""
    with ctx.db.unit_of_work() as session:
        return may_break_glass(directory_repo.user_grants(session, username), directory_repo.role_tiers(session))


def break_glass(ctx, person_id: int, username: str, reason: str) -> dict:
    """Open a person's record outside the user's scope for `break_glass_minutes`, with a stated
    reason; the supervisors over the person's unit are told at once."""
    from ..notify import notify
    from ..store.escalation import members
    now = ctx.clock.now()
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON or len(reason) > MAX_TEXT:
        raise InvalidInput(f"紧急查看必须说明原因（{MIN_REASON}–{MAX_TEXT} 个字符）")
    with ctx.db.unit_of_work() as session:
        grants = directory_repo.user_grants(session, username)
        if not may_break_glass(grants, directory_repo.role_tiers(session)):
            raise PermissionDenied("您的岗位不能查看服务对象的信息，不能紧急查看")
        person = session.get(Person, person_id)
        if person is None:
            audit_repo.append(session, now, username, "break_glass_refused", target=f"person:{person_id}",
                              reason=reason)
            raise NotFound(f"人员 {person_id} 不存在")
        until = now + timedelta(minutes=ctx.settings.break_glass_minutes)
        row = repo.add_break_glass(session, username=username, person_id=person.id, reason=reason,
                                   opened_at=now, until=until, origin=audit_repo.ORIGIN.get())
        audit_repo.append(session, now, username, "break_glass", person_id=person.id,
                          target=f"person:{person.id}", reason=reason, until=until.isoformat())
        units = person_units(session, person)
        chain = chain_of(units[0]) if units else []
        agencies = {role.split(".", 1)[0] for role, _ in grants} | {"health"}
        supervisors = [name for name, _, _ in members(session, [f"{a}.supervisor" for a in sorted(agencies)], chain)]
        who = directory_repo.get_user(session, username)
        notify(session, now, [s for s in supervisors if s != username], "break_glass", "紧急查看服务对象记录",
               f"{who.name if who else username} 以紧急查看方式打开了服务对象 {person.ref} 的记录，"
               f"至 {ctx.clock.local(until).strftime('%Y-%m-%d %H:%M')}。原因：{reason}",
               link={"person": person.id, "break_glass": row.id}, dedupe_key=f"break_glass:{row.id}")
        return {"id": row.id, "person": person.id, "until": until, "reason": reason}
