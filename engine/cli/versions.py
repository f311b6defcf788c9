"""`carepath pathway diff` and `carepath instance migrate`: what changed between two versions of a
pathway, and moving running instances to another version (with a preview first)."""
from __future__ import annotations

import sys

import click

from .common import emit, handled, json_option, now_option
from .setup import pathway
from .work import instance


def _print_diff(process_id: str, old: int, new: int):
    def show(data):
        click.echo(f"{process_id} v{old} → v{new}")
        if data["is_empty"]:
            click.echo("两个版本没有语义差异（图形布局不计）")
            return
        for title, mark, rows in (("新增", "+", data["added"]), ("删除", "-", data["removed"]),
                                  ("修改", "~", data["changed"])):
            if rows:
                click.echo(f"{title}:")
            for row in rows:
                click.echo(f"  {mark} {row['type']} {row['id']}（{row['name'] or ''}）")
                for change in row["changes"]:
                    click.echo(f"      {change['what']}: {_short(change['old'])} → {_short(change['new'])}")
        for key in data["forms_added"]:
            click.echo(f"表单 + {key}")
        for key in data["forms_removed"]:
            click.echo(f"表单 - {key}")
        for form in data["forms_changed"]:
            fields = [*(f"+{k}" for k in form["added_fields"]), *(f"-{k}" for k in form["removed_fields"]),
                      *(f"~{k}" for k in form["changed_fields"])]
            click.echo(f"表单 ~ {form['key']}" + (f"（字段 {'、'.join(fields)}）" if fields else ""))
    return show


def _short(value, limit: int = 80) -> str:
    if value is None:
        return "（无）"
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@pathway.command("diff")
@click.argument("process_id")
@click.argument("from_version", type=int)
@click.argument("to_version", type=int)
@json_option
@click.pass_obj
@handled
def pathway_diff(state, process_id, from_version, to_version, as_json):
    """比较一条路径的两个已部署版本：新增、删除、修改的元素与表单（不含图形布局）。"""
    from ..migration import diff_versions
    ctx = state.context()
    diff = diff_versions(ctx, process_id, from_version, to_version)
    emit(ctx, diff.to_json(), as_json, _print_diff(process_id, from_version, to_version))




def _print_plans(plans):
    for plan in plans:
        head = f"实例 {plan['instance']}（{plan['process_id']} v{plan['from_version']} → v{plan['to_version']}）"
        click.echo(head + ("：可以迁移" if plan["ok"] else f"：不能迁移 — {plan['refusal']}"))
        for token in plan["tokens"]:
            lands = token["lands_on"] or "（无处可去）"
            click.echo(f"  {token['element']}（{token['element_name'] or ''}）{token['state']} → {lands}"
                       + (f"  [{'、'.join(token['changed'])}]" if token["changed"] else "")
                       + (f"  {token['note']}" if token["note"] else ""))


def _print_results(results):
    for result in results:
        if result["ok"]:
            click.echo(f"实例 {result['instance']}：已迁移到 v{result['to_version']}（{result['status']}）")
            for task in result["tasks"]:
                click.echo(f"  任务 {task['id']} {task['name']}" + (f"，截止 {task['due_at']}" if task["due_at"] else ""))
        else:
            click.echo(f"实例 {result['instance']}：未迁移 — {result['message']}")


@instance.command("migrate")
@click.argument("instance_ids", nargs=-1, required=True, type=int)
@click.option("--to", "to_version", required=True, type=int, help="目标版本号（实例所属路径的版本）")
@click.option("--preview", is_flag=True, help="只预览令牌落点，不做任何修改")
@click.option("--actor", default=None, help="执行迁移的人（记入事件日志）")
@now_option
@json_option
@click.pass_obj
@handled
def instance_migrate(state, instance_ids, to_version, preview, actor, now, as_json):
    """把运行中的实例迁移到其路径的另一个版本；有实例被拒绝时退出码为 1。"""
    from ..migration import migrate_instances, preview_migration, targets_by_number
    ctx = state.context(now)
    order = {instance_id: n for n, instance_id in enumerate(dict.fromkeys(instance_ids))}
    groups: dict[int, list[int]] = {}
    for instance_id, version_id in targets_by_number(ctx, list(instance_ids), to_version).items():
        groups.setdefault(version_id, []).append(instance_id)
    if preview:
        rows = sorted((p for version_id, ids in groups.items() for p in preview_migration(ctx, ids, version_id)),
                      key=lambda p: order[p.instance])
        emit(ctx, rows, as_json, _print_plans)
        refused = [(p.instance, p.refusal) for p in rows if not p.ok]
    else:
        rows = sorted((r for version_id, ids in groups.items() for r in migrate_instances(ctx, ids, version_id, actor)),
                      key=lambda r: order[r.instance])
        emit(ctx, rows, as_json, _print_results)
        refused = [(r.instance, r.message) for r in rows if not r.ok]
    for instance_id, reason in refused:
        click.echo(f"错误: 实例 {instance_id} 不能迁移：{reason}", err=True)
    if refused:
        sys.exit(1)
