"""A signed-in user's own account: changing the password (/account/password)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from engine import accounts

from .auth import current_username, locked_response
from .runtime import engine

bp = Blueprint("account", __name__, url_prefix="/account")

# The policy's problems (codes of engine.accounts.POLICY_MESSAGES) in the user's language.
PROBLEM_TEXTS = {
    "required": lambda: _("请输入新密码。"),
    "too_short": lambda: _("新密码至少需要 %(n)d 个字符。", n=accounts.MIN_LENGTH),
    "contains_username": lambda: _("新密码不能包含用户名。"),
    "one_character": lambda: _("新密码不能由同一个字符重复组成。"),
    "common": lambda: _("这个密码太常见，容易被猜中，请换一个。"),
    "same_as_current": lambda: _("新密码不能与当前密码相同。"),
    "mismatch": lambda: _("两次输入的新密码不一致。"),
    "current_required": lambda: _("请输入当前密码。"),
    "current_wrong": lambda: _("当前密码不正确。"),
}


def page(problems: dict):
    return render_template("account/password.html", problems=problems, min_length=accounts.MIN_LENGTH)


@bp.route("/password", methods=["GET", "POST"])
def password():
    if request.method == "GET":
        return page(problems={})
    form = request.form
    result = accounts.change_password(engine(), current_username(), form.get("current", ""),
                                      form.get("new", ""), form.get("confirm", ""), request.remote_addr)
    if result.locked_until is not None:
        return locked_response("account/password.html", result.locked_until, problems={},
                               min_length=accounts.MIN_LENGTH)
    if not result.ok:
        problems = {name: [PROBLEM_TEXTS[code]() for code in codes] for name, codes in result.problems.items()}
        return page(problems=problems), 400
    session["stamp"] = result.stamp           # this session goes on; every other one ends
    flash(_("密码已修改。其他设备上的登录已失效。"), "success")
    return redirect(url_for("account.password"))
