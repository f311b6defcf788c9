"""What a forecast works with, read from the source database before it starts: the pathway's
newest version, the gateways of every deployed process and their odds, who staffs each queue and
how long tasks take, and where people arrive. History (the source's real instances) fills in
what the plan does not state."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInput
from ..pathways import latest_version_or_fail
from ..store.directory import role_names
from ..store import forecast as repo
from . import history
from .branching import exclusive_gateways, gateways_after_tasks, load_branches
from .staff import Staffing

LEVELS = ("province", "city", "county", "township", "village")


@dataclass
class Setting:
    pathway_name: str
    version: int
    processes: set[str]
    odds: dict
    branches: str                       # "history", "file" or "data"
    passages: dict                      # gateway → passages history counted (history odds only)
    staffing: Staffing
    gateways: dict                      # (process, gateway) → Gateway
    after: dict                         # (process, user task) → (process, gateway) it leads to, with odds
    org: str                            # the unit the forecast covers
    level: str
    start_units: dict[str, float]       # unit code → weight of arrivals there
    units: dict[str, tuple[str, str, str]] = field(default_factory=dict)   # code → (name, level, path)
    role_names: dict[str, str] = field(default_factory=dict)


def prepare(source, plan) -> Setting:
    with source.db.unit_of_work() as session:
        version = latest_version_or_fail(session, plan.pathway)
        sources = repo.latest_sources(session)
        units = repo.units(session)
        names = role_names(session)
    processes = set(sources)
    gateways, after = {}, {}
    for content in {content for _, content in sources.values()}:
        gateways.update(exclusive_gateways(content))
        after.update(gateways_after_tasks(content))
    odds, passages, branches = _odds(source, plan, processes, gateways)
    after = {task: gateway for task, gateway in after.items() if gateway in odds}
    observed, by_role = history.observed_hours(source, processes)
    if plan.staff:
        staffing = Staffing.load(plan.staff, set(names), set(units), observed=observed, observed_by_role=by_role)
    else:
        staffing = Staffing(observed=observed, observed_by_role=by_role)
    org, level, start_units = _arrival_units(source, plan, units)
    return Setting(sources[plan.pathway][0] or plan.pathway, version.version, processes, odds, branches,
                   passages, staffing, gateways, after, org, level, start_units, units, names)


def _odds(source, plan, processes: set[str], gateways: dict) -> tuple[dict, dict, str]:
    if plan.branches == "data":
        return {}, {}, "data"
    if plan.branches == "history":
        odds, passages = history.branch_odds(source, processes, gateways)
        return odds, passages, "history"
    return load_branches(Path(plan.branches), gateways), {}, "file"


def _arrival_units(source, plan, units: dict) -> tuple[str, str, dict[str, float]]:
    """(covered unit, start level, arrival weights): uniform over the level's units under
    `--org`; without it, where history started the pathway; without history, every unit of the
    level in the region."""
    level = plan.level or history.start_level(source, plan.pathway) or "village"
    if level not in LEVELS:
        raise InvalidInput(f"--level {level} 无效，可选 {'、'.join(LEVELS)}")
    roots = sorted(units, key=lambda code: units[code][2].count("/"))
    if not roots:
        raise InvalidInput("数据库中没有机构：请先导入区域目录 (load the directory first)")
    if plan.org is not None:
        if plan.org not in units:
            raise InvalidInput(f"--org {plan.org}：没有这个机构 (unknown org unit)")
        weights = _level_under(units, units[plan.org][2], level)
        if not weights:
            raise InvalidInput(f"机构 {plan.org}（{units[plan.org][0]}）下没有 {level} 级机构可作起点")
        return plan.org, level, weights
    counts = {code: float(n) for code, n in history.start_units(source, plan.pathway).items() if code in units}
    if counts and not plan.level:
        return roots[0], level, counts
    weights = _level_under(units, units[roots[0]][2], level)
    if not weights:
        raise InvalidInput(f"区域中没有 {level} 级机构可作起点 (no {level} units)")
    return roots[0], level, weights


def _level_under(units: dict, path: str, level: str) -> dict[str, float]:
    return {code: 1.0 for code, (_, unit_level, unit_path) in units.items()
            if unit_level == level and unit_path.startswith(path)}
