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
        from .runtime.forms import FormCache
        self.forms = FormCache()
        from .calendars import CalendarCache
        self.calendars = CalendarCache(self.settings)
        self._policy = None
        self.tier_cache: dict = {}      # pathway version id → the tier of each of its variables

    def at(self, now: datetime | None) -> "EngineContext":
        """The same engine (database, caches) with the clock moved to `now`."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.clock = Clock(now or self.settings.now, self.settings.timezone)
        return other

    def calendar(self, chain: list[str] | None = None, session=None):
        """The working-day calendar (stored layers included) for an org unit, given its chain of
        codes from the root; the national calendar without a chain. Inside a unit of work, pass
        its session: the stored layers are then checked in that transaction."""
        calendar = self.calendars.current(self.db, session)
        return calendar.for_region(chain) if chain else calendar

    def script_engine(self, org_path: str | None = None):
        """A sandboxed script engine on this clock, for an instance at `org_path`. The calendar
        is looked up only if an expression asks for working days."""
        from .calendars import chain_of
        chain = chain_of(org_path)
        return self._new_script_engine(lambda: self.calendar(chain), chain)

    def _new_script_engine(self, calendar, chain: list[str]):
        """The script engine class this engine runs instances with (a simulation's follows stated
        branch odds at its gateways)."""
        from .runtime.script_engine import PathwayScriptEngine
        return PathwayScriptEngine(self.clock, calendar, self.settings.script_time_limit, chain=chain)

    def policy(self):
        """The escalation policy of this deployment (CAREPATH_ESCALATION_POLICY), read once."""
        if self._policy is None:
            from .escalation.policy import load_policy
            self._policy = load_policy(self.settings.escalation_policy)
        return self._policy
