"""The results of a run as JSON (`results.json`, also what `--json` prints) and as Markdown
(`results.md`: a table of the figures, then a paragraph per figure on its method and what it saw)."""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from .results import FIGURES

TITLES = {
    "start_ratio_vs_spiff": "启动：原生 SpiffWorkflow ÷ CarePath",
    "complete_latency_ratio_200_vs_10": "完成任务：第 200 次 ÷ 第 10 次",
    "sweep_ratio_100k_vs_1k": "扫描：10 万活动实例 ÷ 1 千活动实例（实际规模见表）",
    "inbox_p95_ms": "收件箱 p95，100 万待办任务时（实际规模见表）",
    "bytes_per_instance": "每个实例的运行时状态",
    "worker_scaling_2_vs_1": "后台进程：2 个 ÷ 1 个的吞吐量",
    "forecast_minutes_10k_year": "负荷预测：1 万人 × 1 年的用时（实际规模见表）",
}
MET = {True: "达成", False: "未达成", None: "—"}
GROUPS = {"first_wait": "第一个等待处", "after_steps": "已走过若干步", "loop_after_completions": "循环实例",
          "completed": "已结束（不计入）", "error": "出错（不计入）", "running": "全部运行中"}
STATUS = {"measured": "已测", "failed": "引擎出错", "skipped": "跳过"}


def _default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def to_json(results: dict) -> str:
    """The one serialization: the file and `--json` print exactly this text."""
    return json.dumps(results, ensure_ascii=False, indent=2, default=_default)


def _value(record: dict) -> str:
    if record["status"] != "measured":
        return STATUS[record["status"]]
    value, unit = record["value"], record["unit"]
    return {"ms": f"{value:g} ms", "bytes": f"{value:g} B"}.get(unit, f"{value:g}")


def _shown(value) -> str:
    if isinstance(value, list):
        return "–".join(map(str, value)) if len(value) == 2 and all(isinstance(v, int) for v in value) \
            else f"{len(value)} 项"
    return str(value)


def _scale(scale: dict) -> str:
    return "；".join(f"{k}={_shown(v)}" for k, v in scale.items() if not isinstance(v, dict)) or "—"


def _rows(results: dict):
    for key in FIGURES:
        record = results["figures"].get(key)
        if record is None:
            continue
        for name, sub in (record.get("backends") or {"": record}).items():
            label = f"`{key}`" + (f"（{name}）" if name else "")
            yield label, sub


def markdown(results: dict, methods: dict[str, str]) -> str:
    machine = results["machine"]
    lines = [
        "# CarePath 基准测试结果", "",
        f"由 `carepath bench{' --quick' if results['mode'] == 'quick' else ''}` 生成（请勿手工编辑）。"
        f"日期 {results['date']}，模式 `{results['mode']}`，总用时 {results['wall_seconds']} 秒。", "",
        f"机器：{machine['cpu_count']} 个 CPU，Python {machine['python']}，SQLite {machine['sqlite']}，"
        f"PostgreSQL {machine['postgresql'] or '未使用'}，SpiffWorkflow {machine['spiffworkflow']}，"
        f"SQLAlchemy {machine['sqlalchemy']}；开始/结束时系统负载 {machine['load_average_start']} / "
        f"{machine['load_average_end']}。", "",
        "| 指标 | 数值 | 目标 | 达成 | 规模 |", "|---|---|---|---|---|",
    ]
    for label, record in _rows(results):
        lines.append(f"| {label} | {_value(record)} | {record['goal']['text']} | {MET[record['met']]} | "
                     f"{_scale(record['scale'])} |")
    lines += ["", "原始计时（每个数值背后的中位数、p95 与样本数）见同目录的 `results.json`。"
              "下面各段按完整模式的规模叙述方法；这次运行实际所用的规模见上表“规模”一列。", ""]
    for key in FIGURES:
        record = results["figures"].get(key)
        if record is None:
            continue
        lines += [f"## `{key}` — {TITLES[key]}", "", methods[key], ""]
        for label, sub in (record.get("backends") or {"": record}).items():
            prefix = f"**{label}**：" if label else ""
            if sub["status"] == "measured":
                lines.append(f"- {prefix}{_value(sub)}（目标 {sub['goal']['text']}，{MET[sub['met']]}）。"
                             f"{_details(key, sub)}")
            else:
                lines.append(f"- {prefix}{STATUS[sub['status']]}：{one_line(sub['reason'])}")
        for text in record.get("notes") or []:
            lines.append(f"- {text}")
        lines.append("")
    return "\n".join(lines)


def one_line(text: str) -> str:
    """A reason as one Markdown line (an initdb or traceback message spans several)."""
    return " ".join(text.split())


def _ms(summary: dict) -> str:
    return f"中位数 {summary.get('median_ms')} ms、p95 {summary.get('p95_ms')} ms（n={summary.get('n')}）"


def _details(key: str, record: dict) -> str:
    t = record["timings"]
    if key == "start_ratio_vs_spiff":
        line = f"原生 {_ms(t['raw_spiff'])}；CarePath {_ms(t['carepath'])}"
        if "statements_only" in t:
            line += (f"；其中仅内存 {_ms(t['in_memory'])}，仅语句（{t['statement_count']} 条，经 sqlite3 驱动重放并提交）"
                     f"{_ms(t['statements_only'])}；本技术栈上限 {t['ceiling_on_this_stack']}")
        return line + "。"
    if key == "complete_latency_ratio_200_vs_10":
        early, late = (_shown(record["scale"][k]) for k in ("early_window", "late_window"))
        return f"第 {early} 次 {_ms(t['early'])}；第 {late} 次 {_ms(t['late'])}。"
    if key == "sweep_ratio_100k_vs_1k":
        return f"1k 阶段 {_ms(t['tick_small'])}；100k 阶段 {_ms(t['tick_large'])}。"
    if key == "inbox_p95_ms":
        return f"`tasks_for_user` {_ms(t['tasks_for_user'])}；只计 SQL {_ms(t['inbox_query_only'])}。"
    if key == "bytes_per_instance":
        return "；".join(f"{GROUPS[group]} 平均 {s.get('mean')} B、最大 {s.get('max')} B（n={s['n']}）"
                        for group, s in t.items() if group in GROUPS and s.get("n")) + "。"
    if key == "worker_scaling_2_vs_1":
        return f"1 个进程 {t['throughput_1']} 个/秒；2 个进程 {t['throughput_2']} 个/秒。"
    if key == "forecast_minutes_10k_year":
        return (f"{t['people']} 人、{t['tasks']} 个任务（办结 {t['completed']}，期末在办 {t['open_at_end']}），"
                f"每秒办结 {t['tasks_completed_per_second']} 个，扫描 {t['sweeps']} 次，督办 {t['escalations']} 条，"
                f"用时 {t['seconds']} 秒。")
    return ""


def write(results: dict, methods: dict[str, str], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    json_path.write_text(to_json(results) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results, methods) + "\n", encoding="utf-8")
    return json_path, md_path
