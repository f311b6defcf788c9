"""Sign-in with username and password (form at /login with a CSRF token), the session, sign-out.
Every page except sign-in, language switch and static files needs a signed-in user.

Sign-ins are throttled by the engine (engine/accounts.py): a locked username or address gets 429
with the time to try again. A session lasts `session_hours` from sign-in on the engine clock and
ends at the next request once the user is disabled or their password changed."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask import (
    Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect

from engine import accounts

from .runtime import engine

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
OPEN_ENDPOINTS = {"auth.login", "static", "set_language"}


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.before_request(load_user)
    app.context_processor(lambda: {"user": g.get("user")})


def _signed_in_at() -> datetime | None:
    try:
        return datetime.fromisoformat(session.get("since", ""))
    except (TypeError, ValueError):
        return None


def _fresh_session() -> None:
    """Empty the session, keeping only the language choice."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_user():
    g.user = None
    username = session.get("user")
    if username:
        g.user = accounts.session_user(engine(), username, session.get("stamp"), _signed_in_at())
        if g.user is None:           # disabled, password changed, or the session is too old
            _fresh_session()
    if request.path.startswith("/api/"):
        return None                  # the API authenticates each request itself (webui/api/common.py)
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    return None


def current_username() -> str:
    return g.user["username"]


def start_session(username: str, stamp: str) -> None:
    """A fresh session (no fixation) for a user who just proved their password."""
    _fresh_session()
    session.permanent = True
    session["user"] = username
    session["stamp"] = stamp
    session["since"] = engine().clock.now().isoformat()


def locked_response(template: str, until: datetime, **context):
    """429 with the local time from which to try again (rounded up to the minute)."""
    local = engine().clock.local(until)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    flash(_("登录失败次数过多，请于 %(time)s 后再试。", time=local.strftime("%H:%M")), "error")
    wait = max(1, math.ceil((until - engine().clock.now()).total_seconds()))
    return render_template(template, **context), 429, {"Retry-After": str(wait)}


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("tasks.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        username = request.form.get("username", "")
        result = accounts.sign_in(engine(), username, request.form.get("password", ""), request.remote_addr)
        if result.locked_until is not None:
            return locked_response("login.html", result.locked_until, username=username)
        if result.user is None:
            flash(_("用户名或密码错误。"), "error")
            return render_template("login.html", username=username), 401
        start_session(result.user["username"], result.stamp)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST"])
def logout():
    accounts.sign_out(engine(), current_username())
    _fresh_session()
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
def home():
    return redirect(url_for("tasks.inbox"))
