"""Sign-in with username and password (form at /login with a CSRF token), the session, sign-out.
Every page except sign-in, language switch and static files needs a signed-in user."""
from __future__ import annotations

from flask import (
    Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect

from engine.directory import authenticate, profile

from .runtime import engine

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
OPEN_ENDPOINTS = {"auth.login", "static", "set_language"}


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.before_request(load_user)
    app.context_processor(lambda: {"user": g.get("user")})


def load_user():
    g.user = None
    username = session.get("user")
    if username:
        with engine().db.unit_of_work() as db_session:
            g.user = profile(db_session, username)
        if g.user is None:           # disabled since they signed in
            session.clear()
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    return None


def current_username() -> str:
    return g.user["username"]


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("tasks.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        username = request.form.get("username", "")
        user = authenticate(engine().db, username, request.form.get("password", ""))
        if user is None:
            flash(_("用户名或密码错误。"), "error")
            return render_template("login.html", username=username), 401
        lang = session.get("lang")
        session.clear()                      # a fresh session on sign-in (no fixation)
        session["user"] = user["username"]
        if lang:
            session["lang"] = lang
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.route("/logout", methods=["POST"])
def logout():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/")
def home():
    return redirect(url_for("tasks.inbox"))
