"""How big each figure's run is, per mode: `full` (the issue's scales), `quick` (fewer
repetitions, and a smaller scale only where the full one cannot fit in five minutes on two cores)
and `tiny` (the test's: seconds, every code path, numbers meaningless). Each figure records the
scale it actually used in the results."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Scale:
    # start_ratio_vs_spiff: interleaved rounds (raw, CarePath and its two parts) after warm-up rounds
    start_runs: int
    start_warmup: int
    # complete_latency_ratio_200_vs_10: instance pairs; the late instance's last window ends at
    # `complete_late` completions, the early one's at `complete_early` (windows of 5)
    complete_pairs: int
    complete_early: int
    complete_late: int
    # sweep_ratio_100k_vs_1k: active instances in each phase, timers made due per tick, ticks per phase
    sweep_small: int
    sweep_large: int
    sweep_due: int
    sweep_ticks: int
    # inbox_p95_ms: open tasks, query rounds (each round asks once for every user)
    inbox_tasks: int
    inbox_rounds: int
    # bytes_per_instance: replay the demo cohort (instances after some steps)
    footprint_cohort: bool
    # worker_scaling_2_vs_1: due timers in the backlog, drains per worker count
    worker_backlog: int
    worker_runs: int
    # forecast_minutes_10k_year: people arriving, days simulated
    forecast_cohort: int
    forecast_days: int

    def of(self, figure: str) -> dict:
        """The fields of one figure (by its module's prefix)."""
        prefix = {"start_ratio_vs_spiff": "start_", "complete_latency_ratio_200_vs_10": "complete_",
                  "sweep_ratio_100k_vs_1k": "sweep_", "inbox_p95_ms": "inbox_",
                  "bytes_per_instance": "footprint_", "worker_scaling_2_vs_1": "worker_",
                  "forecast_minutes_10k_year": "forecast_"}[figure]
        return {k[len(prefix):]: v for k, v in asdict(self).items() if k.startswith(prefix)}


SCALES = {
    "full": Scale(start_runs=200, start_warmup=10, complete_pairs=3, complete_early=10,
                  complete_late=200, sweep_small=1_000, sweep_large=100_000, sweep_due=100,
                  sweep_ticks=6, inbox_tasks=1_000_000, inbox_rounds=20, footprint_cohort=True,
                  worker_backlog=3_000, worker_runs=2, forecast_cohort=10_000, forecast_days=365),
    # quick: the inbox's million tasks alone take minutes to write and query on SQLite, and a
    # backlog of thousands of timers minutes to drain twice: those two are smaller.
    "quick": Scale(start_runs=40, start_warmup=5, complete_pairs=2, complete_early=10,
                   complete_late=200, sweep_small=1_000, sweep_large=100_000, sweep_due=100,
                   sweep_ticks=3, inbox_tasks=500_000, inbox_rounds=3, footprint_cohort=True,
                   worker_backlog=600, worker_runs=2, forecast_cohort=500, forecast_days=30),
    "tiny": Scale(start_runs=4, start_warmup=1, complete_pairs=1, complete_early=10,
                  complete_late=20, sweep_small=50, sweep_large=500, sweep_due=5, sweep_ticks=1,
                  inbox_tasks=2_000, inbox_rounds=2, footprint_cohort=False, worker_backlog=12,
                  worker_runs=1, forecast_cohort=20, forecast_days=5),
}
