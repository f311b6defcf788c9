"""SQL for the supervisors' indicators: aggregates over human tasks and instances of one org
subtree, never a deserialized workflow. What each number means is defined in engine.indicators.

Scoping is a prefix match on the stored org path (`/510000/510700/510781/`): tasks by the task's
unit, programme counts by the instance's unit (where the person is). The indexes these queries
read through are checked in tests/test_indicators.py with EXPLAIN QUERY PLAN.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, and_, case, distinct, func, or_, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from .models import HumanTask, Instance, OrgUnit
from .runtime import ACTIVE, _prefix_pattern

ENDED = ("completed", "cancelled")


class hours_between(FunctionElement):
    """Hours from the first instant column to the second, per dialect (no portable SQL exists)."""
    type = Float()
    name = "hours_between"
    inherit_cache = True


@compiles(hours_between, "sqlite")
def _hours_sqlite(element, compiler, **kw):
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 24.0)"


@compiles(hours_between, "postgresql")
def _hours_postgresql(element, compiler, **kw):
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 3600.0)"


@compiles(hours_between)
def _hours_other(element, compiler, **kw):
    raise CompileError(f"hours_between is not written for {compiler.dialect.name}")


# --- conditions --------------------------------------------------------------------------------

def in_scope(column, path: str, own_only: bool = False):
    """The unit at `path` and everything below it (or, `own_only`, that unit alone)."""
    return column == path if own_only else column.like(_prefix_pattern(path), escape="\\")


def open_at(until: datetime):
    """Open or claimed at `until`: created before it and not completed or cancelled before it
    (an ended task's end is its completed_at)."""
    return and_(HumanTask.created_at < until,
                or_(HumanTask.status.in_(ACTIVE),
                    and_(HumanTask.status.in_(ENDED), HumanTask.completed_at >= until)))


def completed_in(since: datetime, until: datetime):
    return and_(HumanTask.status == "completed", HumanTask.completed_at >= since,
                HumanTask.completed_at < until)


ON_TIME = and_(HumanTask.due_at.is_not(None), HumanTask.completed_at <= HumanTask.due_at)
LATE = and_(HumanTask.due_at.is_not(None), HumanTask.completed_at > HumanTask.due_at)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# --- task counters -----------------------------------------------------------------------------

GROUPS = (HumanTask.role_code, HumanTask.org_path, HumanTask.stage)


def open_counts(session: Session, path: str, until: datetime) -> list[tuple]:
    """(role_code, org_path, stage, open, overdue) of tasks open at `until`, per group."""
    query = (select(*GROUPS, func.count(), _count_if(HumanTask.due_at < until))
             .where(in_scope(HumanTask.org_path, path), open_at(until))
             .group_by(*GROUPS))
    return [tuple(row) for row in session.execute(query)]


def completed_counts(session: Session, path: str, since: datetime, until: datetime) -> list[tuple]:
    """(role_code, org_path, stage, completed, completed_with_due, completed_on_time) of tasks
    completed in [since, until), per group."""
    query = (select(*GROUPS, func.count(), func.count(HumanTask.due_at), _count_if(ON_TIME))
             .where(in_scope(HumanTask.org_path, path), completed_in(since, until))
             .group_by(*GROUPS))
    return [tuple(row) for row in session.execute(query)]


def median_hours_by_stage(session: Session, path: str, since: datetime,
                          until: datetime) -> dict[str | None, float]:
    """Median of (completed_at − created_at) in hours per stage over tasks completed in
    [since, until). A window function numbers each stage's durations in order and the middle one
    (or the mean of the middle two) is kept: only one row per stage leaves the database."""
    hours = hours_between(HumanTask.created_at, HumanTask.completed_at)
    ranked = (select(HumanTask.stage.label("stage"), hours.label("hours"),
                     func.row_number().over(partition_by=HumanTask.stage, order_by=hours).label("rn"),
                     func.count().over(partition_by=HumanTask.stage).label("n"))
              .where(in_scope(HumanTask.org_path, path), completed_in(since, until))
              .subquery())
    query = (select(ranked.c.stage, func.avg(ranked.c.hours))
             .where(ranked.c.rn * 2 >= ranked.c.n, ranked.c.rn * 2 <= ranked.c.n + 2)
             .group_by(ranked.c.stage))
    return {stage: float(value) for stage, value in session.execute(query)}


# --- programme counters ------------------------------------------------------------------------

def _instances_in_scope(query, instance, path: str):
    unit = aliased(OrgUnit)
    return query.join(unit, unit.code == instance.org_code).where(in_scope(unit.path, path))


def started_with_task_completed(session: Session, path: str, process_id: str, element: str,
                                since: datetime, until: datetime) -> tuple[int, int]:
    """(instances of `process_id` started in [since, until) at units in scope, those of them
    whose `element` task was completed before `until`)."""
    done = _task_done_before(Instance, element, until)
    query = _instances_in_scope(
        select(func.count(), func.coalesce(func.sum(done), 0)).select_from(Instance), Instance, path
    ).where(Instance.process_id == process_id, Instance.started_at >= since,
            Instance.started_at < until)
    started, completed = session.execute(query).one()
    return int(started), int(completed)


def _task_done_before(instance, element: str, until: datetime):
    """1 if the instance's `element` task was completed before `until`, else 0. The time is
    tested in the select list, not the WHERE clause, so the lookup goes through the
    (instance_id, status) index rather than a range over every task completed before `until`."""
    return (select(func.coalesce(func.max(case((HumanTask.completed_at < until, 1), else_=0)), 0))
            .where(HumanTask.instance_id == instance.id, HumanTask.status == "completed",
                   HumanTask.element == element)
            .scalar_subquery())


def due_and_on_time(session: Session, path: str, process_id: str, elements: tuple[str, ...],
                    since: datetime, until: datetime) -> tuple[int, int]:
    """(tasks `elements` of `process_id` due in [since, until) and not cancelled, at units in
    scope; those of them completed by their deadline)."""
    query = (select(func.count(), _count_if(and_(HumanTask.status == "completed", ON_TIME)))
             .where(HumanTask.status.in_((*ACTIVE, "completed")), HumanTask.due_at >= since,
                    HumanTask.due_at < until, HumanTask.process_id == process_id,
                    HumanTask.element.in_(elements), in_scope(HumanTask.org_path, path)))
    due, on_time = session.execute(query).one()
    return int(due), int(on_time)


def followed_on(session: Session, path: str, *, process_id: str, element: str,
                variables: dict[str, tuple[str, ...]], follow_process: str, follow_element: str,
                since: datetime, until: datetime) -> tuple[int, int, int]:
    """(instances of `process_id` at units in scope whose `element` task was completed in
    [since, until) and whose stored variables take one of the given values each; those of them
    that started a `follow_process` instance (its parent) before `until`; those whose follow-on
    instance completed its `follow_element` task before `until`).

    A follow-on instance starts after the task that leads to it, so it is looked up among the
    follow-on pathway's instances started in the same window (an index range)."""
    conditions = [Instance.variables[name].as_string().in_(values) for name, values in variables.items()]
    base = _instances_in_scope(
        select(Instance.id).select_from(HumanTask).join(Instance, Instance.id == HumanTask.instance_id),
        Instance, path,
    ).where(completed_in(since, until), HumanTask.process_id == process_id,
            HumanTask.element == element, *conditions)
    parents = base.subquery()
    follow = aliased(Instance)
    follow_done = _task_done_before(follow, follow_element, until) == 1
    denominator = session.scalar(select(func.count(distinct(parents.c.id))))
    followed = session.execute(
        select(func.count(distinct(follow.parent_instance_id)),
               func.count(distinct(case((follow_done, follow.parent_instance_id)))))
        .where(follow.process_id == follow_process, follow.started_at >= since,
               follow.started_at < until, follow.parent_instance_id.in_(select(parents.c.id)))).one()
    return int(denominator or 0), int(followed[0]), int(followed[1])


# --- the units and the tasks behind a number ---------------------------------------------------

def unit_and_children(session: Session, code: str) -> tuple[OrgUnit | None, list[OrgUnit]]:
    unit = session.get(OrgUnit, code)
    if unit is None:
        return None, []
    children = session.scalars(select(OrgUnit).where(OrgUnit.parent_code == code).order_by(OrgUnit.code))
    return unit, list(children)


STATES = ("open", "overdue", "completed", "late", "on_time")


def task_rows(session: Session, path: str, *, state: str, until: datetime,
              since: datetime | None = None, own_only: bool = False, agency: str | None = None,
              stage: str | None = None, unstaged: bool = False, limit: int = 50,
              offset: int = 0) -> list[HumanTask]:
    """The tasks behind one counter: open/overdue at `until` (by deadline), or completed /
    late / on time in [since, until) (by completion)."""
    query = select(HumanTask).where(in_scope(HumanTask.org_path, path, own_only))
    if state in ("open", "overdue"):
        query = query.where(open_at(until))
        if state == "overdue":
            query = query.where(HumanTask.due_at < until)
        order = (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    else:
        query = query.where(completed_in(since, until))
        if state == "late":
            query = query.where(LATE)
        elif state == "on_time":
            query = query.where(ON_TIME)
        order = (HumanTask.completed_at, HumanTask.id)
    if agency:
        query = query.where(HumanTask.role_code.like(_prefix_pattern(agency + "."), escape="\\"))
    if unstaged:
        query = query.where(HumanTask.stage.is_(None))
    elif stage:
        query = query.where(HumanTask.stage == stage)
    return list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))


def units_at_paths(session: Session, paths: list[str]) -> list[OrgUnit]:
    """The units with exactly these materialized paths, highest in the tree first."""
    if not paths:
        return []
    return list(session.scalars(select(OrgUnit).where(OrgUnit.path.in_(paths)).order_by(OrgUnit.path)))
