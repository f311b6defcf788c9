"""`carepath` command line. Every command that moves state takes `--now` (or CAREPATH_NOW);
`--json` prints machine-readable output; times are shown in the deployment time zone."""
from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from dataclasses import asdict, is_dataclass
from datetime import datetime

import click

from .errors import CarePathError, PathwayInvalid
from .escalation.policy import PolicyError
from .settings import SettingsError, load_settings, parse_instant


class State:
    def __init__(self):
        self._ctx = None

    def context(self, now: str | None = None):
        from .context import EngineContext
        if self._ctx is None:
            self._ctx = EngineContext(load_settings())
        if now:
            return self._ctx.at(parse_instant(now, self._ctx.settings.timezone, "--now"))
        return self._ctx


def _jsonable(value, tz):
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if is_dataclass(value):
        return _jsonable(asdict(value), tz)
    if isinstance(value, dict):
        return {k: _jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, tz) for v in value]
    return value


def emit(ctx, value, as_json: bool, human=None) -> None:
    data = _jsonable(value, ctx.settings.timezone)
    if as_json or human is None:
        click.echo(json.dumps(data, ensure_ascii=False, indent=None if as_json else 2))
    else:
        human(data)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="机器可读的 JSON 输出")(f)


def now_option(f):
    return click.option("--now", envvar="CAREPATH_NOW", default=None,
                        help="引擎时钟 (ISO 8601)；默认当前时间")(f)


def _parse_data(text: str | None):
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"不是有效的 JSON: {err.msg} (第 {err.pos + 1} 个字符)",
                                 param_hint="--data") from err


def handled(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except PathwayInvalid as err:
            for problem in err.problems:
                click.echo(str(problem), err=True)
            click.echo(f"错误: {err.message}", err=True)
            sys.exit(1)
        except CarePathError as err:
            click.echo(f"错误[{err.code}]: {err.message}", err=True)
            sys.exit(1)
        except (SettingsError, PolicyError) as err:
            click.echo(f"配置错误: {err}", err=True)
            sys.exit(2)
    return wrapper


@click.group()
@click.pass_context
def cli(click_ctx):
    """CarePath：跨部门心理健康服务路径引擎。"""
    click_ctx.obj = State()


@cli.command()
@json_option
@click.pass_obj
@handled
def init(state, as_json):
    """创建或升级数据库结构（可重复执行）。"""
    ctx = state.context()
    version = ctx.db.create_schema()
    emit(ctx, {"schema_version": version, "database": ctx.db.dialect}, as_json,
         lambda d: click.echo(f"数据库结构 v{d['schema_version']} 已就绪 ({d['database']})"))


@cli.group()
def directory():
    """机构、角色与用户。"""


@directory.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@json_option
@click.pass_obj
@handled
def directory_load(state, file, as_json):
    """从 YAML 文件导入机构、角色与用户（幂等）。"""
    from .directory import DirectoryError, load_directory
    ctx = state.context()
    try:
        report = load_directory(ctx.db, file)
    except DirectoryError as err:
        click.echo(f"错误: {err}", err=True)
        sys.exit(1)
    emit(ctx, report, as_json, lambda d: click.echo(
        f"已导入 {d['roles']} 个角色, {d['org_units']} 个机构, {d['users']} 个用户, {d['memberships']} 个任职"))


@cli.group()
def pathway():
    """服务路径（BPMN）：校验、部署、列表。"""


@pathway.command("validate")
@click.argument("files", nargs=-1, required=True)
@json_option
@click.pass_obj
def pathway_validate(state, files, as_json):
    """校验 BPMN 文件；每个问题一行：文件:行: 元素: 说明。"""
    from .bpmn.validate import validate_file
    try:
        settings = load_settings()
    except SettingsError as err:
        click.echo(f"配置错误: {err}", err=True)
        sys.exit(2)
    from .pathways import validation_context
    roles, deployed = validation_context(state.context())
    problems = []
    for file in files:
        problems += validate_file(file, roles, deployed, settings.max_bpmn_bytes)
    if as_json:
        click.echo(json.dumps([asdict(p) for p in problems], ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(str(problem))
        if not problems:
            click.echo(f"{len(files)} 个文件校验通过")
    sys.exit(1 if problems else 0)


@pathway.command("deploy")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--comment", default=None, help="版本说明")
@click.option("--user", "actor", default=None, help="部署人")
@now_option
@json_option
@click.pass_obj
@handled
def pathway_deploy(state, files, comment, actor, now, as_json):
    """校验并部署 BPMN 文件；内容未变化时不产生新版本。"""
    from .pathways import deploy_files
    ctx = state.context(now)
    results = deploy_files(ctx, list(files), comment=comment, actor=actor)
    emit(ctx, results, as_json, lambda rows: [click.echo(
        f"{r['process_id']} v{r['version']} {'已部署' if r['changed'] else '未变化'}") for r in rows])


@pathway.command("list")
@json_option
@click.pass_obj
@handled
def pathway_list(state, as_json):
    """已部署的路径及其最新版本。"""
    from .store import pathways as repo
    ctx = state.context()
    with ctx.db.unit_of_work() as session:
        counts = repo.running_counts(session)
        rows = [{"process_id": v.process_id, "name": v.name, "version": v.version,
                 "version_id": v.id, "deployed_at": v.deployed_at, "message_starts": v.message_starts,
                 "running_instances": counts.get(v.id, 0)} for v in repo.latest_versions(session)]
    emit(ctx, rows, as_json, lambda rs: [click.echo(
        f"{r['process_id']}\tv{r['version']}\t{r['name'] or ''}") for r in rs])


def _print_outcome(data):
    click.echo(f"实例 {data['instance']}: {data['status']}")
    if data.get("error"):
        click.echo(f"  错误: {data['error'].get('element', '')} {data['error'].get('message')}")
    for task in data["tasks"]:
        click.echo(f"  任务 {task['id']} {task['name']} → {task['role'] or task['assignee']} @ {task['org']}"
                   f"{'，截止 ' + task['due_at'] if task['due_at'] else ''}")


@cli.command()
@click.argument("process_id")
@click.option("--org", required=True, help="实例所属机构代码")
@click.option("--data", default=None, help="初始数据 (JSON 对象)")
@click.option("--user", "actor", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def start(state, process_id, org, data, actor, now, as_json):
    """启动路径实例。"""
    from .runtime.services import start_instance
    ctx = state.context(now)
    outcome = start_instance(ctx, process_id, org, _parse_data(data), actor)
    emit(ctx, outcome, as_json, _print_outcome)


def _print_tasks(rows):
    if not rows:
        click.echo("（无任务）")
    for t in rows:
        click.echo(f"{t['id']}\t{t['status']}\t{t['name']}\t{t['role'] or ''}\t{t['org']}\t"
                   f"{t['assignee'] or ''}\t{t['due_at'] or ''}")


TASK_FIELDS = ("id", "instance", "name", "element", "role", "org", "status", "assignee", "due_at",
               "process", "form_key", "follow_up_at", "completed_by", "completed_at")


@cli.command()
@click.option("--user", default=None, help="该用户可处理的任务（角色 × 辖区）")
@click.option("--role", default=None)
@click.option("--org", default=None, help="该机构及其下级的任务")
@click.option("--instance", "instance_id", type=int, default=None)
@click.option("--status", type=click.Choice(["open", "completed", "all"]), default="open")
@click.option("--limit", type=int, default=50)
@now_option
@json_option
@click.pass_obj
@handled
def tasks(state, user, role, org, instance_id, status, limit, now, as_json):
    """列出任务。"""
    from .runtime import services
    ctx = state.context(now)
    if user:
        rows = services.tasks_for_user(ctx, user, limit=limit, instance_id=instance_id)
        rows = [r for r in rows if (not role or r["role"] == role)]
    else:
        rows = services.list_tasks(ctx, role, org, instance_id, status)
    rows = [{k: r[k] for k in TASK_FIELDS} for r in rows]
    emit(ctx, rows, as_json, _print_tasks)


def _task_command(name, doc, with_data=False):
    @click.argument("task_id", type=int)
    @click.option("--user", required=True)
    @now_option
    @json_option
    @click.pass_obj
    @handled
    def command(state, task_id, user, now, as_json, data=None):
        from .runtime import services
        ctx = state.context(now)
        if name == "complete":
            result = services.complete(ctx, task_id, user, _parse_data(data))
            emit(ctx, result, as_json, _print_outcome)
        else:
            result = getattr(services, name)(ctx, task_id, user)
            emit(ctx, result, as_json, lambda t: click.echo(f"任务 {t['id']}: {t['status']} {t['assignee'] or ''}"))
    command.__doc__ = doc
    command.__name__ = name
    if with_data:
        command = click.option("--data", default=None, help="表单数据 (JSON 对象)")(command)
    return cli.command(name)(command)


_task_command("claim", "认领任务。")
_task_command("release", "退回认领的任务。")
_task_command("complete", "完成任务并推进路径。", with_data=True)


@cli.command()
@now_option
@json_option
@click.pass_obj
@handled
def tick(state, now, as_json):
    """触发到期的定时器并投递待处理的消息（可重复执行）。"""
    from .runtime.services import tick as run_tick
    ctx = state.context(now)
    report = run_tick(ctx)
    emit(ctx, report, as_json, lambda r: click.echo(
        f"{r['now']}: 触发定时器 {r['timers_fired']} 个，投递消息 {r['messages_delivered']} 条，"
        f"新督办 {r['escalations_raised']} 条"))
    _warn_next_year(ctx)


@cli.command()
@click.argument("instance_id", type=int)
@click.option("--user", "actor", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def retry(state, instance_id, actor, now, as_json):
    """重试处于错误状态的实例。"""
    from .runtime.services import retry_instance
    ctx = state.context(now)
    emit(ctx, retry_instance(ctx, instance_id, actor), as_json, _print_outcome)


@cli.command()
@click.argument("instance_id", type=int)
@json_option
@click.pass_obj
@handled
def instance(state, instance_id, as_json):
    """实例详情：状态、错误、当前任务与事件记录。"""
    from .runtime.queries import instance_detail
    ctx = state.context()
    emit(ctx, instance_detail(ctx, instance_id), as_json)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--interval", default=30.0, show_default=True, type=float, help="扫描间隔（秒）")
@click.pass_obj
@handled
def run(state, host, port, interval):
    """运行 CarePath：初始化数据库并在进程内定时扫描（定时器、消息）。"""
    import logging
    import threading
    from .runtime.scheduler import sweep_forever
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ctx = state.context()
    ctx.db.create_schema()
    stop = threading.Event()
    click.echo(f"CarePath 引擎已启动 ({ctx.db.dialect})，每 {interval:g} 秒扫描一次定时器与消息。"
               f"网页界面尚未包含在此版本中（{host}:{port} 未监听）。按 Ctrl-C 退出。")
    try:
        sweep_forever(lambda: state.context(), interval, stop)
    except KeyboardInterrupt:
        stop.set()
        click.echo("已停止。")


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
    from .calendar import CalendarImportError
    from .calendars import import_calendar
    ctx = state.context(now)
    try:
        result = import_calendar(ctx, file, actor)
    except CalendarImportError as err:
        click.echo(f"错误: {err}", err=True)
        sys.exit(1)
    emit(ctx, result, as_json, lambda r: click.echo(
        (f"已导入 {r['source']}（{r.get('days', 0)} 天），重算期限 {len(r['recomputed'])} 个"
         if r["imported"] else f"{r['source']} 已导入过，未变化")))
    _warn_next_year(ctx)


def _warn_next_year(ctx) -> None:
    from .calendars import next_year_warning
    warning = next_year_warning(ctx)
    if warning:
        click.echo(f"警告: {warning}", err=True)


@calendar.command("workdays")
@click.argument("start")
@click.argument("n", type=int)
@click.option("--region", default=None, help="机构代码（使用其所在地区的日历）")
@json_option
@click.pass_obj
@handled
def calendar_workdays(state, start, n, region, as_json):
    """START 之后第 N 个工作日是哪一天（从下一个工作日起算）。"""
    from .calendars import workdays_answer
    ctx = state.context()
    moment = parse_instant(start, ctx.settings.timezone, "START")
    if n < 0:
        raise click.BadParameter("N 不能为负数", param_hint="N")
    result = workdays_answer(ctx, moment, n, region)
    emit(ctx, result, as_json, lambda r: click.echo(
        f"{r['date']}{'（暂定）' if r['provisional'] else ''}  来源: {r['source']}"))
    _warn_next_year(ctx.at(moment))


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
    from .escalation.actions import list_escalations
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
    from .escalation.actions import acknowledge
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
    from .escalation.actions import add_note
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
    from .escalation.actions import reassign
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
    from .escalation.actions import extend
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
    from .runtime.sla import pause
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
    from .runtime.sla import resume
    ctx = state.context(now)
    emit(ctx, resume(ctx, task_id, user, note), as_json, _print_task)


def main():
    try:
        cli(prog_name="carepath")
    except SettingsError as err:
        click.echo(f"配置错误: {err}", err=True)
        sys.exit(2)
    except Exception as err:  # last resort: one clear line, the traceback only on request
        if os.environ.get("CAREPATH_DEBUG"):
            traceback.print_exc()
        click.echo(f"内部错误: {type(err).__name__}: {err}（设置 CAREPATH_DEBUG=1 查看详情）", err=True)
        sys.exit(3)
