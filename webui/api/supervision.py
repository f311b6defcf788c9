"""Supervisors' work through the API: the escalation queue (acknowledge, note) and what a
supervisor does to a task (reassign, extend its deadline), and the indicators with the tasks
behind them. Every call goes to the engine function the pages (/escalations, /dashboard) call,
with the caller's username, so the same supervisor × jurisdiction rules decide.

Reassign and extend are under /tasks/{task_id}/…: the engine acts on a task its caller
supervises, escalated or not, and no escalation id plays a part.

The escalation queue and the indicator drill-down are paged by position in a stable order
(the engine's sort ends with the id), carried in an opaque cursor: the engine functions page by
offset, so an item that leaves the queue between two pages (its task completed) shifts the rest
by one."""
from __future__ import annotations

from datetime import timedelta

from flask_babel import get_locale
from flask_babel import gettext as _

from engine.errors import NotFound, PermissionDenied
from engine.escalation import actions
from engine.escalation.queue import escalation_queue
from engine.indicators import indicator_tasks_for_user, indicators_for_user, watched_units

from ..runtime import engine
from . import schemas
from . import schemas_supervision as sv
from .common import SECURITY, api_blueprint, caller, decode_cursor, encode_cursor, requires

escalations = api_blueprint("api_escalations", __name__,
                            "督办：督办队列、确认、备注；督导改派任务、延长期限（需填写原因）")
indicators = api_blueprint("api_indicators", __name__, "指标：督导所辖机构的办理指标及其背后的任务")

DEFAULT_DAYS = 30          # the indicators' window when `since` is not given (the dashboard's default)


def _offset(cursor: str | None) -> int:
    return decode_cursor(cursor, ("offset",), _non_negative) or 0


def _non_negative(position: dict) -> int:
    offset = position["offset"]
    if type(offset) is not int or offset < 0:
        raise ValueError(offset)
    return offset


# --- escalations ---------------------------------------------------------------------------------

@escalations.route("/escalations")
@escalations.doc(security=SECURITY)
@escalations.arguments(sv.QueueQuery, location="query")
@escalations.response(200, sv.QueuePage)
@requires("escalations:read")
def queue(query):
    """我的督办队列（由您的角色在督办机构或其上级处理的督办），可按状态、级别、部门、机构筛选，按 cursor 分页"""
    limit, offset = query["limit"], _offset(query.get("cursor"))
    page = escalation_queue(engine(), caller().username, status=query["status"], level=query.get("level"),
                            agency=query.get("agency"), org=query.get("org"), sort=query["sort"],
                            per_page=limit, offset=offset)
    items = [{**item, "reassign_users": [{"username": username, "name": name, "org_name": org_name}
                                         for username, name, org_name in item.get("reassign_users", ())]}
             for item in page["items"]]
    more = offset + limit < page["total"]
    return {"items": items, "total": page["total"],
            "next_cursor": encode_cursor({"offset": offset + limit}) if more else None,
            "reassign_units": [{"code": code, "name": name} for code, name in page["units"]]}


def _escalation_refused(escalation_id: int) -> NotFound:
    """An escalation the caller does not work is not there for them (as the queue shows)."""
    return NotFound(_("督办 %(id)s 不存在或不由您处理。", id=escalation_id))


@escalations.route("/escalations/<int:escalation_id>/acknowledge", methods=["POST"])
@escalations.doc(security=SECURITY)
@escalations.arguments(sv.Acknowledge)
@escalations.response(200, sv.Escalation)
@requires("escalations:write")
def acknowledge(body, escalation_id: int):
    """确认督办（可附备注）：督办状态变为已确认，记录确认人"""
    try:
        return actions.acknowledge(engine(), escalation_id, caller().username, (body.get("note") or "").strip() or None)
    except PermissionDenied:
        raise _escalation_refused(escalation_id) from None


@escalations.route("/escalations/<int:escalation_id>/notes", methods=["POST"])
@escalations.doc(security=SECURITY)
@escalations.arguments(sv.Note)
@escalations.response(200, sv.Escalation)
@requires("escalations:write")
def note(body, escalation_id: int):
    """为督办写备注（替换原备注，留痕）"""
    try:
        return actions.add_note(engine(), escalation_id, caller().username, body["note"])
    except PermissionDenied:
        raise _escalation_refused(escalation_id) from None


@escalations.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@escalations.doc(security=SECURITY)
@escalations.arguments(sv.Reassign)
@escalations.response(200, schemas.Task)
@requires("escalations:write")
def reassign(body, task_id: int):
    """督导改派任务：给指定人员（任务归其所有）或移到辖区内的另一机构（重新待认领），需填写原因"""
    target = body.get("to_user") or body.get("to_org")
    try:
        return actions.reassign(engine(), task_id, caller().username, to_user=body.get("to_user"),
                                to_org=body.get("to_org"), reason=body["reason"])
    except PermissionDenied:
        # Refused for the task (not its supervisor) or for the target (a user who cannot be
        # found, a unit outside the jurisdiction): either way nothing the caller may know of.
        raise NotFound(_("任务 %(id)s 不存在或不由您督导，或 %(target)s 不存在或不在您的辖区内。",
                         id=task_id, target=target)) from None


@escalations.route("/tasks/<int:task_id>/extend", methods=["POST"])
@escalations.doc(security=SECURITY)
@escalations.arguments(sv.Extend)
@escalations.response(200, schemas.Task)
@requires("escalations:write")
def extend(body, task_id: int):
    """督导延长任务期限：到指定时间，或按工作日顺延，需填写原因"""
    try:
        return actions.extend(engine(), task_id, caller().username, until=body.get("until"),
                              workdays=body.get("workdays"), reason=body["reason"])
    except PermissionDenied:
        raise NotFound(_("任务 %(id)s 不存在或不由您督导。", id=task_id)) from None


# --- indicators ------------------------------------------------------------------------------------

def _org_and_window(query) -> tuple[str, object, object]:
    """The unit (the first the caller watches unless named) and [since, until) on the engine clock."""
    org = query.get("org")
    if org is None:
        units = watched_units(engine(), caller().username)
        if not units:
            raise PermissionDenied(_("指标仅对督导和路径管理员开放。"))
        org = units[0][0]
    until = query.get("until") or engine().clock.now()
    return org, query.get("since") or until - timedelta(days=DEFAULT_DAYS), until


@indicators.route("/indicators")
@indicators.doc(security=SECURITY)
@indicators.arguments(sv.Window, location="query")
@indicators.response(200, sv.Indicators)
@requires("indicators:read")
def figures(query):
    """所辖机构及其下级在统计区间内的指标：在办、逾期、办结、按时率（按部门、下级机构、服务阶段），及三项规范管理率"""
    org, since, until = _org_and_window(query)
    return indicators_for_user(engine(), caller().username, org, since, until, locale=str(get_locale()))


@indicators.route("/indicators/tasks")
@indicators.doc(security=SECURITY)
@indicators.arguments(sv.IndicatorTasksQuery, location="query")
@indicators.response(200, schemas.TaskPage)
@requires("indicators:read")
def tasks(query):
    """某项指标背后的任务（在办、逾期按期限排序；办结、超期办结、按时办结按办结时间排序），按 cursor 分页"""
    org, since, until = _org_and_window(query)
    limit, offset = query["limit"], _offset(query.get("cursor"))
    rows = indicator_tasks_for_user(
        engine(), caller().username, org, agency=query.get("agency"), stage=query.get("stage"),
        state=query["state"], since=since, until=until, own_only=query["own"], limit=limit + 1, offset=offset)
    more = len(rows) > limit
    return {"items": rows[:limit], "next_cursor": encode_cursor({"offset": offset + limit}) if more else None}


@indicators.route("/indicators/units")
@indicators.doc(security=SECURITY)
@indicators.response(200, sv.WatchedUnit(many=True))
@requires("indicators:read")
def units():
    """您可查看指标的机构（督导或分析员所在机构），上级在前"""
    return [{"code": code, "name": name, "level": level}
            for code, name, level in watched_units(engine(), caller().username)]
