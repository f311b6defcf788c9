"""Fan-out: a sweep that finds a backlog asks the idle workers of its queue for help.

A `sweep` job counts the due instances (up to a cap). When there are more than one batch, it
enqueues helper sweeps on the `sweeps` queue for the other workers that are idle right now
(`rq.Worker.all(queue=…)`), never more than the workers minus one (itself) and never more than the
backlog has batches for. The helpers are ordinary sweeps at the parent's engine time that do not
fan out themselves; with the parent they drain the backlog together, because each due instance is
claimed by one sweep at a time (`engine.store.runtime.claim_due_instance`).

Helper ids derive from the parent's (`<parent>-helper1`, `-helper2`, …) and each is claimed in
Redis (`SET NX`) before it is enqueued, so a parent that runs again (an rq retry) never queues a
helper twice; rq itself would overwrite a job with the same id and queue it again. A helper that no
worker starts within its queued TTL is dropped; a helper for a worker that has died meanwhile (rq
forgets a dead worker only after its TTL) waits in the queue for any worker. Every helper is as
idempotent as any sweep, so an extra one costs one empty pass.

On SQLite the sweep does not fan out: SQLite writes one transaction at a time and cannot lock a row
for one sweep, so helpers would mostly fire the same instance as the parent and lose the race.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from redis import Redis
from rq import Worker
from rq.worker import WorkerStatus

from .queues import FAILURE_TTL, MIN_QUEUED_TTL, RESULT_TTL, SERIALIZER, queue
from .registry import SWEEPS

SWEEP_BATCH = 200           # due instances one sweep is expected to fire before help pays off
CLAIM_PREFIX = "carepath:helper:"


@dataclass(frozen=True)
class Workers:
    """The workers serving a queue, as rq registers them: how many, and which are idle."""
    total: int
    idle_others: int


def helpers_needed(due: int, batch: int, workers: Workers) -> int:
    """How many helper sweeps a sweep that sees `due` instances should ask for."""
    if due <= batch or workers.total < 2:
        return 0
    return max(0, min(workers.idle_others, workers.total - 1, math.ceil(due / batch) - 1))


def sweep_workers(connection: Redis, me: str | None) -> Workers:
    """The workers registered on the sweeps queue; idle ones other than `me` (this job's worker)."""
    workers = Worker.all(queue=queue(SWEEPS, connection), serializer=SERIALIZER)
    idle = [w for w in workers if w.name != me and w.get_state() == WorkerStatus.IDLE]
    return Workers(len(workers), len(idle))


def enqueue_helpers(connection: Redis, parent_id: str, now_iso: str | None, count: int, batch: int,
                    timeout: int) -> list[str]:
    """Enqueue up to `count` helpers of `parent_id`; returns the ids this call enqueued."""
    enqueued = []
    for number in range(1, count + 1):
        job_id = f"{parent_id}-helper{number}"
        if not connection.set(CLAIM_PREFIX + job_id, parent_id, nx=True, ex=RESULT_TTL):
            continue
        try:
            queue(SWEEPS, connection).enqueue_call(
                func="engine.jobs.tasks.sweep",
                kwargs={"now_iso": now_iso, "batch": batch, "helper_of": parent_id},
                job_id=job_id, timeout=timeout, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                ttl=MIN_QUEUED_TTL,
                description=f"sweep helper {number} of {parent_id}")
        except BaseException:
            connection.delete(CLAIM_PREFIX + job_id)
            raise
        enqueued.append(job_id)
    return enqueued
