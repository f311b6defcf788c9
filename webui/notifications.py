"""The user's notifications (/notifications), newest first, with the unread count in the header."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from engine.errors import InvalidInput
from engine.notify import list_for_user, mark_all_read, mark_read

from .auth import current_username
from .runtime import engine

bp = Blueprint("notifications", __name__)
PER_PAGE = 30


@bp.route("/notifications")
def index():
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        raise InvalidInput("page") from None
    with engine().db.unit_of_work() as session:
        items = list_for_user(session, current_username(), PER_PAGE + 1, (page - 1) * PER_PAGE)
    return render_template("notifications.html", items=items[:PER_PAGE], page=page,
                           has_more=len(items) > PER_PAGE)


@bp.route("/notifications/read", methods=["POST"])
def read():
    ctx = engine()
    ids = request.form.getlist("id")
    with ctx.db.unit_of_work() as session:
        if request.form.get("all"):
            mark_all_read(session, current_username(), ctx.clock.now())
        else:
            mark_read(session, current_username(), [int(i) for i in ids if i.isdigit()], ctx.clock.now())
    target = request.form.get("next") or ""
    if (target.startswith("/tasks/") and target[7:].isdigit()) or target == url_for("audit.index"):
        return redirect(target)
    return redirect(url_for("notifications.index"))
