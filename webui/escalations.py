"""Supervisors' escalation queue (/escalations): acknowledge, note, reassign, extend with a reason,
pause and resume the SLA clock. Every action goes through the engine, which checks the supervisor's
role over the task's unit."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.errors import InvalidInput
from engine.escalation import actions
from engine.escalation.queue import escalation_queue
from engine.runtime import sla

from .auth import current_username
from .runtime import engine

bp = Blueprint("escalations", __name__)

AGENCY_LABELS = {"health": "卫生健康", "civil": "民政", "education": "教育", "justice": "司法",
                 "hrss": "人社", "dpf": "残联", "medical_insurance": "医保", "police": "公安",
                 "family": "家庭", "admin": "管理"}


@bp.route("/escalations")
def queue():
    args = request.args
    try:
        level = int(args["level"]) if args.get("level") else None
        page_no = int(args.get("page", 1))
    except ValueError:
        raise InvalidInput(_("参数应为整数")) from None
    filters = {"status": args.get("status", "open"), "level": level, "agency": args.get("agency") or None,
               "org": args.get("org") or None, "sort": args.get("sort", "level")}
    page = escalation_queue(engine(), current_username(), page=page_no, **filters)
    return render_template("escalations/queue.html", page=page, filters=filters, agencies=AGENCY_LABELS)


def _reason() -> str:
    return (request.form.get("reason") or "").strip()


@bp.route("/escalations/<int:escalation_id>", methods=["POST"])
def act(escalation_id: int):
    ctx, username, form = engine(), current_username(), request.form
    action = form.get("action")
    task_id = int(form.get("task", 0) or 0)
    if action == "acknowledge":
        actions.acknowledge(ctx, escalation_id, username, _reason() or None)
        flash(_("已确认督办。"), "success")
    elif action == "note":
        actions.add_note(ctx, escalation_id, username, _reason())
        flash(_("备注已保存。"), "success")
    elif action == "reassign":
        actions.reassign(ctx, task_id, username, to_user=form.get("to_user") or None,
                         to_org=form.get("to_org") or None, reason=_reason())
        flash(_("任务已改派。"), "success")
    elif action == "extend":
        until = _until(form.get("until"))
        workdays = int(form["workdays"]) if form.get("workdays") else None
        actions.extend(ctx, task_id, username, until=until, workdays=workdays, reason=_reason())
        flash(_("截止时间已延长。"), "success")
    elif action == "pause":
        sla.pause(ctx, task_id, username, _reason())
        flash(_("已暂停计时。"), "success")
    elif action == "resume":
        sla.resume(ctx, task_id, username, _reason() or None)
        flash(_("已恢复计时。"), "success")
    else:
        raise InvalidInput(_("未知操作: %(action)s", action=action or ""))
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/") and not back.startswith("//") else url_for("escalations.queue"))


def _until(text: str | None) -> datetime | None:
    """A new deadline typed as a local date (that day's close of business) or date and time."""
    if not text:
        return None
    ctx = engine()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, ctx.settings.workday_close, ctx.settings.timezone)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("日期格式应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM")) from None
    return value if value.tzinfo else value.replace(tzinfo=ctx.settings.timezone)
