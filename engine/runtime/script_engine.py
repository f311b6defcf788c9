"""The script engine an instance runs with: sandboxed, on the engine clock, with time helpers.

Helpers available in every script, condition and time expression:
* `now()` — the engine clock's now (aware, deployment time zone);
* `days(n)`, `hours(n)` — now plus n calendar days / elapsed hours;
* `workdays(n)` — the close of the n-th Chinese working day after today, on the calendar of the
  instance's org unit (engine.calendar).
"""
from __future__ import annotations

from datetime import timedelta

from ..calendar import Calendar
from ..clock import Clock
from ..scripting import ScriptLimitError, SandboxEnvironment, SandboxLimits, SandboxScriptEngine

# Helpers run outside the sandbox's tracer, so their arguments are bounded here (ten years).
MAX_DAYS = 3660
MAX_WORKDAYS = 2500


def _bounded(n, limit: int, helper: str):
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise ScriptLimitError(f"{helper}() 需要数字参数，得到 {type(n).__name__}", None)
    if abs(n) > limit:
        raise ScriptLimitError(f"{helper}({n}) 超出范围：最多 {limit}", None)
    return n


class PathwayScriptEngine(SandboxScriptEngine):
    """One per loaded instance: it knows the clock and the calendar of the instance's unit."""

    def __init__(self, clock: Clock, calendar: Calendar, time_limit: float = 1.0):
        self.clock = clock
        self.tz = clock.tz
        self.calendar = calendar
        helpers = {
            "now": lambda: clock.local(),
            "days": lambda n: clock.local() + timedelta(days=_bounded(n, MAX_DAYS, "days")),
            "hours": lambda n: clock.local() + timedelta(hours=_bounded(n, MAX_DAYS * 24, "hours")),
            "workdays": lambda n: calendar.add_workdays(
                clock.local(), int(_bounded(n, MAX_WORKDAYS, "workdays"))).at,
        }
        super().__init__(environment=SandboxEnvironment(helpers, SandboxLimits(timeout=time_limit)))
