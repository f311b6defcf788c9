"""The periodic enqueuer: puts each registry job on its queue once per period.

A period is a slice of time that has a key: `sweep` every 30 s has periods like
`20261103T010000Z` (its UTC start), `digest` daily at 08:30 has `20261103` (the local date of the
latest 08:30 that has passed). The rq job id is `<job>-<period key>` and the job runs at the
period's start as its engine time, so every scheduler computes the same id and the same arguments.

De-duplication: before enqueueing, a scheduler claims the period with Redis `SET key NX EX` on
`carepath:periodic:<job id>`. Only the scheduler whose SET succeeds enqueues; the claim expires
after two periods (plus a minute), long after no clock can still be in that period. rq itself does
not refuse a duplicate job id by default (it overwrites the job and queues it again), so the claim
is what keeps two schedulers from running one period twice. If enqueueing fails, the claim is
released so the next pass tries again; a scheduler killed between claim and enqueue loses that
one period, and the next period's job does its work (every job catches up on everything due).
"""
from __future__ import annotations

import logging
import math
import os
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from redis import Redis
from redis.exceptions import RedisError

from ..clock import Clock
from .queues import MIN_QUEUED_TTL, connect, enqueue
from .registry import PeriodicJob, periodic_jobs

log = logging.getLogger("carepath.jobs.periodic")

CLAIM_PREFIX = "carepath:periodic:"


@dataclass(frozen=True)
class Period:
    key: str
    start: datetime
    seconds: float


def period_of(job: PeriodicJob, now: datetime, tz) -> Period:
    """The period of `job` that `now` falls in."""
    if job.every_seconds is not None:
        length = max(1.0, job.every_seconds)       # ids have one-second resolution
        start = datetime.fromtimestamp(math.floor(now.timestamp() / length) * length, timezone.utc)
        return Period(start.strftime("%Y%m%dT%H%M%SZ"), start, length)
    local = now.astimezone(tz)
    day = local.date() if local.time() >= job.daily_at else local.date() - timedelta(days=1)
    start = datetime.combine(day, job.daily_at, tzinfo=tz)
    return Period(day.strftime("%Y%m%d"), start, 86400.0)


def schedule_periodic(connection: Redis, settings, now: datetime,
                      jobs: tuple[PeriodicJob, ...] | None = None) -> list[str]:
    """Enqueue every periodic job whose current period has not been enqueued yet; returns the
    ids of the jobs enqueued by this call (empty when another scheduler was first)."""
    enqueued = []
    for job in periodic_jobs(settings) if jobs is None else jobs:
        period = period_of(job, now, settings.timezone)
        job_id = f"{job.id}-{period.key}"
        claim = CLAIM_PREFIX + job_id
        if not connection.set(claim, now.isoformat(), nx=True, ex=int(2 * period.seconds) + 60):
            continue
        try:
            enqueue(connection, job, period.start, job_id,
                    queued_ttl=max(MIN_QUEUED_TTL, int(2 * period.seconds)))
        except BaseException:
            connection.delete(claim)
            raise
        log.info("enqueued %s on %s", job_id, job.queue)
        enqueued.append(job_id)
    return enqueued


class PeriodicThread(threading.Thread):
    """Runs `schedule_periodic` every few seconds inside a worker process until stopped.

    A Redis error is logged and retried on the next pass. Any other error is a bug: it is logged,
    recorded in `failure` and the worker is asked to stop (SIGTERM to this process, rq's warm
    shutdown), so a worker never keeps running without its scheduler unnoticed."""

    def __init__(self, settings, jobs: tuple[PeriodicJob, ...]):
        super().__init__(name="carepath-periodic", daemon=True)
        self.settings = settings
        self.jobs = jobs
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        shortest = min((j.every_seconds for j in jobs if j.every_seconds is not None), default=60.0)
        self.pause = min(5.0, max(0.5, shortest / 2))

    def run(self) -> None:
        connection = connect(self.settings.redis_url)
        clock = Clock(self.settings.now, self.settings.timezone)
        while not self.stop.is_set():
            try:
                schedule_periodic(connection, self.settings, clock.now(), self.jobs)
            except RedisError as err:
                log.warning("periodic enqueue failed, retrying in %.0f s: %s", self.pause, err)
            except Exception as err:
                log.exception("periodic scheduler stopped by an error; stopping the worker")
                self.failure = err
                os.kill(os.getpid(), signal.SIGTERM)
                return
            self.stop.wait(self.pause)
