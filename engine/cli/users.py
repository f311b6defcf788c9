"""`carepath user`: list users, disable and enable them (never delete), set a password."""
from __future__ import annotations

import sys

import click

from .common import cli, emit, handled, json_option, now_option


@cli.group()
def user():
    """用户账号：列表、停用、启用、设置密码（用户只停用，不删除）。"""


def _print_users(rows):
    for row in rows:
        state = "启用" if row["active"] else "停用"
        locked = f"\t锁定至 {row['locked_until']}" if row["locked_until"] else ""
        click.echo(f"{row['username']}\t{row['name']}\t{state}{locked}")


@user.command("list")
@now_option
@json_option
@click.pass_obj
@handled
def user_list(state, now, as_json):
    """列出所有用户（含已停用）：用户名、姓名、是否启用、登录锁定到何时。"""
    from ..accounts import list_users
    ctx = state.context(now)
    emit(ctx, list_users(ctx), as_json, _print_users)


def _print_disabled(data):
    click.echo(f"用户 {data['username']} 已停用" if data["changed"] else f"用户 {data['username']} 本已停用")
    print_handed_back(data)


def print_handed_back(data: dict) -> None:
    """The claimed tasks a disabled account handed back (`released`) or could not (`kept`)."""
    if data["released"]:
        click.echo(f"  退回给候选人的任务: {', '.join(map(str, data['released']))}")
    if data["kept"]:
        click.echo(f"  直接指派、没有其他候选人的任务（请督导改派）: {', '.join(map(str, data['kept']))}")


@user.command("disable")
@click.argument("username")
@click.option("--reason", required=True, help="停用原因（记入审计日志）")
@click.option("--actor", default=None, help="执行操作的人（记入审计日志）")
@now_option
@json_option
@click.pass_obj
@handled
def user_disable(state, username, reason, actor, now, as_json):
    """停用用户：其会话在下次请求时结束，其认领的任务退回给候选人。"""
    from ..accounts import disable_user
    ctx = state.context(now)
    emit(ctx, disable_user(ctx, username, reason, actor), as_json, _print_disabled)


@user.command("enable")
@click.argument("username")
@click.option("--actor", default=None, help="执行操作的人（记入审计日志）")
@now_option
@json_option
@click.pass_obj
@handled
def user_enable(state, username, actor, now, as_json):
    """重新启用已停用的用户。"""
    from ..accounts import enable_user
    ctx = state.context(now)
    emit(ctx, enable_user(ctx, username, actor), as_json, lambda d: click.echo(
        f"用户 {d['username']} 已启用" if d["changed"] else f"用户 {d['username']} 本已启用"))


@user.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码（一行）")
@click.option("--actor", default=None, help="执行操作的人（记入审计日志）")
@now_option
@json_option
@click.pass_obj
@handled
def user_set_password(state, username, password_stdin, actor, now, as_json):
    """设置用户的密码（与用户自己修改时的规则相同）；该用户的所有会话随之结束。"""
    from ..accounts import set_password
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("新密码", hide_input=True, confirmation_prompt="再次输入新密码",
                                err=True)
    ctx = state.context(now)
    emit(ctx, set_password(ctx, username, password, actor), as_json,
         lambda d: click.echo(f"用户 {d['username']} 的密码已设置"))
