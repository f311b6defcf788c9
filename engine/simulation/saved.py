"""Stored workload forecasts: keep a `carepath simulate` result, list them, read one back, delete
one (audited), and the load table as the page and the spreadsheet show it.

Who may read them is one pure predicate, `can_read_simulations`: the users who watch indicators
(supervisors of any agency, analysts), as for the dashboard. A forecast holds synthetic figures
only, no person's data.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime

from ..access import ANALYST
from ..errors import InvalidInput, NotFound
from ..store import audit
from ..store import simulations as repo
from .report import load_csv

# The run's parameters, kept in their own column: what the list shows and a rerun needs.
PARAMS = ("cohort", "from", "days", "seed", "org", "staff", "branches")
ON_TIME_FLOOR = 0.8          # a load row below this on-time rate is highlighted
DELETED = "simulation_deleted"


def can_read_simulations(roles: Iterable[str]) -> bool:
    """Forecasts are for those who watch indicators: supervisors (`*.supervisor`) and analysts."""
    return any(role.endswith(".supervisor") or role == ANALYST for role in roles)


# --- storing, listing, reading, deleting ------------------------------------------------------------

def _created_at(ctx, result: dict) -> datetime:
    """When the run was made (its `created_at`, local time if it has no offset), else now."""
    text = result.get("created_at")
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"预测结果的 created_at 不是 ISO 时间：{text} "
                               f"(created_at is not an ISO date-time)") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=ctx.clock.tz)
    return ctx.clock.now()


def _checked(result) -> dict:
    if not isinstance(result, dict):
        raise InvalidInput("预测结果应为对象 (a forecast result must be a JSON object)")
    pathway = result.get("pathway")
    if not isinstance(pathway, str) or not pathway or len(pathway) > 200:
        raise InvalidInput("预测结果缺少路径 id（pathway，至多 200 字符）"
                           "(the result needs its pathway id, at most 200 characters)")
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"预测结果含有无法存为 JSON 的值 (the result is not JSON-safe): {err}") from None
    return result


def save_simulation(ctx, result: dict, by: str | None) -> int:
    """Keep a forecast's result; its id."""
    result = _checked(result)
    seconds = result.get("seconds")
    with ctx.db.unit_of_work() as session:
        return repo.add_simulation(
            session, pathway=result["pathway"], created_at=_created_at(ctx, result), created_by=by,
            params={key: result.get(key) for key in PARAMS}, result=result,
            seconds=float(seconds) if isinstance(seconds, (int, float)) else 0.0)


def list_simulations(ctx, limit: int = 100) -> list[dict]:
    """The stored forecasts, newest first, in brief: id, pathway (and its name), when and by whom,
    cohort, from, days, seed, org (and its name), and the result's totals."""
    with ctx.db.unit_of_work() as session:
        rows = repo.simulation_briefs(session, limit)
    return [{"id": id_, "pathway": pathway, "pathway_name": name or pathway,
             "created_at": ctx.clock.local(created_at), "created_by": by,
             **{key: (params or {}).get(key) for key in ("cohort", "from", "days", "seed", "org")},
             "org_name": org_name or (params or {}).get("org"), "totals": totals or {}}
            for id_, pathway, created_at, by, params, name, org_name, totals in rows]


def _missing(simulation_id: int) -> NotFound:
    return NotFound(f"预测结果 {simulation_id} 不存在（可能已被删除）"
                    f"(no stored forecast {simulation_id}: it may have been deleted)")


def get_simulation(ctx, simulation_id: int) -> dict:
    """One stored forecast: id, pathway, pathway_name, created_at, created_by, params, seconds and
    the whole `result`. NotFound when there is none."""
    with ctx.db.unit_of_work() as session:
        row = repo.simulation(session, simulation_id)
        if row is None:
            raise _missing(simulation_id)
        result = row.result or {}
        return {"id": row.id, "pathway": row.pathway, "pathway_name": result.get("pathway_name") or row.pathway,
                "created_at": ctx.clock.local(row.created_at), "created_by": row.created_by,
                "params": row.params or {}, "seconds": row.seconds, "result": result}


def delete_simulation(ctx, simulation_id: int, by: str | None) -> None:
    """Delete a stored forecast for good; NotFound when there is none. Audited as
    `simulation_deleted` (who, which forecast, of which pathway and run)."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row = repo.simulation(session, simulation_id)
        if row is None:
            raise _missing(simulation_id)
        pathway, params, created_at = row.pathway, row.params or {}, row.created_at
        repo.delete_simulation(session, simulation_id)
        run = {key: params.get(key) for key in ("cohort", "from", "days", "seed")}
        audit.append(session, now, by, DELETED, target=f"simulation:{simulation_id}", pathway=pathway,
                     created_at=created_at.isoformat(), **run)


# --- the load table ---------------------------------------------------------------------------------

def flagged(row: dict) -> bool:
    """A load row to look at: on-time rate under ON_TIME_FLOOR, or work still queued at the end."""
    rate = row.get("on_time_rate")
    return (rate is not None and rate < ON_TIME_FLOOR) or (row.get("queue_end") or 0) > 0


def load_rows(result: dict) -> list[dict]:
    """The result's load rows (role × org unit), longest queue first, each with its busiest week
    (`peak`) and whether it is `flagged`."""
    rows = [{**row, "peak": max(row.get("weekly") or [0]), "flagged": flagged(row)}
            for row in result.get("load") or []]
    return sorted(rows, key=lambda row: (-(row.get("queue_max") or 0), row.get("role") or "", row.get("org") or ""))


def simulation_csv(ctx, simulation_id: int) -> tuple[str, str]:
    """(file name, CSV text) of a stored forecast's load table; NotFound when there is none."""
    found = get_simulation(ctx, simulation_id)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", found["pathway"])[:60]
    return f"carepath-simulation-{simulation_id}-{name}.csv", load_csv(found["result"])
