"""Commands that move instances and tasks: start, tasks, claim, release, complete, tick, retry, instance."""
from __future__ import annotations

import click

from .common import _parse_data, cli, emit, handled, json_option, now_option, warn_next_year


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
@click.option("--person", default=None, help="服务对象的人员编号（已登记）")
@click.option("--user", "actor", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def start(state, process_id, org, data, person, actor, now, as_json):
    """启动路径实例。"""
    from ..runtime.services import start_instance
    ctx = state.context(now)
    outcome = start_instance(ctx, process_id, org, _parse_data(data), actor, person=person)
    emit(ctx, outcome, as_json, _print_outcome)


def _print_tasks(rows):
    if not rows:
        click.echo("（无任务）")
    for t in rows:
        click.echo(f"{t['id']}\t{t['status']}\t{t['name']}\t{t['role'] or ''}\t{t['org']}\t"
                   f"{t['assignee'] or ''}\t{t['due_at'] or ''}")


TASK_FIELDS = ("id", "instance", "name", "element", "role", "org", "status", "assignee", "due_at",
               "due_provisional", "due_source", "paused", "escalation_level", "process", "form_key",
               "follow_up_at", "completed_by", "completed_at", "remaining")


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
    from ..runtime import services
    ctx = state.context(now)
    if user:
        rows = services.tasks_for_user(ctx, user, limit=limit, instance_id=instance_id, role=role)
    else:
        rows = services.list_tasks(ctx, role, org, instance_id, status)
    rows = [{k: r[k] for k in TASK_FIELDS if k in r} for r in rows]
    emit(ctx, rows, as_json, _print_tasks)


def _task_command(name, doc, with_data=False):
    @click.argument("task_id", type=int)
    @click.option("--user", required=True)
    @now_option
    @json_option
    @click.pass_obj
    @handled
    def command(state, task_id, user, now, as_json, data=None):
        from ..runtime import services
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
    from ..runtime.services import tick as run_tick
    ctx = state.context(now)
    report = run_tick(ctx)
    emit(ctx, report, as_json, lambda r: click.echo(
        f"{r['now']}: 触发定时器 {r['timers_fired']} 个，投递消息 {r['messages_delivered']} 条，"
        f"新督办 {r['escalations_raised']} 条"))
    warn_next_year(ctx)


@cli.command()
@click.argument("instance_id", type=int)
@click.option("--user", "actor", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def retry(state, instance_id, actor, now, as_json):
    """重试处于错误状态的实例。"""
    from ..runtime.services import retry_instance
    ctx = state.context(now)
    emit(ctx, retry_instance(ctx, instance_id, actor), as_json, _print_outcome)


class _InstanceGroup(click.Group):
    """`carepath instance ID` shows that instance; `carepath instance migrate ...` moves instances."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_InstanceGroup)
def instance():
    """路径实例：查看（carepath instance ID）与迁移到其他版本。"""


@instance.command("show")
@click.argument("instance_id", type=int)
@json_option
@click.pass_obj
@handled
def instance_show(state, instance_id, as_json):
    """实例详情：状态、错误、当前任务与事件记录。"""
    from ..runtime.queries import instance_detail
    ctx = state.context()
    emit(ctx, instance_detail(ctx, instance_id), as_json)



@cli.group()
def person():
    """服务对象登记与查询。"""


@person.command("register")
@click.argument("ref")
@click.option("--name", required=True, help="姓名")
@click.option("--org", required=True, help="居住地机构代码（村/社区）")
@click.option("--gender", type=click.Choice(["男", "女", "未说明"]), default=None)
@click.option("--birth-date", default=None, help="出生日期 YYYY-MM-DD")
@click.option("--user", "actor", default=None)
@now_option
@json_option
@click.pass_obj
@handled
def person_register(state, ref, name, org, gender, birth_date, actor, now, as_json):
    """登记服务对象（同一编号重复登记相同信息不会重复创建）。"""
    from ..people import register_person
    ctx = state.context(now)
    row = register_person(ctx, ref, name, org, gender=gender, birth_date=birth_date, actor=actor)
    emit(ctx, row, as_json, lambda r: click.echo(f"{r['ref']}\t{r['name']}\t{r['org']}"))
