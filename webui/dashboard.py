"""Supervisors' indicators (/dashboard) for their unit and below, with charts and drill-down to
the tasks behind each figure (/dashboard/tasks)."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from engine.errors import InvalidInput, PermissionDenied
from engine.indicators import indicator_tasks_for_user, indicators_for_user, watched_units

from .auth import current_username
from .runtime import engine

bp = Blueprint("dashboard", __name__)
WINDOWS = (7, 30, 90, 365)


def _window() -> tuple[int, object, object]:
    try:
        days = int(request.args.get("days", 30))
    except ValueError:
        raise InvalidInput(_("统计天数应为整数")) from None
    if days not in WINDOWS:
        raise InvalidInput(_("统计天数可选 %(choices)s", choices="、".join(map(str, WINDOWS))))
    until = engine().clock.now()
    return days, until - timedelta(days=days), until


def _org(units) -> str:
    if not units:
        raise PermissionDenied(_("指标仅对督导和路径管理员开放。"))
    return request.args.get("org") or units[0][0]


@bp.route("/dashboard")
def index():
    units = watched_units(engine(), current_username())
    org = _org(units)
    days, since, until = _window()
    figures = indicators_for_user(engine(), current_username(), org, since, until, locale=str(get_locale()))
    return render_template("dashboard/index.html", figures=figures, units=units, days=days,
                           windows=WINDOWS, charts=_charts(figures, org, days))


@bp.route("/dashboard/tasks")
def tasks():
    units = watched_units(engine(), current_username())
    org = _org(units)
    days, since, until = _window()
    args = request.args
    state = args.get("state", "overdue")
    rows = indicator_tasks_for_user(engine(), current_username(), org, agency=args.get("agency") or None,
                                    stage=args.get("stage") or None, state=state,
                                    since=since, until=until, own_only=args.get("own") == "1", limit=200)
    return render_template("dashboard/tasks.html", rows=rows, state=state, org=org, days=days)


def _link(org: str, days: int, **filters) -> str:
    from flask import url_for
    return url_for("dashboard.tasks", org=org, days=days, **{k: v for k, v in filters.items() if v})


def _percent(rate) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def _charts(figures: dict, org: str, days: int) -> dict:
    """The chart.js configurations the page's canvases draw (see webui/frontend/README.md)."""
    stages = [row for row in figures["by_stage"] if row["completed"] or row["open"]]
    agencies = figures["by_agency"]
    return {
        "on_time_by_stage": {
            "type": "bar", "labels": [row["label"] for row in stages],
            "datasets": [{"label": _("按时率 %"), "data": [_percent(row["on_time_rate"]) for row in stages]}],
            "links": [_link(org, days, stage=row["stage"], state="late") for row in stages],
            "options": {"scales": {"y": {"min": 0, "max": 100}}}},
        "median_by_stage": {
            "type": "bar", "labels": [row["label"] for row in stages],
            "datasets": [{"label": _("中位用时（小时）"), "data": [row["median_hours"] for row in stages]}],
            "links": [_link(org, days, stage=row["stage"], state="completed") for row in stages]},
        "open_by_agency": {
            "type": "bar", "labels": [row["label"] for row in agencies],
            "datasets": [{"label": _("在办"), "data": [row["open"] for row in agencies]},
                         {"label": _("逾期"), "data": [row["overdue"] for row in agencies]}],
            "links": [_link(org, days, agency=row["agency"], state="overdue") for row in agencies],
            "options": {"indexAxis": "y"}},
    }
