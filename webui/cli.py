"""The `carepath` command: the engine's commands plus `carepath run`, which serves the web UI and
sweeps in-process. It lives here because the engine never imports the web UI."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict
from pathlib import Path

import click

from engine.cli import cli, main as engine_main
from engine.cli.common import handled
from engine.cli.setup import print_demo


def _has_pathways(ctx) -> bool:
    from engine.store import pathways as repo
    with ctx.db.unit_of_work() as session:
        return bool(repo.latest_versions(session))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--interval", default=30.0, show_default=True, type=float, help="扫描间隔（秒）")
@click.pass_obj
@handled
def run(state, host, port, interval):
    """运行 CarePath：初始化数据库（空库时先载入演示数据），提供网页界面，并在进程内定时扫描（定时器、消息、督办）。"""
    from werkzeug.serving import run_simple

    from engine.runtime.scheduler import sweep_forever

    from . import create_app
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)      # a line per task state change otherwise
    ctx = state.context()
    ctx.db.create_schema()
    if not _has_pathways(ctx) and os.path.isdir("pathways"):
        from engine.demo import load_demo
        click.echo("数据库为空：先载入演示数据（carepath demo）……")
        print_demo(asdict(load_demo(ctx, Path("pathways"))))
    stop = threading.Event()
    if ctx.settings.redis_url:
        click.echo("已设置 CAREPATH_REDIS_URL：定时扫描与通知由 `carepath worker` 执行，本进程只提供网页界面。")
    else:
        threading.Thread(target=sweep_forever, args=(lambda: state.context(), interval, stop),
                         name="carepath-sweep", daemon=True).start()
        click.echo(f"每 {interval:g} 秒扫描一次定时器、消息与督办。")
    click.echo(f"CarePath 网页界面: http://{host}:{port}/ （{ctx.db.dialect}）。按 Ctrl-C 退出。")
    try:
        run_simple(host, port, create_app(ctx), threaded=True, use_reloader=False)
    finally:
        stop.set()
        click.echo("已停止。")


def main():
    engine_main()
