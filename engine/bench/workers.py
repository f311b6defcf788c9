"""worker_scaling_2_vs_1: does a second `carepath worker` drain due timers faster?"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import func, select

from ..jobs.queues import SERIALIZER, enqueue, queue
from ..jobs.registry import SWEEPS, periodic_job
from ..settings import Settings
from ..store.models import Event, Instance
from . import results
from .backlog import SWEEP_AT, TimerPopulation
from .measure import median, ratio
from .progress import note, progress
from .workbench import Skipped

KEY = "worker_scaling_2_vs_1"
BACKGROUND = 1_000              # instances waiting on a far timer beside the backlog
DRAIN_TIMEOUT = 3_600

METHOD = (
    "PostgreSQL + Redis（未给 --pg-url/--redis-url 时用 engine/devservers.py 启动临时服务器）。数据库中有"
    "一批定时器已到期的基准循环实例（积压），另有 1000 个在等远定时器的实例。每次排空：按工作进程数各入队一个 "
    "sweep 任务（`engine.jobs.queues.enqueue`，引擎时间固定为到期时刻），再同时启动相应个数的真实进程 "
    "`carepath worker --burst --queue sweeps`（环境变量 CAREPATH_DATABASE_URL、CAREPATH_REDIS_URL），"
    "等它们全部退出。吞吐量 = 触发的定时器数（timer_fired 事件计数）÷ 排空时长，排空时长取这次各任务"
    "（含任务派生出的任务）最早开始到最晚结束（rq 记录的 started_at/ended_at，不含进程启动的导入时间）；"
    "另记录进程墙钟时间、每个任务由哪个进程执行、各触发多少定时器、重试的冲突数。"
    "先不计时地排空一次（预热），然后 1 个与 2 个进程交替进行（1、2、2、1……），每次前把积压恢复为同样的到期状态；"
    "数值 = 2 个进程吞吐量中位数 ÷ 1 个进程吞吐量中位数（目标 ≥ 1.7）。本机只有 2 个 CPU，PostgreSQL 也在同机。"
)


def _command() -> list[str]:
    script = Path(sys.executable).with_name("carepath")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from webui.cli import main; main()"]


def _job_ids(connection: Redis) -> set[str]:
    found = set()
    for registry in (FinishedJobRegistry(SWEEPS, connection=connection),
                     FailedJobRegistry(SWEEPS, connection=connection)):
        found |= set(registry.get_job_ids())
    return found


def _fired(ctx) -> int:
    with ctx.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.kind == "timer_fired"))


def _still_due(ctx) -> int:
    with ctx.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Instance).where(
            Instance.status == "running", Instance.wake_at <= SWEEP_AT))


def _wait(processes: list[subprocess.Popen], tick) -> list:
    """Wait for the worker processes, calling `tick` about once a second; past DRAIN_TIMEOUT
    they are killed (these processes only, by their handles) and their codes read "timeout"."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while alive := [p for p in processes if p.poll() is None]:
        if time.monotonic() > deadline:
            for process in alive:
                process.kill()
                process.wait()
            return ["timeout"] * len(processes)
        try:
            alive[0].wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        tick()
    return [p.returncode for p in processes]


class _Drained:
    """Moves a progress bar to the number of backlog timers no longer due."""

    def __init__(self, ctx, bar, due: int):
        self.ctx, self.bar, self.due, self.shown = ctx, bar, due, 0

    def __call__(self) -> None:
        done = self.due - _still_due(self.ctx)
        if done > self.shown:
            self.bar.update(done - self.shown)
            self.shown = done


def _drain(bench, ctx, redis_url: str, workers: int, run: int) -> dict:
    connection = Redis.from_url(redis_url)
    known = _job_ids(connection)
    fired_before = _fired(ctx)
    job = periodic_job(Settings(redis_url=redis_url), "sweep")
    enqueued = [enqueue(connection, job, SWEEP_AT).id for _ in range(workers)]
    env = {**os.environ, "CAREPATH_DATABASE_URL": ctx.settings.database_url, "CAREPATH_REDIS_URL": redis_url}
    env.pop("CAREPATH_NOW", None)
    due = _still_due(ctx)
    with ExitStack() as stack, progress(f"排空积压：{workers} 个工作进程", due) as bar:
        logs = [stack.enter_context(open(bench.dir / f"worker-{run}-{n}.log", "wb")) for n in range(workers)]
        started = time.perf_counter()
        processes = [subprocess.Popen([*_command(), "worker", "--burst", "--queue", SWEEPS], env=env,
                                      stdout=log, stderr=subprocess.STDOUT) for log in logs]
        codes = _wait(processes, _Drained(ctx, bar, due))
        wall = time.perf_counter() - started
    jobs = []
    for job_id in sorted(_job_ids(connection) - known):
        found = Job.fetch(job_id, connection=connection, serializer=SERIALIZER)
        value = found.return_value() if found.get_status() == "finished" else None
        jobs.append({"id": job_id, "status": found.get_status(), "worker": found.worker_name,
                     "started_at": found.started_at, "ended_at": found.ended_at,
                     "timers_fired": (value or {}).get("timers_fired"),
                     "conflicts_retried": (value or {}).get("conflicts_retried")})
    left = queue(SWEEPS, connection).count
    fired = _fired(ctx) - fired_before
    times = [j for j in jobs if j["started_at"] and j["ended_at"]]
    span = (max(j["ended_at"] for j in times) - min(j["started_at"] for j in times)).total_seconds() \
        if times else None
    return {"workers": workers, "exit_codes": codes, "wall_seconds": round(wall, 3),
            "drain_seconds": round(span, 3) if span else None, "timers_fired": fired,
            "still_due": _still_due(ctx), "jobs_enqueued": len(enqueued), "jobs_left_in_queue": left,
            "throughput_per_second": round(fired / span, 2) if span else None,
            "jobs": [{**j, "started_at": j["started_at"].isoformat() if j["started_at"] else None,
                      "ended_at": j["ended_at"].isoformat() if j["ended_at"] else None} for j in jobs]}


def run(bench, scale) -> dict:
    used = {"backlog_due_timers": scale.worker_backlog, "background_instances": BACKGROUND,
            "drains_per_worker_count": scale.worker_runs, "warmup_drains": 1}
    try:
        ctx = bench.postgres("workers")
        redis_url = bench.redis_url()
    except Skipped as err:
        return results.skipped(KEY, str(err), backend="postgresql", scale=used)
    total = BACKGROUND + scale.worker_backlog
    with progress(f"工作进程：复制 {total} 个定时器实例", total) as bar:
        crowd = TimerPopulation(ctx, total, on_chunk=bar.update)
    backlog = crowd.ids()[BACKGROUND:]
    order = [2]                                  # warm-up drain (caches, imports), not counted
    for n in range(scale.worker_runs):
        order += [1, 2] if n % 2 == 0 else [2, 1]
    drains, problems, warmup = [], [], None
    for index, workers in enumerate(order):
        if index > 0:
            crowd.park(backlog)
        crowd.make_due(backlog)
        note(f"第 {index + 1}/{len(order)} 次排空{'（预热，不计）' if index == 0 else ''}")
        drain = _drain(bench, ctx, redis_url, workers, index)
        if index == 0:
            warmup = drain
        else:
            drains.append(drain)
        if drain["still_due"] or any(code != 0 for code in drain["exit_codes"]) or not drain["drain_seconds"]:
            problems.append(f"{workers} 个进程那次: 退出码 {drain['exit_codes']}，仍到期 {drain['still_due']}，"
                            f"任务 {[(j['id'], j['status']) for j in drain['jobs']]}")
    rates = {n: [d["throughput_per_second"] for d in drains
                 if d["workers"] == n and d["throughput_per_second"]] for n in (1, 2)}
    timings = {"drains": drains, "throughput_1": rates[1], "throughput_2": rates[2], "warmup_drain": warmup}
    if problems or not rates[1] or not rates[2]:
        return results.failed(KEY, "排空未完成: " + "; ".join(problems), backend="postgresql",
                              scale=used, timings=timings)
    return results.measured(KEY, ratio(median(rates[2]), median(rates[1])), backend="postgresql",
                            scale=used, timings=timings)
