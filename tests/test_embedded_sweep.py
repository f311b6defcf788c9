"""The embedded scheduler runs the same sweep as `carepath tick`, repeatedly, until stopped."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.scheduler import sweep_forever

from conftest import BPMN, SHANGHAI


def test_sweeps_fire_due_timers_until_stopped(ctx):
    deploy_files(ctx, [BPMN / "timers.bpmn"])
    started = services.start_instance(ctx, "care_team", "510781001001")
    moments = iter([datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI) + timedelta(hours=h) for h in range(3)])
    stop = threading.Event()
    seen = []

    def clock_at_next_sweep():
        moment = next(moments, None)
        if moment is None:
            stop.set()
            moment = datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI)
        seen.append(moment)
        return ctx.at(moment)

    sweeps = sweep_forever(clock_at_next_sweep, 0.01, stop)
    assert sweeps == 4
    elements = [t["element"] for t in services.list_tasks(ctx, instance_id=started.instance)]
    assert elements.count("care") == 1 and elements.count("visit") == 1
