"""Redis connection and enqueueing: how a job from the registry becomes an rq job.

Jobs are stored with rq's JSON serializer: arguments (`now_iso`) and results are plain JSON, so
nothing read back from Redis is unpickled. Every enqueuer and worker uses `SERIALIZER`.
"""
from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from ..settings import SettingsError
from .registry import PeriodicJob

SERIALIZER = JSONSerializer
RESULT_TTL = 24 * 3600          # a finished job and its report stay readable for a day
FAILURE_TTL = 30 * 24 * 3600    # a failed job stays in rq's FailedJobRegistry for 30 days
MIN_QUEUED_TTL = 600            # a job nobody started within this (or two periods) is dropped


def connect(redis_url: str | None) -> Redis:
    """A Redis client for `CAREPATH_REDIS_URL`; nothing connects until the first command."""
    if not redis_url:
        raise SettingsError("CAREPATH_REDIS_URL: not set; background workers need Redis "
                            "(without it, `carepath run` sweeps in-process)")
    return Redis.from_url(redis_url)


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=SERIALIZER)


def enqueue(connection: Redis, job: PeriodicJob, now: datetime | None, job_id: str | None = None,
            queued_ttl: int | None = None, arguments: dict | None = None):
    """Enqueue one run of `job` at engine time `now` (None: the worker's engine clock when it runs).

    Without `job_id` the run gets a fresh id (`sweep-manual-…`), so an operator's run is never
    mistaken for, or merged with, a periodic one. `arguments`: further keyword arguments of the
    job function (JSON values), e.g. a sweep's `batch`."""
    retry = None
    if job.retry_intervals:
        retry = Retry(max=len(job.retry_intervals), interval=list(job.retry_intervals))
    return queue(job.queue, connection).enqueue_call(
        func=job.func,
        kwargs={**(arguments or {}), "now_iso": now.isoformat() if now is not None else None},
        job_id=job_id or f"{job.id}-manual-{uuid4().hex[:12]}",
        timeout=job.timeout_seconds,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        ttl=queued_ttl,
        retry=retry,
        description=f"{job.id} at {now.isoformat() if now is not None else 'engine clock'}",
    )
