"""`carepath db`: the database schema, as Alembic revisions (engine/store/migrations): upgrade it
(or print the SQL of the upgrade), say where it stands, list the revisions."""
from __future__ import annotations

import click

from .common import cli, emit, handled, json_option

_STATES = {
    "empty": "空库（尚无 CarePath 的表）",
    "legacy": "Alembic 之前的结构",
    "behind": "待升级",
    "current": "已是最新",
    "unknown": "此版本 CarePath 不认识的版本（应由更新版本的 CarePath 写入），不会改动它",
}


@cli.group()
def db():
    """数据库结构：升级、当前版本、版本历史（Alembic 迁移）。"""


def _print_upgrade(report) -> None:
    where = f"（{report['database']}）"
    if not report["applied"]:
        click.echo(f"数据库结构已是最新：{report['revision']}{where}")
        return
    start = report["from_revision"] or "空库"
    if report["legacy_version"] is not None:
        start = f"Alembic 之前的结构 v{report['legacy_version']}"
    click.echo(f"数据库结构已从 {start} 升级到 {report['revision']}{where}")
    click.echo(f"  执行的迁移: {', '.join(report['applied'])}")


@db.command("upgrade")
@click.option("--sql", "as_sql", is_flag=True, help="只输出升级要执行的 SQL，不改动数据库")
@json_option
@click.pass_obj
@handled
def db_upgrade(state, as_sql, as_json):
    """把数据库结构升级到此版本 CarePath 的最新版本（可重复执行；多个进程同时执行时只有一个迁移）。"""
    from ..store.migrations import runner
    ctx = state.context()
    if as_sql:
        click.echo(runner.upgrade_sql(ctx.db), nl=False)
        return
    emit(ctx, runner.upgrade(ctx.db), as_json, _print_upgrade)


def _print_status(status) -> None:
    click.echo(f"数据库: {status['database']}")
    click.echo(f"当前结构版本: {status['revision'] or '无'}")
    if status["state"] == "legacy":
        click.echo(f"旧结构版本 (schema_info): v{status['legacy_version']}")
    click.echo(f"此版本 CarePath 的最新版本: {status['head']}")
    click.echo(f"状态: {_STATES[status['state']]}")
    if status["pending"]:
        click.echo(f"待执行的迁移: {', '.join(status['pending'])}（运行 carepath db upgrade）")


@db.command("current")
@json_option
@click.pass_obj
@handled
def db_current(state, as_json):
    """数据库当前的结构版本、最新版本与待执行的迁移（只读；不存在的 SQLite 文件不会被创建）。"""
    from ..store.migrations import runner
    ctx = state.context()
    emit(ctx, runner.status(ctx.db), as_json, _print_status)


@db.command("history")
@json_option
@click.pass_obj
@handled
def db_history(state, as_json):
    """此版本 CarePath 的全部结构版本，从旧到新；标出数据库当前所在的版本。"""
    from ..store.migrations import runner
    ctx = state.context()
    current = runner.status(ctx.db).revision
    rows = [{**row, "current": row["revision"] == current} for row in runner.history()]
    emit(ctx, rows, as_json, lambda rs: [click.echo(
        f"{'*' if r['current'] else ' '} {r['revision']}\t{r['doc']}") for r in rs])
