"""The engine as the web app sees it: one context for the app, the clock read per request."""
from __future__ import annotations

from typing import Callable

from flask import Flask, current_app, g, request

from engine.store.audit import ORIGIN


class WebEngine:
    def __init__(self, ctx, now: Callable | None = None):
        self.ctx = ctx
        self.now = now or ctx.clock.now

    def init_app(self, app: Flask) -> None:
        app.extensions["carepath"] = self
        app.before_request(_note_origin)
        app.teardown_request(_forget_origin)


def _note_origin() -> None:
    """Audit rows written during this request say where it came from — the pages (`web`) or the
    REST API (`api`) — and from which address."""
    channel = "api" if request.path.startswith("/api/") else "web"
    g.origin_token = ORIGIN.set(f"{channel} {request.remote_addr or '?'}")


def _forget_origin(_error=None) -> None:
    token = g.pop("origin_token", None)
    if token is not None:
        ORIGIN.reset(token)


def engine():
    """The engine context for this request, its clock at the app's now (read once per request)."""
    if "engine" not in g:
        web: WebEngine = current_app.extensions["carepath"]
        g.engine = web.ctx.at(web.now())
    return g.engine
