"""Who does the work in a forecast, and how long a task takes them.

A staff file (YAML) states, per role and per role × org unit, how many people handle a queue
(`staff`, or `unlimited`) and how many working minutes one task takes them (`minutes`: a number,
or `[least, most likely, most]` for a triangular spread). The most specific statement wins:
the unit's, then the role's, then `default`:

    default: {staff: 1, minutes: 30}
    roles:
      education.teacher: {staff: 2, minutes: [10, 20, 40]}
    units:
      "510781001001":
        education.teacher: {staff: 3}

Where the file states no minutes for a queue, the handling times observed in the history of real
instances are drawn from (per task element, then per role); where there is no history either, a
task takes `FALLBACK_MINUTES`. Without a staff file every queue has unlimited staff.
"""
from __future__ import annotations

import difflib
import random
from dataclasses import dataclass
from pathlib import Path


from ..errors import InvalidInput
from . import read_yaml

FALLBACK_MINUTES = 30.0
KEYS = {"staff", "minutes"}


@dataclass(frozen=True)
class Handling:
    """How long one task takes, in working hours: fixed, triangular, or drawn from observations."""
    fixed: float | None = None
    triangle: tuple[float, float, float] | None = None
    observed: tuple[float, ...] = ()
    source: str = "fallback"          # "file", "history" or "fallback"

    def draw(self, rng: random.Random) -> float:
        if self.triangle is not None:
            low, mode, high = self.triangle
            return rng.triangular(low, high, mode)
        if self.observed:
            return rng.choice(self.observed)
        return self.fixed if self.fixed is not None else FALLBACK_MINUTES / 60


@dataclass(frozen=True)
class Queue:
    """One role at one org unit: its headcount (None: unlimited) and, if stated, its handling."""
    staff: int | None
    handling: Handling | None


class Staffing:
    """The staff file's statements (empty: unlimited staff everywhere), plus the history's
    handling times for what the file leaves open."""

    def __init__(self, default: dict | None = None, roles: dict | None = None, units: dict | None = None,
                 observed: dict | None = None, observed_by_role: dict | None = None, name: str | None = None):
        self.default = default or {}
        self.roles = roles or {}
        self.units = units or {}
        self.observed = observed or {}                    # (process, element) → [hours]
        self.observed_by_role = observed_by_role or {}    # role → [hours]
        self.name = name

    @classmethod
    def load(cls, path: str | Path, known_roles: set[str], known_units: set[str], **history) -> "Staffing":
        where = Path(path).name
        document = read_yaml(path, "人员配置文件", "staff file")
        if not isinstance(document, dict) or set(document) - {"default", "roles", "units"}:
            raise InvalidInput(f"{where}: 顶层只能有 default、roles、units 三个键"
                               f"（实为 {', '.join(map(str, document)) if isinstance(document, dict) else type(document).__name__}）")
        default = _statement(where, "default", document.get("default") or {})
        roles = {}
        for role, stated in _mapping(where, "roles", document.get("roles")).items():
            _known(where, f"roles.{role}", role, known_roles, "角色")
            roles[role] = _statement(where, f"roles.{role}", stated)
        units = {}
        for unit, by_role in _mapping(where, "units", document.get("units")).items():
            unit = str(unit)
            _known(where, f"units.{unit}", unit, known_units, "机构")
            units[unit] = {}
            for role, stated in _mapping(where, f"units.{unit}", by_role).items():
                _known(where, f"units.{unit}.{role}", role, known_roles, "角色")
                units[unit][role] = _statement(where, f"units.{unit}.{role}", stated)
        return cls(default, roles, units, name=where, **history)

    def queue(self, role: str, org: str) -> Queue:
        """The headcount and stated handling of role `role` at unit `org`."""
        merged = {**self.default, **self.roles.get(role, {}), **self.units.get(org, {}).get(role, {})}
        return Queue(merged.get("staff"), merged.get("minutes"))

    def handling(self, queue: Queue, process: str, element: str, role: str) -> Handling:
        if queue.handling is not None:
            return queue.handling
        observed = self.observed.get((process, element)) or self.observed_by_role.get(role)
        if observed:
            return Handling(observed=tuple(observed), source="history")
        return Handling(fixed=FALLBACK_MINUTES / 60)


def _mapping(where: str, key: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: {key} 应为键值表 (should be a mapping)")
    return value


def _known(where: str, key: str, code: str, known: set[str], what: str) -> None:
    if code not in known:
        close = difflib.get_close_matches(code, sorted(known), n=3)
        hint = f"；是否指 {'、'.join(close)}？" if close else ""
        raise InvalidInput(f"{where}: {key}：没有这个{what} {code} "
                           f"(unknown {'role' if what == '角色' else 'org unit'}){hint}")


def _statement(where: str, key: str, stated) -> dict:
    """{"staff": int | None, "minutes": Handling} for the keys stated."""
    if not isinstance(stated, dict) or set(stated) - KEYS:
        raise InvalidInput(f"{where}: {key} 应为 {{staff: 人数, minutes: 分钟}}"
                           f"（实为 {stated!r}）")
    out = {}
    if "staff" in stated:
        staff = stated["staff"]
        if staff == "unlimited":
            out["staff"] = None
        elif isinstance(staff, bool) or not isinstance(staff, int) or staff < 1:
            raise InvalidInput(f"{where}: {key}.staff 应为正整数或 unlimited（实为 {staff!r}）")
        else:
            out["staff"] = staff
    if "minutes" in stated:
        out["minutes"] = _minutes(where, f"{key}.minutes", stated["minutes"])
    return out


def _minutes(where: str, key: str, value) -> Handling:
    def number(v) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise InvalidInput(f"{where}: {key} 应为正数分钟，或 [最少, 最可能, 最多]（实为 {value!r}）")
        return float(v)
    if isinstance(value, list):
        if len(value) != 3:
            raise InvalidInput(f"{where}: {key} 应为三个数 [最少, 最可能, 最多]（实为 {value!r}）")
        low, mode, high = (number(v) for v in value)
        if not low <= mode <= high:
            raise InvalidInput(f"{where}: {key} 应满足 最少 ≤ 最可能 ≤ 最多（实为 {value!r}）")
        return Handling(triangle=(low / 60, mode / 60, high / 60), source="file")
    return Handling(fixed=number(value) / 60, source="file")
