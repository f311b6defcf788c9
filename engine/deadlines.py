"""Where a task's deadline comes from, and how it moves.

A human task's `due_at` comes from `camunda:dueDate`, or else from the earliest timer on its
boundary. When it was counted in working days (`workdays(n)`), `due_basis` keeps how (start, n,
the calendar chain, SLA pauses), so an imported calendar, or a resumed SLA clock, recomputes it
exactly. `due_source`/`due_provisional` say which calendar data it rests on.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .assignment import unwrap_expression
from .bpmn.moments import resolve_moment
from .bpmn.timers import workdays_basis
from .calendar import Deadline


@dataclass(frozen=True)
class Due:
    at: datetime
    kind: str            # "workdays" | "fixed"
    basis: dict
    source: str
    provisional: bool


def _fixed(at: datetime, **extra) -> Due:
    return Due(at, "fixed", {"kind": "fixed", **extra}, "clock", False)


def due_from_expression(task, text: str, clock) -> Due:
    """Evaluate a dueDate as written (literal or expression), noting any working-day count."""
    engine = task.workflow.script_engine
    log = getattr(engine, "deadline_log", [])
    mark = len(log)
    inner = unwrap_expression(text)
    at = resolve_moment(inner if inner is not None else text,
                        lambda expression: engine.evaluate(task, expression), clock.now(), clock.tz)
    basis = workdays_basis(log[mark:], at)
    if basis is None:
        return _fixed(at)
    return Due(at, "workdays", basis, basis["source"], basis["provisional"])


def due_from_timer(timer_task, at: datetime) -> Due:
    basis = timer_task.internal_data.get("deadline_basis")
    if not basis:
        return _fixed(at, timer=str(timer_task.id))
    return Due(at, "workdays", {**basis, "timer": str(timer_task.id)}, basis["source"], basis["provisional"])


def recount(basis: dict, calendar) -> Deadline:
    """The deadline a working-day basis gives on `calendar`, SLA pauses included."""
    deadline = calendar.add_workdays(datetime.fromisoformat(basis["start"]), int(basis["n"]))
    for paused_from, paused_to in basis.get("pauses", []):
        deadline = calendar.extend_by_working_time(
            deadline, datetime.fromisoformat(paused_from), datetime.fromisoformat(paused_to))
    return deadline


def remaining(calendar, now: datetime, due: datetime | None) -> dict | None:
    """Remaining working time as the inbox shows it ("还剩 1 个工作日", "已超期 2 个工作日")."""
    if due is None:
        return None
    days = calendar.remaining_workdays(now, due)
    if now > due:
        late = max(-days, 0)
        return {"workdays": -late, "overdue": True,
                "text": f"已超期 {late} 个工作日" if late else "今日已超期"}
    if days == 0:
        return {"workdays": 0, "overdue": False, "text": "今日到期"}
    return {"workdays": days, "overdue": False, "text": f"还剩 {days} 个工作日"}
