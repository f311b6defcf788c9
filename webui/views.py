"""What every page shows around its content: navigation, unread notifications, the clock."""
from __future__ import annotations

from flask import Flask, g

from engine.notify import unread_count

from .runtime import engine


def init_app(app: Flask) -> None:
    app.context_processor(navigation)
    app.jinja_env.globals["url_rules"] = app.view_functions      # links to areas that exist
    app.jinja_env.filters["reject_page"] = lambda args: {k: v for k, v in args.items() if k != "page"}


def navigation() -> dict:
    user = g.get("user")
    if not user:
        return {}
    roles = {m["role"] for m in user["memberships"]}
    with engine().db.unit_of_work() as session:
        unread = unread_count(session, user["username"])
    return {"unread": unread,
            "is_supervisor": any(role.endswith(".supervisor") for role in roles),
            "watches_indicators": any(role.endswith(".supervisor") or role == "admin.analyst" for role in roles),
            "edits_pathways": "admin.analyst" in roles,
            "reads_audit": any(role.endswith(".supervisor") for role in roles),
            "now": engine().clock.now()}
