"""The embedded sweep: `tick` every N seconds in-process (the default without Redis)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from .services import tick

log = logging.getLogger("carepath.scheduler")


def sweep_once(ctx) -> dict:
    """Everything periodic, in order: timers, messages and escalations (tick), then sending
    notifications that are due, then the daily digests, then dropping the API's expired
    idempotency keys (one indexed DELETE)."""
    from .. import idempotency
    from ..notify import deliver_due, send_digests
    report = tick(ctx)
    now = ctx.clock.now()
    report["notifications"] = deliver_due(ctx, now)
    report["digests_sent"] = send_digests(ctx, now)
    report["idempotency_keys_purged"] = idempotency.purge_expired(ctx)
    return report


def sweep_forever(context_at_now: Callable[[], object], interval: float,
                  stop: threading.Event) -> int:
    """Run a sweep, wait `interval` seconds, repeat until `stop` is set; returns sweeps run.

    `context_at_now()` gives the engine with its clock at the moment of each sweep (the wall
    clock in production, a fixed instant under CAREPATH_NOW)."""
    sweeps = 0
    while not stop.is_set():
        report = sweep_once(context_at_now())
        sweeps += 1
        if report["timers_fired"] or report["messages_delivered"]:
            log.info("sweep: %s timers fired, %s messages delivered",
                     report["timers_fired"], report["messages_delivered"])
        stop.wait(interval)
    return sweeps
