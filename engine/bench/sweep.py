"""sweep_ratio_100k_vs_1k: does a sweep cost what is due, or what is active?"""
from __future__ import annotations

import random

from ..runtime import services
from . import results
from .backlog import SWEEP_AT, TimerPopulation
from .measure import median, ratio, summary_ms, timed
from .progress import note, progress

KEY = "sweep_ratio_100k_vs_1k"
SEED = 20261102

METHOD = (
    "同一个 SQLite 数据库中建 10 万个基准循环路径的实例：由真实启动的实例按行复制（INSERT … SELECT），"
    "各自在等一个很远的定时器，各有一个待办任务及其授权行（升级查询会看到这些行）。"
    "“1k”阶段只让其中均匀分布的 1 千个保持运行，其余 9.9 万个标为已结束（任务取消、授权删除，"
    "就像数据库里保存的历史实例）；“100k”阶段全部运行。每次计时前从当前运行的实例中随机选 100 个，"
    "换成一个定时器已到期的状态副本（任务 UUID 全新），然后计时一次 `services.tick`"
    "（触发这 100 个定时器、投递消息、检查升级）；之后把它们恢复为等待远定时器。"
    "两个阶段交替进行（1k、100k、100k、1k……），开始时和每次切换阶段后先不计时地扫描一次"
    "（预热，也让切换时的大批写入不落在计时里）；数值 = 100k 阶段中位数 ÷ 1k 阶段中位数（目标 ≤ 1.5）。"
)


def run(bench, scale) -> dict:
    small, large, due = scale.sweep_small, scale.sweep_large, scale.sweep_due
    step = large // small
    used = {"active_small": large // step, "active_large": large, "due_per_tick": due,
            "ticks_per_phase": scale.sweep_ticks}
    ctx = bench.sqlite("sweep")
    with progress(f"定时器实例：复制 {large} 个", large) as bar:
        crowd = TimerPopulation(ctx, large, on_chunk=bar.update)
    chooser = random.Random(SEED)
    samples = {"small": [], "large": []}
    fired = {"small": [], "large": []}
    conflicts = 0
    phase, warmups = "large", 0
    order = []
    for n in range(scale.sweep_ticks):
        order += ["small", "large"] if n % 2 == 0 else ["large", "small"]

    def one_tick():
        chosen = chooser.sample(crowd.ids(step if phase == "small" else 1), due)
        crowd.make_due(chosen)
        seconds, report = timed(lambda: services.tick(ctx.at(SWEEP_AT)))
        crowd.park(chosen)
        return seconds, report

    with progress("扫描计时（1k 与 100k 交替）", len(order)) as bar:
        for index, wanted in enumerate(order):
            if index == 0 or wanted != phase:
                if wanted != phase:
                    note(f"切换到 {'1k' if wanted == 'small' else '100k'} 阶段……")
                    if wanted == "small":
                        crowd.set_dormant(crowd.members(step, outside=True))
                    else:
                        crowd.wake(crowd.members(step, outside=True))
                    phase = wanted
                one_tick()              # warm-up after each switch (and first), untimed
                warmups += 1
            seconds, report = one_tick()
            conflicts += report["conflicts_retried"]
            samples[phase].append(seconds)
            fired[phase].append(report["timers_fired"])
            bar.update(1)
    used["warmup_ticks"] = warmups
    notes = []
    if any(count != due for counts in fired.values() for count in counts):
        notes.append(f"每次应触发 {due} 个定时器，实际: {fired}")
    value = ratio(median(samples["large"]), median(samples["small"]))
    return results.measured(
        KEY, value, backend="sqlite", scale=used, notes=notes,
        timings={"tick_small": summary_ms(samples["small"]), "tick_large": summary_ms(samples["large"]),
                 "timers_fired_small": fired["small"], "timers_fired_large": fired["large"],
                 "conflicts_retried": conflicts})
