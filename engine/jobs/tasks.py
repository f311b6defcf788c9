"""The functions rq workers run.

Each one builds the engine from the environment (CAREPATH_*), makes one idempotent engine call
and returns a JSON-able report (rq stores it as the job's result), saying which worker, process
and job did the work (`worker`, `pid`, `job`). `now_iso` is the engine time of the run: when
given, the engine clock is fixed at it and the wall clock is never read; when None, the clock is
CAREPATH_NOW or the wall clock at the moment the job runs.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime

from .fanout import SWEEP_BATCH

NOTIFY_LIMIT = 1000     # deliveries one notification job sends at most (the next job sends more)


def sweep(now_iso: str | None = None, batch: int = SWEEP_BATCH, helper_of: str | None = None) -> dict:
    """Fire due timers, deliver pending messages, raise due escalations (`carepath tick` as a job).

    Each instance's timers fire in their own transaction, which claims the instance, so a sweep
    killed half-way has committed the instances it finished and the next sweep completes the rest
    without repeating any, and sweeps running at once split the work. A sweep that sees more than
    `batch` due instances first enqueues helper sweeps for the idle workers (engine.jobs.fanout);
    a helper (`helper_of` its parent's job id) does not fan out again. The report adds the
    helpers enqueued (`helpers`) and `helper_of`."""
    from ..runtime.services import tick
    with _engine(now_iso) as ctx:
        helpers = [] if helper_of else _fan_out(ctx, batch)
        report = tick(ctx)
    return _jsonable({**report, "helpers": helpers, "helper_of": helper_of, **_who()})


def deliver_notifications(now_iso: str | None = None):
    """Send the notifications that are due (`engine.notify.deliver_due`), up to NOTIFY_LIMIT."""
    notify = _notify_module()
    with _engine(now_iso) as ctx:
        report = notify.deliver_due(ctx, ctx.clock.now(), limit=NOTIFY_LIMIT)
    return _jsonable({**report, **_who()})


def send_digests(now_iso: str | None = None):
    """Send the daily digests that are due (`engine.notify.send_digests`): {"digests_sent": n, …}."""
    notify = _notify_module()
    with _engine(now_iso) as ctx:
        sent = notify.send_digests(ctx, ctx.clock.now())
    return _jsonable({"digests_sent": sent, **_who()})


def housekeeping(now_iso: str | None = None):
    """Hourly upkeep: delete the API's idempotency keys older than their 24 hours
    (`engine.idempotency.purge_expired`): {"idempotency_keys_purged": n, …}."""
    from .. import idempotency
    with _engine(now_iso) as ctx:
        purged = idempotency.purge_expired(ctx)
    return _jsonable({"idempotency_keys_purged": purged, "now": ctx.clock.now(), **_who()})


def _who() -> dict:
    """Which worker, process and rq job ran this (None outside a worker)."""
    from rq import get_current_job
    job = get_current_job()
    return {"worker": os.environ.get("RQ_WORKER_ID") or (job.worker_name if job else None),
            "pid": os.getpid(), "job": job.id if job is not None else None}


def _fan_out(ctx, batch: int) -> list[str]:
    """Enqueue helper sweeps when the backlog is larger than one batch and other workers of the
    sweeps queue are idle; the ids enqueued (none outside a worker, or on SQLite)."""
    from rq import get_current_job
    from ..store.runtime import count_due_instances
    from . import fanout
    from .queues import connect
    job = get_current_job()
    if job is None or ctx.db.dialect == "sqlite" or not ctx.settings.redis_url:
        return []
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        due = count_due_instances(session, now, batch * 16)
    if due <= batch:
        return []
    connection = connect(ctx.settings.redis_url)
    workers = fanout.sweep_workers(connection, os.environ.get("RQ_WORKER_ID") or job.worker_name)
    count = fanout.helpers_needed(due, batch, workers)
    return fanout.enqueue_helpers(connection, job.id, now.isoformat(), count, batch,
                                  timeout=job.timeout or 600)


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
