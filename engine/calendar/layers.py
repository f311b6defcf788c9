"""Calendar layers: imported day rules stacked on top of the national base.

A layer is one imported schedule: the State Council notice for a year (national, official), or a
province/city/county's local holidays and overrides (regional, keyed by an org-unit code).

Precedence when classifying a day for an org unit with ancestor chain
`["510000", "510700", "510781"]` (root first, unit last):

1. regional layers of the unit itself ("510781"), then of each ancestor going up ("510700",
   then "510000"); among layers of the same region, the one added last wins;
2. national layers (region None), the one added last first;
3. the package base (`engine.calendar.national`).

The first layer that *decides* a day wins. A layer decides a day when it has a rule for that date,
or, for a national layer only, when the day's year is in `layer.years`: such a layer is a complete
schedule for those years, so a date it does not list is an ordinary day (Monday-Friday work,
Saturday/Sunday off) and the package base is not consulted. `years` on a regional layer is kept as
information but never makes it decide unlisted days.

A result decided by a layer is provisional when the layer is not official.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Iterable, Literal, Sequence

DayKind = Literal["off", "work"]
DAY_KINDS: tuple[DayKind, ...] = ("off", "work")


@dataclass(frozen=True)
class DayInfo:
    """How one date is classified, and on what authority.

    `workday`: staff are expected at work that day. `provisional`: the answer rests on a projection
    or an unofficial layer and may change once the official schedule is imported. `source`: which
    data decided it (`official:chinese_calendar`, `projection:holidays`, or a layer's `tag`).
    `name`: the holiday or adjustment name (e.g. `国庆节`, `国庆节调休上班`), None for ordinary days.
    """
    workday: bool
    provisional: bool
    source: str
    name: str | None = None


@dataclass(frozen=True)
class DayRule:
    """One imported statement about one date: it is a day off, or a working day."""
    day: date
    kind: DayKind
    name: str

    @property
    def is_work(self) -> bool:
        return self.kind == "work"


def is_weekend(day: date) -> bool:
    """Saturday or Sunday."""
    return day.weekday() >= 5


@dataclass
class CalendarLayer:
    """An imported schedule. Treat it as immutable once it is given to a `Calendar`.

    `region`: org-unit code the layer applies to (None = national). `source`: where the data comes
    from (notice title, file). `official`: published by the competent authority; results decided by
    an unofficial layer are provisional. `rules`: the listed dates. `years`: years a *national*
    layer covers completely (see the module docstring).
    """
    region: str | None
    source: str
    official: bool
    rules: dict[date, DayRule] = field(default_factory=dict)
    years: set[int] = field(default_factory=set)

    @property
    def tag(self) -> str:
        """The source reported in `DayInfo`: `official:[region:]source` or `unofficial:…`."""
        authority = "official" if self.official else "unofficial"
        if self.region is None:
            return f"{authority}:{self.source}"
        return f"{authority}:{self.region}:{self.source}"

    def covers_year(self, year: int) -> bool:
        """Whether this layer is the complete schedule for `year` (national layers only)."""
        return self.region is None and year in self.years

    def decide(self, day: date) -> DayInfo | None:
        """This layer's answer for `day`, or None when it has nothing to say about it."""
        rule = self.rules.get(day)
        if rule is not None:
            return DayInfo(rule.is_work, not self.official, self.tag, rule.name)
        if self.covers_year(day.year):
            return DayInfo(not is_weekend(day), not self.official, self.tag, None)
        return None


def layers_for_chain(layers: Iterable[CalendarLayer],
                     chain: Sequence[str]) -> tuple[CalendarLayer, ...]:
    """The layers that apply to an org unit, most authoritative first (see module docstring).

    `chain` lists org-unit codes from the root down to the unit; regional layers of units outside
    the chain are left out.
    """
    ordered = list(layers)
    chosen: list[CalendarLayer] = []
    for region in dict.fromkeys(reversed(chain)):
        chosen.extend(layer for layer in reversed(ordered) if layer.region == region)
    chosen.extend(layer for layer in reversed(ordered) if layer.region is None)
    return tuple(chosen)
