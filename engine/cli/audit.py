"""`carepath audit`: the audit log at the server's console (every row; the console is the
server's own), as a table, JSON lines or CSV. Each reading is itself audited."""
from __future__ import annotations

import json

import click

from ..errors import InvalidInput
from .common import cli, handled, json_option, now_option

TABLE_LIMIT = 100
DETAIL_WIDTH = 80


def _print_table(entries: list[dict], maybe_more: bool) -> None:
    from .. import audit as audit_log
    if not entries:
        click.echo("（无审计记录）")
        return
    click.echo("\t".join(("编号", "时间", "操作人", "操作", "服务对象", "对象", "来源", "详情")))
    for e in entries:
        actor = audit_log.labelled(e["actor_name"], e["actor"]) or "—"
        person = audit_log.labelled(e["person_name"], e["person_ref"]) or "—"
        detail = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True) if e["detail"] else ""
        if len(detail) > DETAIL_WIDTH:
            detail = detail[:DETAIL_WIDTH - 1] + "…"
        click.echo("\t".join((str(e["id"]), e["at"].strftime("%Y-%m-%d %H:%M:%S"), actor, e["action_label"],
                              person, e["target"] or "—", e["origin"] or "—", detail)))
    if maybe_more:
        click.echo(f"（最多显示最近 {len(entries)} 条；用 --limit 或筛选条件查看更多）", err=True)


@cli.command("audit")
@click.option("--person", default=None, help="服务对象（人员编号或 ID）")
@click.option("--user", default=None, help="操作人（用户名）")
@click.option("--action", "actions", multiple=True,
              help="操作代码，可重复或用逗号分隔，如 --action read --action break_glass")
@click.option("--since", default=None, help="起始日期 YYYY-MM-DD（含），或 ISO 8601 时间")
@click.option("--until", default=None, help="截止日期 YYYY-MM-DD（含当天），或 ISO 8601 时间（不含）")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help=f"只取最近 N 条（表格默认 {TABLE_LIMIT} 条，JSON/CSV 默认全部）")
@click.option("--csv", "as_csv", is_flag=True, help="CSV 输出（UTF-8 带 BOM，Excel 可直接打开）")
@now_option
@json_option
@click.pass_obj
@handled
def audit(state, person, user, actions, since, until, limit, as_csv, now, as_json):
    """审计日志：谁在何时、从何处查看或操作了哪些记录（按时间先后列出）。"""
    from .. import audit as audit_log
    if as_csv and as_json:
        raise click.UsageError("--json 与 --csv 只能选一个")
    ctx = state.context(now)
    try:
        since_at, until_at = audit_log.day_bounds(ctx, since, until)
    except InvalidInput as err:
        raise click.BadParameter(err.message, param_hint="--since/--until") from None
    codes = sorted({code.strip() for value in actions for code in value.split(",") if code.strip()})
    table = not (as_csv or as_json)
    wanted = limit or (TABLE_LIMIT if table else None)
    entries = audit_log.audited_entries(
        ctx, audit_log.VIEWED if table else audit_log.EXPORTED, None,
        fmt="csv" if as_csv else ("json" if as_json else None),
        person=person, user=user, actions=codes or None, since=since_at, until=until_at,
        newest_first=True, limit=wanted)
    entries.reverse()                                    # the latest `wanted`, printed oldest first
    if as_csv:
        click.echo(audit_log.export_csv(entries), nl=False)
    elif as_json:
        for entry in entries:
            click.echo(json.dumps(audit_log.entry_json(entry), ensure_ascii=False))
    else:
        _print_table(entries, table and limit is None and len(entries) == wanted)
