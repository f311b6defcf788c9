"""Frontline work: the inbox (/tasks) and a task's page (/tasks/<id>) with its form."""
from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import worklist
from engine.stages import STAGES, stage_label
from engine.errors import FormInvalid, InvalidInput, TaskNotOpen
from engine.runtime import services

from .auth import current_username
from .runtime import engine

bp = Blueprint("tasks", __name__)


def _int_arg(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        raise InvalidInput(_("参数 %(name)s 应为整数", name=name)) from None


@bp.route("/tasks")
def inbox():
    filters = {"process": request.args.get("pathway") or None, "org": request.args.get("org") or None,
               "stage": request.args.get("stage") or None, "overdue": request.args.get("overdue") == "1"}
    sort = request.args.get("sort", "due")
    page = worklist.inbox(engine(), current_username(), sort=sort, page=_int_arg("page", 1),
                          per_page=_int_arg("per_page", worklist.PER_PAGE), **filters)
    stages = [(code, stage_label(code, str(get_locale()))) for code in STAGES]
    return render_template("tasks/inbox.html", page=page, filters=filters, sort=sort, stages=stages)


@bp.route("/tasks/<int:task_id>")
def show(task_id: int):
    return _render_task(task_id)


def _render_task(task_id: int, values: dict | None = None, errors: dict | None = None, status: int = 200):
    view = worklist.task_page(engine(), task_id, current_username())
    if values is not None:
        view["form_values"] = values
    messages = {key: "; ".join(texts) if _is_english() else "；".join(texts)
                for key, texts in (errors or {}).items()}
    return render_template("tasks/detail.html", view=view, errors=messages), status


def _posted_data() -> dict:
    raw = request.form.get("data") or "{}"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput(_("表单数据不是有效的 JSON")) from None
    if not isinstance(data, dict):
        raise InvalidInput(_("表单数据必须是对象"))
    return data


@bp.route("/tasks/<int:task_id>", methods=["POST"])
def act(task_id: int):
    action = request.form.get("action")
    ctx, username = engine(), current_username()
    back = redirect(url_for("tasks.show", task_id=task_id))
    worklist.require_visible(ctx, task_id, username)
    try:
        if action == "claim":
            services.claim(ctx, task_id, username)
            flash(_("已认领：此任务现在只在您的待办中。"), "info")
        elif action == "release":
            services.release(ctx, task_id, username)
            flash(_("已退回：任务重新对同岗位人员开放。"), "info")
        elif action == "save":
            worklist.save_draft(ctx, task_id, username, _posted_data())
            flash(_("草稿已保存。"), "info")
        elif action == "complete":
            data = _posted_data()
            try:
                services.complete(ctx, task_id, username, data)
            except FormInvalid as err:
                fields = err.fields_en if _is_english() else err.fields
                return _render_task(task_id, values=data, errors=fields, status=422)
            flash(_("任务已完成。"), "success")
            return redirect(url_for("tasks.inbox"))
        else:
            raise InvalidInput(_("未知操作: %(action)s", action=action or ""))
    except TaskNotOpen as err:
        flash(str(err), "error")
    return back


def _is_english() -> bool:
    from flask_babel import get_locale
    return str(get_locale()) == "en"
