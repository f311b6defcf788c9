"""Instances of the bench pathway waiting on a timer, in bulk: the sweep and worker figures.

Two templates are started through `services.start_instance` on the bench pathway (a follow-up
task with a 30-day interrupting boundary timer): `parked` at T0 + 400 days, so its timer is far
in the future of the sweeps, and `due` at T0, so its timer is due at `SWEEP_AT` (T0 + 31 days).
The population is cloned from `parked`; a due set is made by giving chosen instances a copy of
`due` with fresh task UUIDs. A sweep at `SWEEP_AT` then fires exactly the due set: each firing
cancels the follow-up task and opens the supervisor's chase task, as in production.
"""
from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import and_
from SpiffWorkflow.util.task import TaskState

from ..pathways import deploy_files, load_specs
from ..runtime import services
from ..store.models import Instance
from . import population
from .population import INSTANCES, Template
from .workbench import LOOP_BPMN, LOOP_PROCESS, T0

SWEEP_AT = T0 + timedelta(days=31)
PARKED_AT = T0 + timedelta(days=400)
VILLAGES = ["510781001001", "510781001002", "510781002001", "510703001001", "510703002001"]


def _template(ctx, at) -> Template:
    started = services.start_instance(ctx.at(at), LOOP_PROCESS, VILLAGES[0], {"visits": 0})
    with ctx.db.unit_of_work() as session:
        return population.template_of(session, started.instance)


def check_copy(ctx, template: Template) -> None:
    """A copy with fresh UUIDs restores with the engine's serializer, its follow-up task ready
    under the new id: the copies are states the engine itself can run."""
    state, mapping = population.fresh_uuids(template.state)
    with ctx.db.unit_of_work() as session:
        row = session.get(Instance, template.instance_id)
        spec, subprocess_specs = load_specs(ctx, session, row.version_id)
    workflow = ctx.serializer.state_from_bytes(state, spec, subprocess_specs, ctx.script_engine())
    ready = {str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    if ready != {mapping[template.spiff_task_id]}:
        raise RuntimeError(f"copied state: ready tasks {ready}, "
                           f"expected the copy of {template.spiff_task_id}")


class TimerPopulation:
    """`count` active instances waiting on a far timer, each with an open task and its grant."""

    def __init__(self, ctx, count: int, on_chunk=None):
        self.ctx = ctx
        deploy_files(ctx, [LOOP_BPMN])
        self.parked = _template(ctx, PARKED_AT)
        self.due = _template(ctx, T0)
        check_copy(ctx, self.due)
        self._tags = itertools.count(1)
        with ctx.db.unit_of_work() as session:
            self.first, self.last = population.clone_instances(session, self.parked, count, VILLAGES,
                                                               on_chunk=on_chunk)
            population.open_tasks(session, self.parked, self.members(), "p0-")
            for template in (self.parked, self.due):        # not part of the population
                population.set_dormant(session, INSTANCES.c.id == template.instance_id, SWEEP_AT)
        self.checkpoint(analyze=True)

    def members(self, step: int = 1, outside: bool = False):
        """Population instances; with `step`, every step-th one (or, `outside`, all the others)."""
        within = INSTANCES.c.id.between(self.first, self.last)
        if step == 1:
            return within
        picked = (INSTANCES.c.id - self.first) % step
        return and_(within, picked != 0 if outside else picked == 0)

    def ids(self, step: int = 1) -> list[int]:
        return list(range(self.first, self.last + 1, step))

    def make_due(self, instance_ids: list[int]) -> None:
        with self.ctx.db.unit_of_work() as session:
            population.make_due(session, self.due, instance_ids)
        self.checkpoint()

    def park(self, instance_ids: list[int]) -> None:
        with self.ctx.db.unit_of_work() as session:
            population.park(session, self.parked, instance_ids, SWEEP_AT, f"p{next(self._tags)}-")
        self.checkpoint()

    def set_dormant(self, instances) -> None:
        with self.ctx.db.unit_of_work() as session:
            population.set_dormant(session, instances, SWEEP_AT)
        self.checkpoint()

    def wake(self, instances) -> None:
        with self.ctx.db.unit_of_work() as session:
            population.wake(session, self.parked, instances)
        self.checkpoint()

    def checkpoint(self, analyze: bool = False) -> None:
        settle(self.ctx, analyze)


def settle(ctx, analyze: bool = False) -> None:
    """After bulk writes, before timing: SQLite folds its write-ahead log into the database (so
    the next timed call does not pay for the checkpoint); PostgreSQL, after a bulk load, gathers
    the planner statistics autovacuum would gather soon after."""
    with ctx.db.engine.connect() as connection:
        if ctx.db.dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif analyze:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
