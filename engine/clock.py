"""The engine's one clock.

Every decision that depends on the time (timers, due dates, escalations) asks a Clock. Tests and
simulations pass a fixed instant (`--now`, `CAREPATH_NOW`) instead of sleeping.
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


class Clock:
    """Wall clock, or a fixed instant when one is given."""

    def __init__(self, fixed: datetime | None = None, tz: ZoneInfo | None = None):
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("a fixed clock needs a time zone-aware instant")
        self._fixed = fixed
        self.tz = tz or ZoneInfo("Asia/Shanghai")

    @property
    def is_fixed(self) -> bool:
        return self._fixed is not None

    def now(self) -> datetime:
        """The current instant, in UTC."""
        if self._fixed is not None:
            return self._fixed.astimezone(timezone.utc)
        return datetime.now(timezone.utc)

    def local(self, instant: datetime | None = None) -> datetime:
        """An instant (default: now) in the deployment time zone."""
        return (instant or self.now()).astimezone(self.tz)
