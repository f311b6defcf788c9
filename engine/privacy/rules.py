"""Which tiers of one person's data one user reads: pure predicates, no I/O.

A user reads a tier of a person's record through a role they hold at or above one of the units
the record sits at (the person's, or an instance's or task's they are looking at) whose tiers
include it (`Role.tiers`). A role of an agency that does not own the tier (clinical is health's,
case is justice's; basic is everyone's) reads it only while the person's consent covers that
agency and tier; otherwise the tier is refused, and the refusal is logged by the caller. An open
break-glass gives every tier, until it ends.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..agencies import agency_of
from ..directory import covers
from .tiers import DEFAULT_ROLE_TIERS, TIERS, is_native


@dataclass(frozen=True)
class ConsentView:
    id: int
    agencies: frozenset[str]
    tiers: frozenset[str]
    valid_from: datetime
    until: datetime
    revoked_at: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        return self.revoked_at is None and self.valid_from <= now < self.until

    def covers(self, agency: str, tier: str, now: datetime) -> bool:
        return self.in_force(now) and agency in self.agencies and tier in self.tiers


@dataclass(frozen=True)
class Reading:
    """What one user reads of one person's record now, and on what basis."""
    tiers: frozenset[str] = frozenset()
    basis: Mapping[str, str] = field(default_factory=dict)     # tier → "role" | "consent:<id>" | "break_glass:<id>"
    refused: frozenset[tuple[str, str]] = frozenset()         # (agency, tier) no consent covers
    break_glass: int | None = None

    def may(self, tier: str) -> bool:
        return tier in self.tiers


def reading(grants: Iterable[tuple[str, str]], role_tiers: Mapping[str, Iterable[str] | None],
            units: Iterable[str], consents: Iterable[ConsentView] = (), now: datetime | None = None,
            break_glass: tuple[int, datetime] | None = None) -> Reading:
    """The tiers a holder of `grants` reads of a record sitting at org paths `units`.

    `role_tiers` maps a role code to its tiers (None: basic only); `break_glass` is the id and
    end of an open break-glass of this user on this person."""
    if break_glass is not None and now is not None and now < break_glass[1]:
        return Reading(frozenset(TIERS), {tier: f"break_glass:{break_glass[0]}" for tier in TIERS},
                       frozenset(), break_glass[0])
    units = [unit for unit in units if unit]
    consents = [c for c in consents if now is not None and c.in_force(now)]
    basis: dict[str, str] = {}
    refused: set[tuple[str, str]] = set()
    for role, path in grants:
        if not any(covers(path, unit) for unit in units):
            continue
        agency = agency_of(role)
        declared = role_tiers.get(role)
        for tier in (DEFAULT_ROLE_TIERS if declared is None else declared):
            if tier not in TIERS:
                continue
            if is_native(agency, tier):
                basis[tier] = "role"
                continue
            consent = next((c for c in consents if c.covers(agency, tier, now)), None)
            if consent is not None:
                basis.setdefault(tier, f"consent:{consent.id}")
            else:
                refused.add((agency, tier))
    refused = {(agency, tier) for agency, tier in refused if tier not in basis}
    return Reading(frozenset(basis), basis, frozenset(refused))


def may_break_glass(grants: Iterable[tuple[str, str]], role_tiers: Mapping[str, Iterable[str] | None]) -> bool:
    """Break-glass is for staff whose roles read person data somewhere (not analysts)."""
    return any(list(DEFAULT_ROLE_TIERS if role_tiers.get(role) is None else role_tiers[role])
               for role, _ in grants)


def may_manage_consent(reading_: Reading) -> bool:
    """Consent is recorded and revoked by staff who read the person's basic information through
    their own roles (not through break-glass)."""
    return reading_.basis.get("basic") == "role"
