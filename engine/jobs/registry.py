"""Periodic background jobs, declared as data in this one place.

Each entry names the job function an rq worker runs, the queue named for its purpose and when the
job is due. `engine.jobs.periodic.schedule_periodic` enqueues one job per entry per period, under
a job id that names the period (`sweep-20261103T010000Z`, `digest-20261103`), so two schedulers
running at once never enqueue a period twice. Every job is idempotent: the engine functions behind
them change nothing the second time they run at the same instant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

SWEEPS = "sweeps"
NOTIFICATIONS = "notifications"
QUEUES = (SWEEPS, NOTIFICATIONS)

# rq accepts only letters, digits, "_" and "-" in job ids (":" separates its execution keys).
_ID = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class PeriodicJob:
    """`func(now_iso=...)` run on `queue` every N seconds, or daily at a local time."""

    id: str
    func: str
    queue: str
    every_seconds: float | None = None
    daily_at: time | None = None
    retry_intervals: tuple[int, ...] = ()
    timeout_seconds: int = 600

    def __post_init__(self):
        if not _ID.fullmatch(self.id):
            raise ValueError(f"periodic job id {self.id!r}: letters, digits and _ only")
        if (self.every_seconds is None) == (self.daily_at is None):
            raise ValueError(f"periodic job {self.id!r}: give one of every_seconds, daily_at")
        if self.queue not in QUEUES:
            raise ValueError(f"periodic job {self.id!r}: unknown queue {self.queue!r}")


def periodic_jobs(settings) -> tuple[PeriodicJob, ...]:
    """The periodic jobs of a deployment (intervals and times come from its settings)."""
    return (
        PeriodicJob(id="sweep", func="engine.jobs.tasks.sweep", queue=SWEEPS,
                    every_seconds=settings.sweep_interval, retry_intervals=(10, 60, 300)),
        PeriodicJob(id="notify", func="engine.jobs.tasks.deliver_notifications",
                    queue=NOTIFICATIONS, every_seconds=60),
        PeriodicJob(id="digest", func="engine.jobs.tasks.send_digests", queue=NOTIFICATIONS,
                    daily_at=settings.digest_time, retry_intervals=(60, 300, 900)),
        PeriodicJob(id="housekeeping", func="engine.jobs.tasks.housekeeping", queue=NOTIFICATIONS,
                    every_seconds=3600, retry_intervals=(60, 300)),
    )


def periodic_job(settings, job_id: str) -> PeriodicJob:
    """The periodic job named `job_id`; ValueError listing the known names otherwise."""
    for job in periodic_jobs(settings):
        if job.id == job_id:
            return job
    known = ", ".join(job.id for job in periodic_jobs(settings))
    raise ValueError(f"unknown job {job_id!r} (known: {known})")


def job_ids() -> tuple[str, ...]:
    """The names of the periodic jobs, for command-line choices (no settings needed)."""
    from ..settings import Settings
    return tuple(job.id for job in periodic_jobs(Settings()))
