"""One benchmark run: the chosen figures, one after another in this process, and what the run
records about itself (date, mode, machine, wall time)."""
from __future__ import annotations

import os
import platform
import sqlite3
import time
from datetime import datetime, timezone
from importlib import metadata

from . import complete, footprint, forecast, inbox, results, start, sweep, workers
from .progress import note
from .scales import SCALES
from .workbench import Skipped, Workbench

MODULES = {module.KEY: module for module in (start, complete, sweep, inbox, footprint, workers, forecast)}
METHODS = {key: module.METHOD for key, module in MODULES.items()}
# complete runs before bytes_per_instance, which reuses its loop instance after 200 completions
ORDER = ("start_ratio_vs_spiff", "complete_latency_ratio_200_vs_10", "bytes_per_instance",
         "sweep_ratio_100k_vs_1k", "inbox_p95_ms", "worker_scaling_2_vs_1", "forecast_minutes_10k_year")
assert set(ORDER) == set(results.FIGURES) == set(MODULES)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def run_bench(mode: str, only: list[str] | None = None, pg_url: str | None = None,
              redis_url: str | None = None) -> dict:
    """Measure the figures (all, or `only`) at `mode`'s scale; the results as a dict."""
    scale = SCALES[mode]
    chosen = [key for key in ORDER if only is None or key in only]
    started, load_start = time.perf_counter(), _load()
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    bench = Workbench(pg_url, redis_url)
    figures = {}
    try:
        for key in chosen:
            note(f"== {key} ==")
            begun = time.perf_counter()
            try:
                record = MODULES[key].run(bench, scale)
            except Skipped as err:
                record = results.skipped(key, str(err), backend="-", scale=scale.of(key))
            record["seconds"] = round(time.perf_counter() - begun, 1)
            figures[key] = record
            note(f"   {key}: {record['status']} {record['value']}（{record['seconds']} 秒）")
    finally:
        bench.close()
    return {
        "bench_format": 1,
        "date": date,
        "mode": mode,
        "figures_run": chosen,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform(terse=True),
            "sqlite": sqlite3.sqlite_version, "postgresql": bench.postgres_version,
            "spiffworkflow": _version("SpiffWorkflow"), "sqlalchemy": _version("SQLAlchemy"),
            "rq": _version("rq"), "load_average_start": load_start, "load_average_end": _load(),
        },
        "figures": figures,
    }
