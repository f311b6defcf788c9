"""The figures, their goals, and the record each figure leaves in the results.

A figure record: `figure` (its key), `status` ("measured", "failed": the engine failed while
being measured, "skipped": it could not be measured here), `value` (a number, or None unless
measured), `unit`, `goal` ({"op", "target", "text"}), `met` (None unless measured), `backend`,
`scale` (the counts actually used), `timings` (the raw timings behind the value), `reason` (why
failed or skipped), `notes` and `seconds` (how long the figure took to run).
"""
from __future__ import annotations

GOALS = {
    "start_ratio_vs_spiff": (">=", 0.5, "ratio"),
    "complete_latency_ratio_200_vs_10": ("<=", 1.3, "ratio"),
    "sweep_ratio_100k_vs_1k": ("<=", 1.5, "ratio"),
    "inbox_p95_ms": ("<=", 20.0, "ms"),
    "bytes_per_instance": ("<=", 8192.0, "bytes"),
    "worker_scaling_2_vs_1": (">=", 1.7, "ratio"),
    "forecast_minutes_10k_year": ("<=", 15.0, "minutes"),
}
FIGURES = tuple(GOALS)


def goal(key: str) -> dict:
    op, target, unit = GOALS[key]
    shown = {"bytes": f"{target / 1024:g} KB（{target:g} 字节）",
             "ms": f"{target:g} ms", "minutes": f"{target:g} 分钟"}.get(unit, f"{target:g}")
    return {"op": op, "target": target, "text": f"{'≥' if op == '>=' else '≤'} {shown}"}


def meets(key: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, target, _unit = GOALS[key]
    return value >= target if op == ">=" else value <= target


def record(key: str, status: str, *, value: float | None = None, backend: str, scale: dict,
           timings: dict | None = None, reason: str | None = None, notes: list[str] | None = None) -> dict:
    measured = status == "measured"
    return {"figure": key, "status": status, "value": value if measured else None,
            "unit": GOALS[key][2], "goal": goal(key), "met": meets(key, value) if measured else None,
            "backend": backend, "scale": scale, "timings": timings or {}, "reason": reason,
            "notes": notes or []}


def measured(key: str, value: float, **kwargs) -> dict:
    return record(key, "measured", value=value, **kwargs)


def skipped(key: str, reason: str, **kwargs) -> dict:
    return record(key, "skipped", reason=reason, **kwargs)


def failed(key: str, reason: str, **kwargs) -> dict:
    return record(key, "failed", reason=reason, **kwargs)


def combined(key: str, by_backend: dict[str, dict]) -> dict:
    """One figure measured on several backends: its value is the worse of those measured, met
    only if every measured backend met the goal; each backend's record under `backends`."""
    done = [r for r in by_backend.values() if r["status"] == "measured"]
    op = GOALS[key][0]
    worst = (min if op == ">=" else max)((r["value"] for r in done), default=None)
    status = "measured" if done else ("failed" if any(r["status"] == "failed" for r in by_backend.values())
                                      else "skipped")
    reasons = [f"{name}: {r['reason']}" for name, r in by_backend.items() if r["reason"]]
    merged = record(key, status, value=worst, backend="+".join(by_backend),
                    scale={name: r["scale"] for name, r in by_backend.items()},
                    timings={"value_by_backend": {name: r["value"] for name, r in by_backend.items()}},
                    reason="; ".join(reasons) or None,
                    notes=["取各后端中较差的值（每个后端的结果见 backends）"])
    if done:
        merged["met"] = all(r["met"] for r in done)
    merged["backends"] = by_backend
    return merged
