"""Command-line entry points for background jobs: `carepath worker` and `carepath enqueue`.

Both need CAREPATH_REDIS_URL. Wire them into the `carepath` group with `cli.add_command(worker)`
and `cli.add_command(enqueue)`.
"""
from __future__ import annotations

import functools
import json
import sys

import click
from redis.exceptions import RedisError

from ..settings import SettingsError
from .registry import QUEUES, job_ids


def _handled(f):
    """Settings errors and an unreachable Redis end the command with one clear line."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except SettingsError as err:
            click.echo(f"配置错误: {err}", err=True)
            sys.exit(2)
        except RedisError as err:
            click.echo(f"错误: 无法使用 Redis (CAREPATH_REDIS_URL): {err}", err=True)
            sys.exit(1)
    return wrapper


@click.command()
@click.option("--queue", "-q", "queues", multiple=True, type=click.Choice(QUEUES),
              help="处理的队列，可重复；默认全部 (sweeps, notifications)")
@click.option("--burst", is_flag=True, help="处理完队列中的任务后退出")
@click.option("--with-scheduler/--without-scheduler", default=None,
              help="同时按周期加入定时任务（默认开启；--burst 时默认关闭）")
@_handled
def worker(queues, burst, with_scheduler):
    """运行后台任务进程（rq worker）：定时扫描与通知。"""
    from ..settings import load_settings
    from .worker import run_worker
    run = run_worker(load_settings(), tuple(queues) or QUEUES, burst, with_scheduler)
    if run.scheduler_failure is not None:
        click.echo(f"错误: 周期调度出错，进程已停止: {run.scheduler_failure!r}", err=True)
        sys.exit(1)


@click.command()
@click.argument("job_name", metavar="JOB", type=click.Choice(job_ids()))
@click.option("--now", envvar="CAREPATH_NOW", default=None,
              help="任务运行时的引擎时钟 (ISO 8601)；默认为任务运行时的当前时间")
@click.option("--json", "as_json", is_flag=True, help="机器可读的 JSON 输出")
@_handled
def enqueue(job_name, now, as_json):
    """立即把一次后台任务（如 sweep）加入队列。"""
    from ..settings import load_settings, parse_instant
    from .queues import connect, enqueue as enqueue_job
    from .registry import periodic_job
    settings = load_settings()
    at = parse_instant(now, settings.timezone, "--now") if now else None
    job = enqueue_job(connect(settings.redis_url), periodic_job(settings, job_name), at)
    data = {"job": job.id, "queue": job.origin,
            "now": at.astimezone(settings.timezone).isoformat() if at else None}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(f"已加入队列 {data['queue']}: {data['job']}")
