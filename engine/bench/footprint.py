"""bytes_per_instance: how much runtime state an instance keeps in the database."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, cast, exists, func, select

from ..demo import load_demo
from ..errors import CarePathError
from ..pathways import deploy_files
from ..people import register_person
from ..runtime import services
from ..store.models import Event, Instance
from . import results
from .complete import EngineFailed, Walker, advance
from .measure import ratio
from .progress import note, progress
from .workbench import LOOP_BPMN, LOOP_PROCESS, SHANGHAI, library_dir

KEY = "bytes_per_instance"
VILLAGE = "510781001001"        # 太平村
DEMO_NOW = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)   # the moment cohort.yaml was laid out for

METHOD = (
    "计的是每个实例在 instances 表中的运行时状态：`length(state)`（压缩后的工作流状态，不含流程定义）"
    "加上 `variables` 列 JSON 的字节数（SQLite 中存储的字节）。不计任务行、授权行、事件和审计行。"
    "实例来自：路径库中每条可直接启动的路径各新启动一个（停在第一个等待处）；演示队列 engine/demo/cohort.yaml "
    "按时间线回放（经由真实服务完成各步骤，定时器照常触发）后仍在运行的实例，按是否已完成过任务分为"
    "“第一个等待处”与“已走过若干步”；以及基准循环路径完成 200 次后的实例（来自 complete 指标的老实例，"
    "未运行该指标时在此单独走到 200 次）。数值 = 这些运行中实例的平均字节数，目标 ≤ 8 KB；同时给出最大值、"
    "各组的平均与最大，已结束实例单列、不计入数值。"
)


def instance_bytes(session, instance_id: int) -> int:
    return session.execute(select(_size()).where(Instance.id == instance_id)).scalar_one()


def _size():
    return func.length(Instance.state) + func.coalesce(func.length(cast(Instance.variables, LargeBinary)), 0)


def _stats(values: list[int]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": round(sum(values) / len(values), 1), "max": max(values),
            "min": min(values)}


def _first_waits(ctx, process_ids: list[str]) -> tuple[list[str], list[str]]:
    """Start each pathway once at 太平村 for a bench person; the ones started and those refused."""
    started, refused = [], []
    register_person(ctx, "BENCH-0001", "基准测试对象", VILLAGE)
    for process_id in process_ids:
        try:
            services.start_instance(ctx, process_id, VILLAGE, {}, person="BENCH-0001")
            started.append(process_id)
        except CarePathError as err:
            refused.append(f"{process_id}: {err.message}")
    return started, refused


def _loop_instance(bench, ctx, scale) -> tuple[dict | None, str | None]:
    found = bench.shared.get("loop_instance")
    if found is not None:
        return found, None
    deploy_files(ctx, [LOOP_BPMN])
    walker = Walker(ctx)
    try:
        with progress(f"基准循环实例完成 {scale.complete_late} 次", scale.complete_late) as bar:
            advance(walker, scale.complete_late, bar)
    except EngineFailed as err:
        if walker.done == 0:
            return None, str(err)
        return {"completions": walker.done, "bytes": _bytes_of(ctx, walker.instance)}, str(err)
    return {"completions": walker.done, "bytes": _bytes_of(ctx, walker.instance)}, None


def _bytes_of(ctx, instance_id: int) -> int:
    with ctx.db.unit_of_work() as session:
        return instance_bytes(session, instance_id)


def run(bench, scale) -> dict:
    ctx = bench.sqlite("footprint").at(DEMO_NOW)
    library = sorted(library_dir().glob("*.bpmn"))
    notes = []
    if scale.footprint_cohort:
        note("回放演示队列（engine/demo/cohort.yaml）……")
        report = load_demo(ctx, library_dir())
        process_ids = report.pathways
    else:
        process_ids = [r.process_id for r in deploy_files(ctx, library)]
        notes.append("未回放演示队列（tiny 规模）：没有“已走过若干步”的实例")
    started, refused = _first_waits(ctx, process_ids)
    notes += [f"不能直接启动: {r}" for r in refused]
    loop, loop_error = _loop_instance(bench, ctx, scale)
    if loop_error:
        notes.append(f"循环实例: {loop_error}")

    stepped = exists().where(Event.instance_id == Instance.id, Event.kind == "task_completed")
    with ctx.db.unit_of_work() as session:
        rows = session.execute(select(Instance.process_id, Instance.status, stepped.label("stepped"),
                                      _size().label("bytes"))).all()
    groups = {"first_wait": [], "after_steps": [], "loop_after_completions": [], "completed": [],
              "error": []}
    for process_id, status, has_steps, size in rows:
        if status != "running":
            groups["error" if status == "error" else "completed"].append(size)
        elif process_id != LOOP_PROCESS:
            groups["after_steps" if has_steps else "first_wait"].append(size)
    if loop is not None:
        groups["loop_after_completions"].append(loop["bytes"])
    running = groups["first_wait"] + groups["after_steps"] + groups["loop_after_completions"]
    used = {"library_pathways": len(library), "started_at_first_wait": len(started),
            "cohort_replayed": scale.footprint_cohort, "running_instances": len(running),
            "loop_completions": loop["completions"] if loop else None}
    if not running:
        return results.failed(KEY, "没有运行中的实例可量", backend="sqlite", scale=used, notes=notes)
    mean = round(sum(running) / len(running), 1)
    timings = {name: _stats(values) for name, values in groups.items()}
    timings["running"] = _stats(running)
    timings["max_within_goal"] = max(running) <= results.GOALS[KEY][1]
    timings["loop_vs_first_wait_mean"] = ratio(loop["bytes"], timings["first_wait"].get("mean", 0)) \
        if loop and groups["first_wait"] else None
    return results.measured(KEY, mean, backend="sqlite", scale=used, timings=timings, notes=notes)
