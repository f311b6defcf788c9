"""The script engine an instance runs with: sandboxed, on the engine clock, with time helpers.

Helpers available in every script, condition and time expression:
* `now()` — the engine clock's now (aware, deployment time zone);
* `days(n)`, `hours(n)` — now plus n calendar days / elapsed hours;
* `workdays(n)` — the close of the n-th Chinese working day after today, on the calendar of the
  instance's org unit (engine.calendar).
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Callable

from ..calendar import Calendar, Deadline
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
    """One per loaded instance: it knows the clock and the calendar of the instance's unit.

    Every `workdays(n)` answer is logged in `deadline_log` as (start, n, Deadline), so whoever
    evaluated an expression can tell that its result was counted in working days (and on what
    calendar data) and recompute it when the calendar changes."""

    def __init__(self, clock: Clock, calendar: Callable[[], Calendar], time_limit: float = 1.0,
                 chain: list[str] | None = None):
        self.clock = clock
        self.chain = list(chain or [])
        self.tz = clock.tz
        self._calendar_provider = calendar
        self._calendar: Calendar | None = None
        self.deadline_log: list[tuple[datetime, int, Deadline, list[str]]] = []
        helpers = {
            "now": lambda: clock.local(),
            "days": lambda n: clock.local() + timedelta(days=_bounded(n, MAX_DAYS, "days")),
            "hours": lambda n: clock.local() + timedelta(hours=_bounded(n, MAX_DAYS * 24, "hours")),
            "workdays": self._workdays,
        }
        super().__init__(environment=SandboxEnvironment(helpers, SandboxLimits(timeout=time_limit)))

    @property
    def calendar(self) -> Calendar:
        if self._calendar is None:
            self._calendar = self._calendar_provider()
        return self._calendar

    def _workdays(self, n) -> datetime:
        count = int(_bounded(n, MAX_WORKDAYS, "workdays"))
        start = self.clock.local()
        deadline = self.calendar.add_workdays(start, count)
        self.deadline_log.append((start, count, deadline, list(self.calendar.chain)))
        return deadline.at

    @contextmanager
    def calendar_of(self, calendar: Calendar):
        """Count working days on another unit's calendar for a while (a task moved by orgLevel)."""
        saved = self._calendar
        self._calendar = calendar
        try:
            yield self
        finally:
            self._calendar = saved
