"""forecast_minutes_10k_year: how long `carepath simulate` takes for a province-sized cohort."""
from __future__ import annotations

import time
from datetime import date

from ..pathways import deploy_files
from ..simulation.run import Forecast, Plan
from . import results
from .progress import note, progress
from .workbench import library_dir

KEY = "forecast_minutes_10k_year"
PROCESS = "school_screening"
START = date(2027, 1, 4)
STAFF = """\
default: {staff: 2, minutes: [10, 20, 40]}
roles:
  health.mh_center_expert: {staff: 3, minutes: [30, 45, 90]}
"""

METHOD = (
    "`carepath simulate` 的核心（engine.simulation.run.Forecast）：学生心理健康筛查路径 school_screening，"
    "一年（2027-01-04 起 365 天）内 1 万名学生在演示区域各村（社区）的工作时间随机到达，经由真实引擎"
    "（独立的临时 SQLite 预测库）走完各自的路径：按人员配置（每个角色 × 机构 2 人、每件 10–40 分钟，"
    "市级精神卫生中心专家 3 人、每件 30–90 分钟）排队办理，表单数据由表单校验器接受的生成值填写，"
    "分支由数据决定，定时器与督办在各自到期时刻扫描。数值 = 从读取区域到生成结果的墙钟分钟数，目标 ≤ 15 分钟"
    "（“几分钟内完成”）；同时给出任务数、每秒办结任务数与扫描次数。quick 与 tiny 模式用较小的队列，"
    "数值只说明该规模的用时，不与目标比较。"
)


def run(bench, scale) -> dict:
    used = {"pathway": PROCESS, "cohort": scale.forecast_cohort, "days": scale.forecast_days,
            "from": START.isoformat(), "staff": "2 per queue, expert 3"}
    ctx = bench.sqlite("forecast")
    deploy_files(ctx, [library_dir() / f"{PROCESS}.bpmn"])
    staff = bench.dir / "forecast_staff.yaml"
    staff.write_text(STAFF, encoding="utf-8")
    plan = Plan(PROCESS, scale.forecast_cohort, START, scale.forecast_days, seed=1, staff=str(staff),
                branches="data")
    note(f"预测 {scale.forecast_cohort} 人 × {scale.forecast_days} 天……")
    begun = time.perf_counter()
    with progress(f"预测 {scale.forecast_cohort} 人 × {scale.forecast_days} 天", scale.forecast_days) as bar:
        result = Forecast(ctx, plan, progress=bar).run()
    seconds = time.perf_counter() - begun
    totals = result["totals"]
    timings = {"seconds": round(seconds, 1), "people": totals["people"], "tasks": totals["tasks"],
               "completed": totals["completed"], "open_at_end": totals["open_at_end"],
               "tasks_completed_per_second": round(totals["completed"] / seconds, 1),
               "sweeps": result["engine"]["sweeps"], "escalations": totals["escalations"],
               "on_time_rate": totals["on_time_rate"], "errors": result["engine"]["errors"]}
    full = scale.forecast_cohort >= 10_000 and scale.forecast_days >= 365
    notes = [] if full else ["规模小于 1 万人 × 365 天：数值只说明该规模的用时，不与目标比较"]
    record = results.measured(KEY, round(seconds / 60, 2), backend="sqlite", scale=used, timings=timings,
                              notes=notes)
    if not full:
        record["met"] = None
    return record
