"""Stored workload forecasts (/simulations), for those who watch indicators: the list, one
forecast's parameters, totals, charts and load table (/simulations/<id>), the load table as CSV,
and deleting one. The forecasts are made by `carepath simulate`."""
from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from engine.agencies import agency_label, agency_order
from engine.errors import PermissionDenied
from engine.simulation import saved
from engine.stages import stage_label

from .auth import current_username
from .runtime import engine

bp = Blueprint("simulations", __name__)


def _require_access() -> None:
    if not saved.can_read_simulations(m["role"] for m in g.user["memberships"]):
        raise PermissionDenied(_("工作量预测仅对督导和流程分析员开放。"))


@bp.route("/simulations")
def index():
    _require_access()
    return render_template("simulations/index.html", simulations=saved.list_simulations(engine()))


@bp.route("/simulations/<int:simulation_id>")
def show(simulation_id: int):
    _require_access()
    found = saved.get_simulation(engine(), simulation_id)
    result = found["result"]
    return render_template("simulations/show.html", sim=found, r=result, totals=result.get("totals") or {},
                           rows=saved.load_rows(result), floor=saved.ON_TIME_FLOOR,
                           charts=_charts(result, str(get_locale())))


@bp.route("/simulations/<int:simulation_id>.csv")
def download(simulation_id: int):
    _require_access()
    filename, text = saved.simulation_csv(engine(), simulation_id)
    return Response(text.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Type": "text/csv; charset=utf-8"})


@bp.route("/simulations/<int:simulation_id>/delete", methods=["POST"])
def delete(simulation_id: int):
    _require_access()
    saved.delete_simulation(engine(), simulation_id, current_username())
    flash(_("预测 %(id)d 已删除。", id=simulation_id), "success")
    return redirect(url_for("simulations.index"))


# --- charts (the chart island's configurations, webui/frontend/README.md) ---------------------------

def _percent(rate) -> float | None:
    return None if rate is None else round(rate * 100, 1)


STACKED = {"scales": {"x": {"stacked": True}, "y": {"stacked": True, "beginAtZero": True}}}


def _weekly_by_role(result: dict) -> list[dict]:
    """Tasks created per week for each role, summed over its org units, in the load's order."""
    weeks = len(result.get("weeks") or [])
    roles: dict[str, dict] = {}
    for row in result.get("load") or []:
        role = roles.setdefault(row.get("role"), {"label": row.get("role_name") or row.get("role"),
                                                  "data": [0] * weeks})
        for index, count in enumerate((row.get("weekly") or [])[:weeks]):
            role["data"][index] += count
    return list(roles.values())


def _escalations(result: dict, locale: str) -> dict:
    """Escalations per level, stacked by agency (one bar per level when no agency is given)."""
    levels = sorted(result.get("escalations") or [], key=lambda row: row.get("level") or 0)
    agencies = sorted({a.get("agency") for row in levels for a in row.get("by_agency") or []}, key=agency_order)
    if agencies:
        datasets = [{"label": agency_label(agency, locale),
                     "data": [sum(a.get("count") or 0 for a in row.get("by_agency") or [] if a.get("agency") == agency)
                              for row in levels]} for agency in agencies]
    else:
        datasets = [{"label": _("督办数"), "data": [row.get("count") or 0 for row in levels]}]
    return {"type": "bar", "labels": [_("%(n)d 级", n=row.get("level") or 0) for row in levels],
            "datasets": datasets, "options": STACKED}


def _charts(result: dict, locale: str) -> dict:
    queue = result.get("queue_daily") or {}
    stages = result.get("stages") or []
    return {
        "weekly_by_role": {"type": "bar", "labels": result.get("weeks") or [],
                           "datasets": _weekly_by_role(result), "options": STACKED},
        "queue_by_role": {
            "type": "line", "labels": queue.get("dates") or [],
            "datasets": [{"label": row.get("role_name") or row.get("role"), "data": row.get("values") or [],
                          "pointRadius": 0, "borderWidth": 2} for row in queue.get("by_role") or []],
            "options": {"scales": {"y": {"beginAtZero": True}}}},
        "on_time_by_stage": {
            "type": "bar", "labels": [stage_label(row.get("stage"), locale) for row in stages],
            "datasets": [{"label": _("按时率 %"), "data": [_percent(row.get("on_time_rate")) for row in stages]}],
            "options": {"scales": {"y": {"min": 0, "max": 100}}}},
        "escalations_by_level": _escalations(result, locale),
    }
