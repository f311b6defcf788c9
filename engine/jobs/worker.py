"""`carepath worker`: an rq worker on the CarePath queues, with the periodic enqueuer beside it.

The worker is rq's forking `Worker`: each job runs in a fresh child process (the "work horse"), so
a job that leaks or hangs cannot take the worker with it, and rq kills a horse that overruns its
timeout. rq's own scheduler always runs too (it moves retries that wait for their interval back
onto the queue); `with_scheduler` is about CarePath's periodic enqueuer (`engine.jobs.periodic`).
"""
from __future__ import annotations

from dataclasses import dataclass

from rq import Worker

from ..clock import Clock
from .periodic import PeriodicThread, schedule_periodic
from .queues import SERIALIZER, connect, queue
from .registry import QUEUES, periodic_jobs


@dataclass(frozen=True)
class WorkerRun:
    worked: bool
    scheduler_failure: BaseException | None = None


def run_worker(settings, queues: tuple[str, ...] = QUEUES, burst: bool = False,
               with_scheduler: bool | None = None) -> WorkerRun:
    """Work the given queues until stopped (SIGTERM/SIGINT: warm shutdown) or, with `burst`, until
    they are empty.

    `with_scheduler` (default: on, except with `burst`) enqueues the periodic jobs of the queues
    this worker serves: every few seconds in a thread, or once before draining when bursting."""
    connection = connect(settings.redis_url)
    _preload()
    if with_scheduler is None:
        with_scheduler = not burst
    jobs = tuple(job for job in periodic_jobs(settings) if job.queue in queues)
    worker = Worker([queue(name, connection) for name in queues], connection=connection,
                    serializer=SERIALIZER)
    thread = None
    if with_scheduler and burst:
        schedule_periodic(connection, settings, Clock(settings.now, settings.timezone).now(), jobs)
    elif with_scheduler:
        thread = PeriodicThread(settings, jobs)
        thread.start()
    try:
        worked = worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        if thread is not None:
            thread.stop.set()
            thread.join(timeout=10)
    return WorkerRun(worked, thread.failure if thread is not None else None)


def _preload() -> None:
    """Import the engine once in the worker, so each forked work horse starts with it loaded."""
    import importlib
    import importlib.util
    for module in ("engine.context", "engine.runtime.services", "engine.runtime.messaging"):
        importlib.import_module(module)
    if importlib.util.find_spec("engine.notify") is not None:
        importlib.import_module("engine.notify")
