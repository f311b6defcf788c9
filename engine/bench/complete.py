"""complete_latency_ratio_200_vs_10: does completing a task get slower as an instance ages?"""
from __future__ import annotations

import traceback

from sqlalchemy import func, select

from ..pathways import deploy_files
from ..runtime import services
from ..store.models import Instance
from . import results
from .measure import median, ratio, summary_ms, timed
from .progress import progress
from .workbench import LOOP_BPMN, LOOP_PROCESS

KEY = "complete_latency_ratio_200_vs_10"
VILLAGE = "510781001001"        # 太平村
USER = "fdoc_zhou"              # 家庭医生, 太平镇
WINDOW = 5
VISIT = {"visit_note": "按时随访，情绪平稳，继续观察。", "stable": False}

METHOD = (
    "基准路径 engine/bench/followup_loop.bpmn：一个带工作日期限（workdays(5)）和中断型边界定时器（P30D）"
    "的用户任务“随访”，完成后计数脚本加一，排他网关回到下一轮。在同一个 SQLite 数据库中启动两个实例："
    "“老”实例先完成 195 次，“新”实例先完成 5 次；然后两者交替完成，各计时 5 次——新实例的第 6–10 次与老实例"
    "的第 196–200 次（每次都是 `services.complete`，由太平镇家庭医生提交表单数据并提交事务）。"
    "数值 = 第 196–200 次的中位数 ÷ 第 6–10 次的中位数（目标 ≤ 1.3）。完整模式用 3 对实例。"
    "另记录老实例每 10 次完成的耗时与状态大小，看增长曲线。引擎若在某次完成时出错，如实记为失败并给出次数与错误。"
)


def _state_bytes(ctx, instance_id: int) -> int:
    with ctx.db.unit_of_work() as session:
        return session.scalar(select(func.length(Instance.state)).where(Instance.id == instance_id))


class Walker:
    """One loop instance and its completions so far."""

    def __init__(self, ctx):
        self.ctx = ctx
        outcome = services.start_instance(ctx, LOOP_PROCESS, VILLAGE, {"visits": 0})
        self.instance, self.tasks, self.done = outcome.instance, outcome.tasks, 0

    def complete(self) -> float:
        task = next(t for t in self.tasks if t["element"] == "followup")
        seconds, outcome = timed(lambda: services.complete(self.ctx, task["id"], USER, VISIT))
        self.tasks, self.done = outcome.tasks, self.done + 1
        return seconds


class EngineFailed(Exception):
    """The engine raised while completing: which completion, what, and where (the deepest frame
    in CarePath's engine and the deepest in SpiffWorkflow, as package-relative paths)."""

    def __init__(self, walker: Walker, err: Exception):
        frames = [(f, f.filename.replace("\\", "/")) for f in traceback.extract_tb(err.__traceback__)]
        where = []
        for package in ("engine", "SpiffWorkflow"):
            inside = [(f, path) for f, path in frames
                      if f"/{package}/" in path and "/engine/bench/" not in path]
            if inside:
                frame, path = inside[-1]
                where.append(f"{package}/{path.rsplit(f'/{package}/', 1)[1]}:{frame.lineno} {frame.name}")
        super().__init__(f"第 {walker.done + 1} 次完成任务时引擎出错: {type(err).__name__}: "
                         f"{str(err)[:200]}（{'；'.join(where)}）")
        self.completed = walker.done


def advance(walker: Walker, to: int, bar, curve: list | None = None) -> None:
    while walker.done < to:
        try:
            seconds = walker.complete()
        except Exception as err:      # noqa: BLE001  (the engine failing is a result: recorded)
            raise EngineFailed(walker, err) from err
        if curve is not None and walker.done % 10 == 0:
            curve.append({"completions": walker.done, "ms": round(seconds * 1000, 3),
                          "state_bytes": _state_bytes(walker.ctx, walker.instance)})
        bar.update(1)


def run(bench, scale) -> dict:
    early_end, late_end = scale.complete_early, scale.complete_late
    used = {"pathway": LOOP_PROCESS, "instance_pairs": scale.complete_pairs,
            "early_window": [early_end - WINDOW + 1, early_end],
            "late_window": [late_end - WINDOW + 1, late_end]}
    ctx = bench.sqlite("complete")
    deploy_files(ctx, [LOOP_BPMN])
    early, late, curve = [], [], []
    total = scale.complete_pairs * (early_end + late_end)
    walker = None
    try:
        with progress(f"完成任务：{scale.complete_pairs} 对实例，各完成 {early_end} 次与 {late_end} 次",
                      total) as bar:
            for pair in range(scale.complete_pairs):
                walker = old = Walker(ctx)
                advance(old, late_end - WINDOW, bar, curve if pair == 0 else None)
                walker = new = Walker(ctx)
                advance(new, early_end - WINDOW, bar)
                for _ in range(WINDOW):     # interleaved: young, old, young, old …
                    for one, samples in ((new, early), (old, late)):
                        walker = one
                        try:
                            samples.append(one.complete())
                        except Exception as err:      # noqa: BLE001  (recorded as the result)
                            raise EngineFailed(one, err) from err
                        bar.update(1)
                if pair == 0:
                    curve.append({"completions": old.done, "ms": round(late[-1] * 1000, 3),
                                  "state_bytes": _state_bytes(ctx, old.instance)})
                    bench.shared["loop_instance"] = {"completions": old.done,
                                                     "bytes": _footprint(ctx, old.instance)}
    except EngineFailed as err:
        if walker is not None and walker.done >= 1:
            bench.shared.setdefault("loop_instance", {"completions": walker.done,
                                                      "bytes": _footprint(ctx, walker.instance)})
        return results.failed(KEY, str(err), backend="sqlite", scale=used,
                              timings={"curve_every_10": curve, "completions_before_failure": err.completed})
    value = ratio(median(late), median(early))
    return results.measured(KEY, value, backend="sqlite", scale=used,
                            timings={"early": summary_ms(early), "late": summary_ms(late),
                                     "curve_every_10": curve})


def _footprint(ctx, instance_id: int) -> int:
    from .footprint import instance_bytes
    with ctx.db.unit_of_work() as session:
        return instance_bytes(session, instance_id)
