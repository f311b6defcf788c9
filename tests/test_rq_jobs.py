"""Sweeps as rq jobs: a real redis-server, real `carepath worker` processes, a real SQLite file.

The pathway `care_team` waits until 2026-11-03 09:00 (Shanghai), then opens a `care` task.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import (FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry,
                         StartedJobRegistry)
from sqlalchemy import select

from engine import idempotency
from engine.context import EngineContext
from engine.jobs.periodic import schedule_periodic
from engine.jobs.queues import SERIALIZER, connect, enqueue
from engine.jobs.registry import SWEEPS, periodic_job
from engine.runtime import services
from engine.settings import Settings
from engine.store.api import IdempotencyKey

from conftest import BPMN, SHANGHAI
from servers import process_tree, redis_server, redis_url  # noqa: F401  (fixtures)

STARTED = "2026-11-02T09:00:00+08:00"
DUE = "2026-11-03T09:00:00+08:00"
VILLAGE = "510781001001"


def start_care_team(cli, count: int) -> list[int]:
    cli.run("pathway", "deploy", str(BPMN / "timers.bpmn"))
    return [cli.json("start", "care_team", "--org", VILLAGE, "--now", STARTED)["instance"]
            for _ in range(count)]


def care_tasks(cli, env) -> Counter:
    """Open `care` tasks per instance, as `carepath tasks --json` shows them."""
    return Counter(t["instance"] for t in cli.json("tasks", env=env) if t["element"] == "care")


def fetch(url: str, job_id: str) -> Job:
    return Job.fetch(job_id, connection=Redis.from_url(url), serializer=SERIALIZER)


def test_sweep_job_fires_due_timers_once(cli, redis_url):
    env = {"CAREPATH_REDIS_URL": redis_url}
    instances = start_care_team(cli, 2)
    assert care_tasks(cli, env) == Counter()

    first = cli.json("enqueue", "sweep", "--now", DUE, env=env)
    assert first["queue"] == "sweeps" and first["now"] == DUE
    cli.run("worker", "--burst", env=env)
    assert care_tasks(cli, env) == Counter({i: 1 for i in instances})
    report = fetch(redis_url, first["job"]).return_value()
    assert report["timers_fired"] == 2 and sorted(report["instances"]) == sorted(instances)
    assert datetime.fromisoformat(report["now"]) == datetime.fromisoformat(DUE)

    again = cli.json("enqueue", "sweep", "--now", DUE, env=env)
    assert again["job"] != first["job"]
    cli.run("worker", "--burst", env=env)
    assert care_tasks(cli, env) == Counter({i: 1 for i in instances})
    assert fetch(redis_url, again["job"]).return_value()["timers_fired"] == 0


def test_periodic_jobs_are_enqueued_once_per_period(redis_url):
    settings = Settings(redis_url=redis_url, sweep_interval=30.0)
    connection = connect(redis_url)
    sweeps = Queue(SWEEPS, connection=connection, serializer=SERIALIZER)
    just_after_nine = datetime(2026, 11, 3, 9, 0, 10, tzinfo=SHANGHAI)

    first = schedule_periodic(connection, settings, just_after_nine)
    assert sorted(first) == ["digest-20261103", "housekeeping-20261103T010000Z", "notify-20261103T010000Z",
                             "sweep-20261103T010000Z"]
    assert schedule_periodic(connection, settings, just_after_nine + timedelta(seconds=15)) == []
    assert sweeps.job_ids == ["sweep-20261103T010000Z"]
    job = sweeps.fetch_job("sweep-20261103T010000Z")
    nine = datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(job.kwargs["now_iso"]) == nine     # the period's start
    assert job.retries_left == 3 and job.retry_intervals == [10, 60, 300]

    # The sweep's next period (30 s on); notify's minute, housekeeping's hour and the day's digest are taken.
    later = schedule_periodic(connection, settings, just_after_nine + timedelta(seconds=30))
    assert later == ["sweep-20261103T010030Z"]
    assert sweeps.job_ids == ["sweep-20261103T010000Z", "sweep-20261103T010030Z"]

    # Eight schedulers at once, each with its own connection: one enqueue per period.
    at = just_after_nine + timedelta(minutes=5)
    results, barrier = [], threading.Barrier(8)

    def scheduler():
        own = connect(redis_url)
        barrier.wait()
        results.extend(schedule_periodic(own, settings, at))

    threads = [threading.Thread(target=scheduler) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["notify-20261103T010500Z", "sweep-20261103T010500Z"]
    assert len(sweeps) == 3
    assert "housekeeping-20261103T020000Z" in schedule_periodic(connection, settings, nine + timedelta(hours=1))

    # The digest's period runs from one 08:30 to the next: at 08:00 it is still yesterday's.
    next_morning = datetime(2026, 11, 4, 8, 0, tzinfo=SHANGHAI)
    assert "digest-20261103" not in schedule_periodic(connection, settings, next_morning)
    assert "digest-20261104" in schedule_periodic(connection, settings,
                                                  next_morning + timedelta(minutes=30))


def test_housekeeping_job_purges_the_expired_idempotency_keys(cli, redis_url):
    env = {"CAREPATH_REDIS_URL": redis_url}
    db_url = cli.env["CAREPATH_DATABASE_URL"]
    day_one = datetime(2026, 11, 2, 9, tzinfo=SHANGHAI)
    ctx = EngineContext(Settings(database_url=db_url), now=day_one)
    for key in ("old-1", "old-2"):
        idempotency.reserve(ctx, "client:his", key, "POST", "/api/v1/instances", b"{}")
    idempotency.reserve(ctx.at(day_one + timedelta(hours=23)), "client:his", "fresh", "POST",
                        "/api/v1/instances", b"{}")

    # 24 h and a minute after the first two: they go, the one 23 h old at that point stays.
    queued = cli.json("enqueue", "housekeeping", "--now", (day_one + timedelta(hours=24, minutes=1)).isoformat(),
                      env=env)
    assert queued["queue"] == "notifications"
    cli.run("worker", "--burst", "--queue", "notifications", env=env)
    report = fetch(redis_url, queued["job"]).return_value()
    assert report["idempotency_keys_purged"] == 2
    with ctx.db.unit_of_work() as session:
        assert [k.key for k in session.scalars(select(IdempotencyKey))] == ["fresh"]
    ctx.db.dispose()


def test_worker_schedules_its_periodic_sweep_and_stops_on_sigterm(cli, redis_url, tmp_path):
    instances = start_care_team(cli, 2)
    env = {**cli.env, "CAREPATH_REDIS_URL": redis_url, "CAREPATH_NOW": "2026-11-03T09:00:10+08:00"}
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([cli.exe, "worker", "--queue", "sweeps"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while care_tasks(cli, env) != Counter({i: 1 for i in instances}):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)           # warm shutdown
        assert worker.wait(timeout=30) == 0, log.read_text()
    finally:
        for pid in process_tree(worker.pid) if worker.poll() is None else ():
            os.kill(pid, signal.SIGKILL)
    # The clock stood still at 09:00:10, so however often the scheduler looked, one period, one job.
    finished = FinishedJobRegistry(SWEEPS, connection=connect(redis_url), serializer=SERIALIZER)
    assert finished.get_job_ids() == ["sweep-20261103T010000Z"]
    report = fetch(redis_url, "sweep-20261103T010000Z").return_value()
    assert report["timers_fired"] == 2
    assert datetime.fromisoformat(report["now"]) == datetime.fromisoformat(DUE)  # period start
    assert "warm shut down requested" in log.read_text()


def test_failed_sweep_is_retried_then_kept_in_the_failed_registry(cli, redis_url, tmp_path):
    unreachable = {"CAREPATH_REDIS_URL": redis_url,
                   "CAREPATH_DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'c.sqlite'}"}
    settings = Settings(redis_url=redis_url)
    connection = connect(redis_url)
    sweep = periodic_job(settings, "sweep")
    retried = cli.json("enqueue", "sweep", "--now", DUE, env=unreachable)["job"]
    no_retries = enqueue(connection, dataclasses.replace(sweep, retry_intervals=()),
                         datetime.fromisoformat(DUE)).id
    run = cli.run("worker", "--burst", "--queue", "sweeps", env=unreachable)

    # A failed attempt with retries left is scheduled again (in 10 s); its traceback is logged.
    job = fetch(redis_url, retried)
    assert job.get_status() == "scheduled" and job.retries_left == 2
    assert retried in ScheduledJobRegistry(SWEEPS, connection=connection, serializer=SERIALIZER)
    assert "unable to open database file" in run.stdout + run.stderr

    failed = FailedJobRegistry(SWEEPS, connection=connection, serializer=SERIALIZER)
    assert failed.get_job_ids() == [no_retries]
    assert "unable to open database file" in fetch(redis_url, no_retries).latest_result().exc_string


def test_worker_killed_mid_sweep_loses_and_doubles_nothing(cli, redis_url, tmp_path):
    count = 450          # `carepath tasks` lists at most 500 rows
    env = {"CAREPATH_REDIS_URL": redis_url}
    cli.run("pathway", "deploy", str(BPMN / "timers.bpmn"))
    ctx = EngineContext(Settings(database_url=cli.env["CAREPATH_DATABASE_URL"]),
                        now=datetime.fromisoformat(STARTED))
    instances = [services.start_instance(ctx, "care_team", VILLAGE).instance for _ in range(count)]

    def committed() -> int:
        """Instances whose timer firing is committed (read from the SQLite file, in-process: a
        `carepath tasks` call is too slow to catch the sweep half-way)."""
        return sum(1 for t in services.list_tasks(ctx) if t["element"] == "care")

    killed_job = cli.json("enqueue", "sweep", "--now", DUE, env=env)["job"]
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([cli.exe, "worker", "--queue", "sweeps", "--without-scheduler"],
                                  env={**cli.env, **env}, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while committed() < 30:
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "too few instances committed\n" + log.read_text()
            time.sleep(0.01)
    finally:
        tree = process_tree(worker.pid)    # worker, its work horse, rq's scheduler process
        for pid in tree:
            os.kill(pid, signal.SIGKILL)
        worker.wait()
    assert len(tree) >= 2, "expected the worker and its work horse"
    done_before_kill = committed()
    ctx.db.dispose()
    assert 30 <= done_before_kill < count, \
        f"the sweep was not cut off mid-way ({done_before_kill}/{count}); raise `count`"

    # rq's view: the job is still "started", owned by a worker that no longer beats.
    connection = connect(redis_url)
    started = StartedJobRegistry(SWEEPS, connection=connection, serializer=SERIALIZER)
    assert fetch(redis_url, killed_job).get_status() == "started"
    assert killed_job in started.get_job_ids()

    rerun = cli.json("enqueue", "sweep", "--now", DUE, env=env)["job"]
    cli.run("worker", "--burst", "--queue", "sweeps", env=env)
    assert care_tasks(cli, env) == Counter({i: 1 for i in instances})
    assert fetch(redis_url, rerun).return_value()["timers_fired"] == count - done_before_kill

    # Once its heartbeat has expired, rq's registry cleanup retries the abandoned job (it has
    # retries left: scheduled 10 s on). Run at once, that retry changes nothing.
    started.cleanup(timestamp=time.time() + 3600)
    abandoned = fetch(redis_url, killed_job)
    assert abandoned.get_status() == "scheduled" and abandoned.retries_left == 2
    assert killed_job not in started.get_job_ids()
    ScheduledJobRegistry(SWEEPS, connection=connection, serializer=SERIALIZER).requeue(killed_job)
    cli.run("worker", "--burst", "--queue", "sweeps", env=env)
    assert fetch(redis_url, killed_job).return_value()["timers_fired"] == 0
    assert care_tasks(cli, env) == Counter({i: 1 for i in instances})
