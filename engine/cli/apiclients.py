"""`carepath api-client`: make, list, revoke API clients and give them a new token."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import click

from .common import cli, emit, handled, json_option, now_option
from .users import print_handed_back

TOKEN_WARNING = "请立即妥善保存此令牌：它只显示这一次，之后无法再次查看。"


@cli.group("api-client")
def api_client():
    """接口客户端（外部系统的服务账号）：创建、列表、吊销、更换令牌。"""


def _memberships(values) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        role, at, org = value.rpartition("@")
        if not at or not role.strip() or not org.strip():
            raise click.BadParameter(f"应为 角色@机构，例如 health.supervisor@510781：{value!r}",
                                     param_hint="--member")
        pairs.append((role.strip(), org.strip()))
    return pairs


def _scopes(values) -> list[str]:
    return [scope.strip() for value in values for scope in value.split(",") if scope.strip()]


def _expiry(ctx, text: str | None) -> datetime | None:
    """YYYY-MM-DD: valid through that day (deployment time zone); or an ISO 8601 instant."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date() + timedelta(days=1)
            return datetime.combine(day, time(0), ctx.clock.tz)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"应为 YYYY-MM-DD 或 ISO 8601 时间：{text!r}", param_hint="--expires") from None
    return value if value.tzinfo else value.replace(tzinfo=ctx.clock.tz)


def _print_client(data: dict) -> None:
    members = ", ".join(f"{m['role']}@{m['org']}" for m in data["memberships"])
    expires = f"\t失效于 {data['expires_at']}" if data["expires_at"] else ""
    used = data["last_used_at"] or "从未使用"
    click.echo(f"{data['name']}\t{data['status']}\t{data['username']}\t{members}\t"
               f"{','.join(data['scopes'])}\t前缀 {data['token_prefix']}\t最近使用 {used}{expires}")


def _print_clients(rows: list[dict]) -> None:
    for row in rows:
        _print_client(row)


def _print_token(data: dict) -> None:
    _print_client(data["client"])
    click.echo(f"令牌: {data['token']}")
    click.echo(f"警告: {TOKEN_WARNING}", err=True)


@api_client.command("create")
@click.argument("name")
@click.option("--member", "members", multiple=True, required=True,
              help="角色@机构（可重复），即客户端的辖区，例如 health.supervisor@510781")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="权限范围（可重复，或用逗号分隔），例如 tasks:read,tasks:write")
@click.option("--expires", default=None, help="有效期 YYYY-MM-DD（含当天），或 ISO 8601 时间")
@click.option("--actor", default=None, help="执行操作的人（记入审计日志）")
@now_option
@json_option
@click.pass_obj
@handled
def api_client_create(state, name, members, scopes, expires, actor, now, as_json):
    """创建接口客户端及其服务账号 api:NAME，打印令牌（只显示这一次）。"""
    from ..apiclients import create_client
    ctx = state.context(now)
    client, token = create_client(ctx, name, _memberships(members), _scopes(scopes), actor,
                                  _expiry(ctx, expires))
    emit(ctx, {"client": client, "token": token, "warning": TOKEN_WARNING}, as_json, _print_token)


@api_client.command("list")
@now_option
@json_option
@click.pass_obj
@handled
def api_client_list(state, now, as_json):
    """列出所有接口客户端（含已吊销）：状态、辖区、权限范围、令牌前缀、最近使用时间。"""
    from ..apiclients import list_clients
    ctx = state.context(now)
    emit(ctx, list_clients(ctx), as_json, _print_clients)


def _print_revoked(data: dict) -> None:
    click.echo(f"接口客户端 {data['name']} 已吊销" if data["changed"] else f"接口客户端 {data['name']} 本已吊销")
    print_handed_back(data)


@api_client.command("revoke")
@click.argument("name")
@click.option("--actor", default=None, help="执行操作的人（记入审计日志）")
@now_option
@json_option
@click.pass_obj
@handled
def api_client_revoke(state, name, actor, now, as_json):
    """吊销接口客户端：令牌立即失效，服务账号停用，其认领的任务退回给候选人。"""
    from ..apiclients import revoke_client
    ctx = state.context(now)
    emit(ctx, revoke_client(ctx, name, actor), as_json, _print_revoked)


@api_client.command("rotate")
@click.argument("name")
@click.option("--actor", default=None, help="执行操作的人（记入审计日志）")
@now_option
@json_option
@click.pass_obj
@handled
def api_client_rotate(state, name, actor, now, as_json):
    """为接口客户端更换令牌：旧令牌立即失效，打印新令牌（只显示这一次）。"""
    from ..apiclients import rotate_token
    ctx = state.context(now)
    client, token = rotate_token(ctx, name, actor)
    emit(ctx, {"client": client, "token": token, "warning": TOKEN_WARNING}, as_json, _print_token)
