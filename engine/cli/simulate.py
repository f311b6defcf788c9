"""`carepath simulate`: forecast a pathway's workload and deadline breaches (engine.simulation)."""
from __future__ import annotations

import click

from .common import _parse_data, cli, emit, handled, json_option, now_option


def _print_result(data: dict) -> None:
    totals = data["totals"]
    rate = totals["on_time_rate"]
    click.echo(f"预测 {data.get('id', '（未保存）')}：{data['pathway_name']}（{data['pathway']} v{data['version']}），"
               f"{data['cohort']} 人，{data['from']} 起 {data['days']} 天，种子 {data['seed']}，"
               f"分支概率：{data['branches']}，人员：{data['staff'] or '不限'}")
    click.echo(f"  任务 {totals['tasks']}，办结 {totals['completed']}，期末在办 {totals['open_at_end']}，"
               f"按时率 {'—' if rate is None else f'{rate:.1%}'}，督办 {totals['escalations']}"
               f"（用时 {data['seconds']} 秒）")
    click.echo("  负荷最重的队列（角色 @ 机构：任务数 / 周峰值 / 最长排队 / 期末排队 / 按时率）：")
    for row in sorted(data["load"], key=lambda r: (-r["queue_max"], -r["total"]))[:10]:
        rate = row["on_time_rate"]
        click.echo(f"    {row['role_name']} @ {row['org_name']}：{row['total']} / {max(row['weekly'] or [0])} / "
                   f"{row['queue_max']} / {row['queue_end']} / {'—' if rate is None else f'{rate:.1%}'}")
    for stage in data["stages"]:
        if stage["completed"] or stage["open"]:
            rate = stage["on_time_rate"]
            click.echo(f"  阶段 {stage['stage']}：办结 {stage['completed']}，超期 {stage['late']}，"
                       f"按时率 {'—' if rate is None else f'{rate:.1%}'}")
    for level in data["escalations"]:
        click.echo(f"  {level['level']} 级督办：{level['count']}")
    for error in data["errors"]:
        click.echo(f"  注意：{error}", err=True)


@cli.command()
@click.argument("pathway")
@click.option("--cohort", type=int, required=True, help="到达的人数")
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), required=True, help="起始日期 YYYY-MM-DD")
@click.option("--days", type=int, required=True, help="预测天数")
@click.option("--staff", type=click.Path(dir_okay=False), default=None,
              help="人员配置文件（YAML：各角色 × 机构的人数与每件用时）；默认人员不限")
@click.option("--branches", default="history",
              help="分支概率：history（来自真实实例，默认）、data（由生成的表单数据决定）或概率文件路径")
@click.option("--org", default=None, help="人员到达的机构范围（该机构下 --level 级机构）")
@click.option("--level", default=None, help="到达的机构层级（默认：历史实例的起点层级，否则 village）")
@click.option("--seed", type=int, default=1, show_default=True, help="随机种子（同一种子结果相同）")
@click.option("--data", "fixed", default=None, help="每次提交都采用的表单值 (JSON 对象；列表表示其一)")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="负荷表写入此 CSV 文件")
@click.option("--into", default=None, help="预测所用的数据库 URL（须为空库；默认临时 SQLite 文件）")
@click.option("--save/--no-save", default=True, show_default=True, help="保存结果，供网页 /simulations 查看")
@click.option("--user", "actor", default=None, help="记录为预测的发起人")
@now_option
@json_option
@click.pass_obj
@handled
def simulate(state, pathway, cohort, start, days, staff, branches, org, level, seed, fixed, csv_path, into,
             save, actor, now, as_json):
    """在独立数据库中用真实引擎模拟一个队列，预测各机构各角色的任务量、排队与超期。"""
    from pathlib import Path

    from ..bench.progress import progress
    from ..simulation.report import load_csv
    from ..simulation.run import Forecast, Plan
    ctx = state.context(now)
    fixed = _parse_data(fixed) or {}
    if not isinstance(fixed, dict):
        raise click.BadParameter("应为 JSON 对象", param_hint="--data")
    plan = Plan(pathway, cohort, start.date(), days, seed=seed, org=org, level=level, staff=staff,
                branches=branches, fixed=fixed, into=into)
    with progress(f"预测 {pathway}：{cohort} 人 × {days} 天", days) as bar:
        result = Forecast(ctx, plan, progress=bar).run()
    if save:
        from ..simulation.saved import save_simulation
        result["id"] = save_simulation(ctx, result, actor)
    if csv_path:
        Path(csv_path).write_text(load_csv(result), encoding="utf-8")
    emit(ctx, result, as_json, _print_result)
