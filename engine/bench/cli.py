"""`carepath bench`: measure the figures, write `results.json` and `results.md`."""
from __future__ import annotations

from pathlib import Path

import click

from .results import FIGURES as FIGURE_NAMES


def _figures(_ctx, _param, value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIGURE_NAMES]
    if unknown:
        raise click.BadParameter(f"未知指标 {', '.join(unknown)}；可选: {', '.join(FIGURE_NAMES)}")
    return names


@click.command("bench")
@click.option("--quick", is_flag=True, help="快速模式：减少重复次数，必要时缩小规模（2 核约 5 分钟）")
@click.option("--json", "as_json", is_flag=True, help="把结果 JSON 打印到标准输出（与 results.json 相同）")
@click.option("--out", "out_dir", default="bench", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="写入 results.json 与 results.md 的目录")
@click.option("--only", callback=_figures, metavar="A,B", help="只测这些指标（逗号分隔）")
@click.option("--pg-url", default=None, metavar="URL",
              help="PostgreSQL 服务器上一个可连接的数据库 URL（会在该服务器上新建并删除基准数据库）；"
                   "默认启动临时服务器")
@click.option("--redis-url", default=None, metavar="URL", help="Redis URL；默认启动临时服务器")
@click.option("--scale", "tiny", type=click.Choice(["tiny"]), default=None, hidden=True)
def bench(quick, as_json, out_dir, only, pg_url, redis_url, tiny):
    """测量性能指标（比值在同一次运行中测得），写入 bench/results.json 与 bench/results.md。"""
    from .report import to_json, write
    from .run import METHODS, run_bench
    mode = tiny or ("quick" if quick else "full")
    results = run_bench(mode, only, pg_url, redis_url)
    json_path, md_path = write(results, METHODS, out_dir)
    click.echo(f"用时 {results['wall_seconds']} 秒；结果已写入 {json_path} 与 {md_path}", err=True)
    if as_json:
        click.echo(to_json(results))
        return
    for key, record in results["figures"].items():
        shown = record["value"] if record["status"] == "measured" else record["status"]
        met = {True: "达成", False: "未达成", None: "—"}[record["met"]]
        click.echo(f"{key:34} {shown!s:>12}  目标 {record['goal']['text']:<18} {met}")
