"""Calendar, escalation queue and supervisor commands."""
from __future__ import annotations

import sys

import click

from ..settings import parse_instant
from .common import cli, emit, handled, json_option, now_option, warn_next_year


@cli.group()
def calendar():
    """工作日日历：导入官方/地方安排，计算第 N 个工作日。"""


@calendar.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--user", "actor", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def calendar_import(state, file, actor, now, as_json):
    """导入 YAML/ICS 日历（docs/calendar-format.md）并重算受影响的期限。"""
    from ..calendar import CalendarImportError
    from ..calendars import import_calendar
    ctx = state.context(now)
    try:
        result = import_calendar(ctx, file, actor)
    except CalendarImportError as err:
        click.echo(f"错误: {err}", err=True)
        sys.exit(1)
    emit(ctx, result, as_json, lambda r: click.echo(
        (f"已导入 {r['source']}（{r.get('days', 0)} 天），重算期限 {len(r['recomputed'])} 个"
         if r["imported"] else f"{r['source']} 已导入过，未变化")))
    warn_next_year(ctx)


@calendar.command("workdays")
@click.argument("start")
@click.argument("n", type=int)
@click.option("--region", default=None, help="机构代码（使用其所在地区的日历）")
@json_option
@click.pass_obj
@handled
def calendar_workdays(state, start, n, region, as_json):
    """START 之后第 N 个工作日是哪一天（从下一个工作日起算）。"""
    from ..calendars import workdays_answer
    ctx = state.context()
    moment = parse_instant(start, ctx.settings.timezone, "START")
    if n < 0:
        raise click.BadParameter("N 不能为负数", param_hint="N")
    result = workdays_answer(ctx, moment, n, region)
    emit(ctx, result, as_json, lambda r: click.echo(
        f"{r['date']}{'（暂定）' if r['provisional'] else ''}  来源: {r['source']}"))
    warn_next_year(ctx.at(moment))


def _print_escalations(rows):
    if not rows:
        click.echo("（无督办）")
    for r in rows:
        click.echo(f"{r['id']}\tL{r['level']}\t{r['status']}\t任务 {r['task']}\t{r['role']} @ {r['org']}\t{r['raised_at']}")


@cli.command()
@click.option("--org", default=None, help="该机构及其下级的督办队列")
@click.option("--status", type=click.Choice(["open", "all"]), default="open")
@json_option
@click.pass_obj
@handled
def escalations(state, org, status, as_json):
    """督办队列。"""
    from ..escalation.actions import list_escalations
    ctx = state.context()
    rows = list_escalations(ctx, org, status)
    emit(ctx, rows, as_json, _print_escalations)


@cli.group()
def escalation():
    """处理督办：确认、备注。"""


@escalation.command("ack")
@click.argument("escalation_id", type=int)
@click.option("--user", required=True)
@click.option("--note", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def escalation_ack(state, escalation_id, user, note, now, as_json):
    """确认督办。"""
    from ..escalation.actions import acknowledge
    ctx = state.context(now)
    emit(ctx, acknowledge(ctx, escalation_id, user, note), as_json, lambda r: _print_escalations([r]))


@escalation.command("note")
@click.argument("escalation_id", type=int)
@click.option("--user", required=True)
@click.option("--note", required=True)
@now_option
@json_option
@click.pass_obj
@handled
def escalation_note(state, escalation_id, user, note, now, as_json):
    """为督办添加备注。"""
    from ..escalation.actions import add_note
    ctx = state.context(now)
    emit(ctx, add_note(ctx, escalation_id, user, note), as_json, lambda r: _print_escalations([r]))


@cli.group()
def task():
    """督导对任务的调整：改派、延期、暂停/恢复计时。"""


def _print_task(t):
    click.echo(f"任务 {t['id']} {t['name']}: {t['status']} {t['assignee'] or ''} @ {t['org']}，"
               f"截止 {t['due_at'] or '无'}{'（计时暂停）' if t.get('paused') else ''}")


@task.command("reassign")
@click.argument("task_id", type=int)
@click.option("--user", required=True, help="执行改派的督导")
@click.option("--to-user", default=None)
@click.option("--to-org", default=None)
@click.option("--reason", required=True)
@now_option
@json_option
@click.pass_obj
@handled
def task_reassign(state, task_id, user, to_user, to_org, reason, now, as_json):
    """把任务改派给某人或某机构。"""
    from ..escalation.actions import reassign
    ctx = state.context(now)
    emit(ctx, reassign(ctx, task_id, user, to_user, to_org, reason), as_json, _print_task)


@task.command("extend")
@click.argument("task_id", type=int)
@click.option("--user", required=True)
@click.option("--until", default=None, help="新的截止时间 (ISO 8601)")
@click.option("--workdays", type=int, default=None, help="延长 N 个工作日")
@click.option("--reason", required=True)
@now_option
@json_option
@click.pass_obj
@handled
def task_extend(state, task_id, user, until, workdays, reason, now, as_json):
    """延长任务期限（需填写原因）。"""
    from ..escalation.actions import extend
    ctx = state.context(now)
    moment = parse_instant(until, ctx.settings.timezone, "--until") if until else None
    emit(ctx, extend(ctx, task_id, user, moment, workdays, reason), as_json, _print_task)


@task.command("pause")
@click.argument("task_id", type=int)
@click.option("--user", required=True)
@click.option("--reason", required=True, help="例如：失联")
@now_option
@json_option
@click.pass_obj
@handled
def task_pause(state, task_id, user, reason, now, as_json):
    """暂停任务计时（暂停的工作时间会顺延期限）。"""
    from ..runtime.sla import pause
    ctx = state.context(now)
    emit(ctx, pause(ctx, task_id, user, reason), as_json, _print_task)


@task.command("resume")
@click.argument("task_id", type=int)
@click.option("--user", required=True)
@click.option("--note", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def task_resume(state, task_id, user, note, now, as_json):
    """恢复任务计时。"""
    from ..runtime.sla import resume
    ctx = state.context(now)
    emit(ctx, resume(ctx, task_id, user, note), as_json, _print_task)


