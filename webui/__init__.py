"""CarePath's web UI: a Flask app factory with one blueprint per area. Handlers are thin: load,
authorize (the engine's predicates, through its services), call an engine service, render.

`create_app(ctx, now=None)` takes the engine context (database, settings, caches) and, for tests
and simulations, a function giving "now": the engine's one clock, moved instead of slept on.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Callable

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from . import (
    account, audit, auth, dashboard, escalations, i18n, modeler, notifications, people, simulations, tasks, views,
)
from .errors import register_error_pages
from .runtime import WebEngine


class RowId(IntegerConverter):
    """`<int:…>` in every route: a row id as the database can hold it (a 32-bit INTEGER on
    PostgreSQL), so /tasks/99999999999 is a 404 like any unknown id, not a driver overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)


MAX_ROW_ID = 2**31 - 1


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
        # Over HTTPS the cookie is bound to this host and path "/" by the __Host- prefix.
        SESSION_COOKIE_NAME="__Host-carepath-session" if settings.secure_cookies else "carepath-session",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(config or {})
    app.url_map.converters["int"] = RowId       # before any route is added: rules bind it then
    WebEngine(ctx, now).init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    views.init_app(app)
    register_error_pages(app)
    app.after_request(security_headers)
    for blueprint in (auth.bp, tasks.bp, escalations.bp, notifications.bp, people.bp, dashboard.bp,
                      simulations.bp, modeler.bp, account.bp, audit.bp):
        app.register_blueprint(blueprint)
    from . import api
    api.init_app(app)
    return app


# Scripts only from our own bundles (no inline script, no eval); inline style attributes are
# allowed because bpmn-js, form-js and the properties panel set element styles at run time.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def security_headers(response):
    """On every response: the content security policy, no sniffing, no framing, no referrer to
    other sites; and nothing but static files kept in any cache (pages carry personal data)."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
