"""The functions rq workers run.

Each one builds the engine from the environment (CAREPATH_*), makes one idempotent engine call
and returns a JSON-able report (rq stores it as the job's result). `now_iso` is the engine time of
the run: when given, the engine clock is fixed at it and the wall clock is never read; when None,
the clock is CAREPATH_NOW or the wall clock at the moment the job runs.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime


def sweep(now_iso: str | None = None) -> dict:
    """Fire due timers and deliver pending messages (`carepath tick` as a job).

    Each instance's timers fire in their own transaction, so a sweep killed half-way has committed
    the instances it finished and the next sweep completes the rest without repeating any."""
    from ..runtime.services import tick
    with _engine(now_iso) as ctx:
        return _jsonable(tick(ctx))


def deliver_notifications(now_iso: str | None = None):
    """Send the notifications that are due (`engine.notify.deliver_due`)."""
    notify = _notify_module()
    with _engine(now_iso) as ctx:
        return _jsonable(notify.deliver_due(ctx, ctx.clock.now()))


def send_digests(now_iso: str | None = None):
    """Send the daily digests that are due (`engine.notify.send_digests`)."""
    notify = _notify_module()
    with _engine(now_iso) as ctx:
        return _jsonable(notify.send_digests(ctx, ctx.clock.now()))


@contextmanager
def _engine(now_iso: str | None):
    from ..context import EngineContext
    from ..settings import load_settings, parse_instant
    from ..store.audit import ORIGIN
    ORIGIN.set("worker")                  # audit rows written by this job come from a worker
    settings = load_settings()
    now = parse_instant(now_iso, settings.timezone, "now_iso") if now_iso else None
    ctx = EngineContext(settings, now=now)
    try:
        yield ctx
    finally:
        ctx.db.dispose()


def _notify_module():
    try:
        from .. import notify
    except ModuleNotFoundError as err:
        if err.name != "engine.notify":
            raise
        raise RuntimeError("engine.notify is not available in this installation: notification and "
                           "digest jobs need it (deliver_due, send_digests)") from err
    return notify


def _jsonable(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value
