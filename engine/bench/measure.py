"""Timing and the statistics every figure uses: wall-clock seconds from `time.perf_counter`,
medians, and the 95th percentile by nearest rank (the smallest sample at or above 95 % of them)."""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable


def timed(work: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary_ms(samples: list[float]) -> dict:
    """Seconds in, milliseconds out: count, median, p95, min, max (3 decimals)."""
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "median_ms": round(median(samples) * 1000, 3),
            "p95_ms": round(p95(samples) * 1000, 3), "min_ms": round(min(samples) * 1000, 3),
            "max_ms": round(max(samples) * 1000, 3)}


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator else None
