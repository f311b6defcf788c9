"""The engine a simulation runs: the production one, with its instances' script engines following
the stated branch odds (`branching.SimulatedScriptEngine`)."""
from __future__ import annotations

from ..context import EngineContext
from .branching import Branching, SimulatedScriptEngine


class SimulationContext(EngineContext):
    def __init__(self, settings, branching: Branching, now=None, db=None):
        super().__init__(settings, now=now, db=db)
        self.branching = branching

    def _new_script_engine(self, calendar, chain: list[str]):
        return SimulatedScriptEngine(self.clock, calendar, self.settings.script_time_limit, chain=chain,
                                     branching=self.branching)
