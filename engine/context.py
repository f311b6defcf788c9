"""The engine's context: settings, database, the one clock, serializer and spec cache."""
from __future__ import annotations

from datetime import datetime

from .bpmn.serializer import PathwaySerializer
from .clock import Clock
from .pathways import SpecCache
from .settings import Settings, load_settings
from .store.db import Database


class EngineContext:
    """Everything a service call needs. Cheap to build; nothing connects until used."""

    def __init__(self, settings: Settings | None = None, now: datetime | None = None,
                 db: Database | None = None):
        self.settings = settings or load_settings()
        self.db = db or Database(self.settings.database_url)
        self.clock = Clock(now or self.settings.now, self.settings.timezone)
        self.serializer = PathwaySerializer()
        self.specs = SpecCache(self.serializer)
        self._calendar = None

    def at(self, now: datetime | None) -> "EngineContext":
        """The same engine (database, caches) with the clock moved to `now`."""
        other = object.__new__(EngineContext)
        other.__dict__.update(self.__dict__)
        other.clock = Clock(now or self.settings.now, self.settings.timezone)
        return other

    def calendar(self, chain: list[str] | None = None):
        """The working-day calendar for an org unit, given its chain of codes from the root."""
        if self._calendar is None:
            from .calendar import Calendar
            self._calendar = Calendar(tz=self.settings.timezone, close_time=self.settings.workday_close)
        return self._calendar.for_region(chain) if chain else self._calendar

    def script_engine(self, org_path: str | None = None):
        """A sandboxed script engine on this clock, for an instance at `org_path`."""
        from .runtime.script_engine import PathwayScriptEngine
        chain = [code for code in (org_path or "").split("/") if code]
        return PathwayScriptEngine(self.clock, self.calendar(chain), self.settings.script_time_limit)
