"""CarePath's web UI: a Flask app factory with one blueprint per area. Handlers are thin: load,
authorize (the engine's predicates, through its services), call an engine service, render.

`create_app(ctx, now=None)` takes the engine context (database, settings, caches) and, for tests
and simulations, a function giving "now": the engine's one clock, moved instead of slept on.
"""
from __future__ import annotations

import secrets
from typing import Callable

from flask import Flask

from . import account, audit, auth, dashboard, escalations, i18n, modeler, notifications, people, tasks, views
from .errors import register_error_pages
from .runtime import WebEngine


def create_app(ctx=None, now: Callable | None = None, config: dict | None = None) -> Flask:
    from engine.context import EngineContext
    ctx = ctx or EngineContext()
    app = Flask(__name__)
    settings = ctx.settings
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(config or {})
    WebEngine(ctx, now).init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    views.init_app(app)
    register_error_pages(app)
    for blueprint in (auth.bp, tasks.bp, escalations.bp, notifications.bp, people.bp, dashboard.bp,
                      modeler.bp, account.bp, audit.bp):
        app.register_blueprint(blueprint)
    return app
