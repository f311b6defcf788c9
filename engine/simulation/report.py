"""A forecast's result: what its database holds at the end of the period, plus the queue lengths
counted at each day's close. JSON-safe (dates as ISO text), stored as it is (`simulations`) and
written as CSV (`load_csv`)."""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import datetime, timedelta

from ..agencies import agency_of
from ..audit import spreadsheet_text
from ..indicators import indicators
from ..store import forecast as repo
from ..store.runtime import ACTIVE

STAGE_KEYS = ("stage", "completed", "completed_with_due", "completed_on_time", "late", "open", "overdue",
              "on_time_rate")
CSV_COLUMNS = ("week_start", "role", "role_name", "org", "org_name", "tasks_created", "tasks_completed")


def build_result(forecast, seconds: float) -> dict:
    plan, setting, sim = forecast.plan, forecast.setting, forecast.sim
    begin, end = forecast.begin, forecast.end
    weeks = [(plan.start + timedelta(days=7 * k)) for k in range(math.ceil(plan.days / 7))]
    with sim.db.unit_of_work() as session:
        tasks = repo.all_tasks(session)
        instances = repo.instance_count(session)
        raised = repo.escalations_by_level_and_role(session)
    load, due_counts = _load(forecast, tasks, weeks, begin)
    stages = indicators(sim.at(end), setting.org, begin, end)["by_stage"]
    with_due = sum(n for n, _ in due_counts.values())
    on_time = sum(kept for _, kept in due_counts.values())
    escalations = _escalations(raised)
    return {
        "pathway": plan.pathway, "pathway_name": setting.pathway_name, "version": setting.version,
        "cohort": plan.cohort, "from": plan.start.isoformat(), "days": plan.days, "seed": plan.seed,
        "org": setting.org, "org_name": setting.units[setting.org][0], "level": setting.level,
        "branches": setting.branches, "staff": setting.staffing.name,
        "odds": [{"process": p, "gateway": g, "passages": setting.passages.get((p, g)),
                  "targets": [{"target": t, "p": round(share, 4)} for t, share in odds.targets]}
                 for (p, g), odds in sorted(setting.odds.items())],
        "created_at": forecast.source.clock.now().isoformat(), "seconds": round(seconds, 2),
        "weeks": [w.isoformat() for w in weeks],
        "totals": {"people": forecast.counts["people"], "instances": instances, "tasks": len(tasks),
                   "completed": sum(1 for t in tasks if t.completed_at is not None),
                   "open_at_end": sum(1 for t in tasks if t.status in ACTIVE),
                   "on_time_rate": round(on_time / with_due, 4) if with_due else None,
                   "escalations": sum(e["count"] for e in escalations)},
        "load": load,
        "queue_daily": _queue_daily(forecast),
        "stages": [{key: row[key] for key in STAGE_KEYS} for row in stages],
        "escalations": escalations,
        "engine": {"sweeps": forecast.counts["sweeps"], "withdrawn": forecast.counts["withdrawn"],
                   "instance_errors": forecast.counts["instance_errors"], "errors": forecast.counts["errors"]},
        "errors": forecast.errors,
    }


def _week(moment: datetime | None, begin: datetime, count: int) -> int | None:
    if moment is None:
        return None
    index = (moment - begin) // timedelta(days=7)
    return index if 0 <= index < count else None


def _load(forecast, tasks, weeks, begin) -> tuple[list[dict], dict]:
    """The load rows, and per row key (completed with a due, of them on time)."""
    setting = forecast.setting
    created = defaultdict(lambda: [0] * len(weeks))
    completed = defaultdict(lambda: [0] * len(weeks))
    due_counts = defaultdict(lambda: [0, 0])          # completed with a due, on time
    for role, org, created_at, completed_at, _, due_at in tasks:
        key = (role or "", org)
        week = _week(created_at, begin, len(weeks))
        if week is not None:
            created[key][week] += 1
        week = _week(completed_at, begin, len(weeks))
        if week is not None:
            completed[key][week] += 1
        if completed_at is not None and due_at is not None:
            due_counts[key][0] += 1
            due_counts[key][1] += completed_at <= due_at
    lengths = defaultdict(list)
    for _, by_queue in forecast.queue_daily:
        for key in created:
            lengths[key].append(by_queue.get(key, 0))
    rows = []
    for key in sorted(created, key=lambda k: (k[0], setting.units.get(k[1], ("", "", k[1]))[2])):
        role, org = key
        name, level, _ = setting.units.get(org, (org, "", ""))
        series = lengths.get(key) or [0]
        with_due, on_time = due_counts[key]
        rows.append({
            "role": role, "role_name": setting.role_names.get(role, role), "org": org, "org_name": name,
            "level": level, "staff": setting.staffing.queue(role, org).staff,
            "weekly": created[key], "completed_weekly": completed[key],
            "total": sum(created[key]), "completed": sum(completed[key]),
            "queue_max": max(series), "queue_mean": round(sum(series) / len(series), 2), "queue_end": series[-1],
            "on_time_rate": round(on_time / with_due, 4) if with_due else None,
        })
    return rows, due_counts


def _queue_daily(forecast) -> dict:
    roles = sorted({key[0] for _, by_queue in forecast.queue_daily for key in by_queue})
    by_role = {role: [] for role in roles}
    for _, by_queue in forecast.queue_daily:
        totals = defaultdict(int)
        for (role, _), length in by_queue.items():
            totals[role] += length
        for role in roles:
            by_role[role].append(totals[role])
    names = forecast.setting.role_names
    return {"dates": [day.isoformat() for day, _ in forecast.queue_daily],
            "by_role": [{"role": role, "role_name": names.get(role, role), "values": values}
                        for role, values in by_role.items()]}


def _escalations(raised) -> list[dict]:
    levels: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for level, role, count in raised:
        levels[level][agency_of(role) or "other"] += count
    return [{"level": level, "count": sum(by_agency.values()),
             "by_agency": [{"agency": agency, "count": n} for agency, n in sorted(by_agency.items())]}
            for level, by_agency in sorted(levels.items())]


def load_csv(result: dict) -> str:
    """The load table, one row per role × org unit × week, with a BOM so that spreadsheet programs
    read the Chinese names as UTF-8; names are text a spreadsheet never runs as a formula."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in result["load"]:
        names = [spreadsheet_text(row[key]) for key in ("role", "role_name", "org", "org_name")]
        for week, created, completed in zip(result["weeks"], row["weekly"], row["completed_weekly"]):
            writer.writerow((week, *names, created, completed))
    return out.getvalue()
