"""What the history of real instances says, where a workload forecast states nothing itself.

A forecast runs a synthetic cohort in a database of its own; the odds of a gateway it gives no
branches file for, how long people take over a task, where a pathway is started and how often
tasks are done on time come from the stored history of the source database:

- `branch_odds`: how often each exclusive gateway went to each element it leads to;
- `handling_hours` / `role_hours` (`observed_hours`, both in one read): working hours from a
  completed task's creation to its completion, per task element and per role;
- `start_units` / `start_level`: where instances of a pathway were started;
- `observed_on_time`: the on-time counters of engine.indicators over a pathway's tasks.

Every function only reads. Rows are read in pages of `BATCH` by id, one unit of work per page,
so a database of thousands of instances (each workflow deserialized once, for the gateways) is
read in bounded memory. The aggregates (starts, on-time counters) are one query each.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone

from SpiffWorkflow.util.task import TaskState

from ..bpmn.compaction import diagram_processes, history_of
from ..calendars import chain_of
from ..directory import LEVELS
from ..errors import InvalidInput
from ..pathways import load_specs
from ..runtime import instances as runtime
from ..store import forecast as repo
from .branching import Gateway, Odds

BATCH = 200
# A task the token reached: finished (completed, cancelled, failed) or waiting, ready or running;
# not one SpiffWorkflow only predicts (MAYBE, LIKELY, FUTURE).
REACHED = TaskState.FINISHED_MASK | TaskState.READY | TaskState.WAITING | TaskState.STARTED


# --- branch odds -------------------------------------------------------------------------------

def branch_odds(ctx, process_ids: Iterable[str], gateways: dict[tuple[str, str], Gateway]
                ) -> tuple[dict[tuple[str, str], Odds], dict[tuple[str, str], int]]:
    """The observed odds of every exclusive gateway in `gateways` (`branching.exclusive_gateways`)
    whose process is in `process_ids`, and how many passages through each were observed.

    Counted over every stored instance, whatever its status, that may have run those processes:
    instances of them (those a message or a parent started included) and instances of any
    pathway that calls one of them (a call activity runs inside its caller's instance; its
    elements count under the called process id, an embedded sub-process's under its parent's).
    Each element is counted from the instance's task tree plus the runs compaction removed from
    it and kept in its history (engine.bpmn.compaction), so compacted instances give the same
    figures. A passage to target T, a direct target of the gateway, is counted each time the
    token reached T: a task of T that completed, was cancelled or failed, or waits, is ready or
    runs now (an open task the gateway just sent the token to counts). Each instance's workflow
    is loaded with the runtime's own loader (`engine.runtime.instances.load`, which refuses a state
    saved in an older format until it is migrated) and never saved.

    Approximation: a target also reachable other than through this gateway (the loop-back target
    of a "repeat until ..." gateway, which the loop's entry reaches too; a merge several
    gateways lead to) is over-counted by those other arrivals, since neither the task tree after
    compaction nor its history says where an arrival came from. Exact when each target is
    reached only through the gateway.

    Returns ({(process, gateway): Odds}, {(process, gateway): passages}). Passages are the
    gateway's own completed runs (exact, even where the odds over-count a target); a gateway
    that never completed is left out, whatever its targets' counts. A target never reached has
    probability 0."""
    wanted = set(process_ids)
    ours = {key: gateway for key, gateway in gateways.items() if key[0] in wanted}
    if not ours:
        return {}, {}
    targets = {(process, target) for (process, _), gateway in ours.items() for target in gateway.flows.values()}
    reached, completed = _counted(ctx, wanted, targets | set(ours))
    odds, passages = {}, {}
    for key, gateway in sorted(ours.items()):
        counts = {target: reached[(key[0], target)] for target in set(gateway.flows.values())}
        total = sum(counts.values())
        if completed[key] and total:
            odds[key] = Odds(tuple(sorted((target, count / total) for target, count in counts.items())))
            passages[key] = completed[key]
    return odds, passages


def _counted(ctx, wanted: set[str], elements: set[tuple[str, str]]) -> tuple[Counter, Counter]:
    """How often the token reached, and how often it completed, each (process, element) in
    `elements`, over every stored instance whose version runs a process in `wanted`; one page of
    instances per unit of work."""
    versions = _versions_running(ctx, wanted)
    reached: Counter = Counter()
    completed: Counter = Counter()
    last = 0
    while versions:
        with ctx.db.unit_of_work() as session:
            rows = repo.instances_page(session, versions, last, BATCH)
            for row in rows:
                _, workflow = runtime.load(ctx, session, row.id)     # the row is in the session already
                _count_in(workflow, elements, reached, completed)
            last = rows[-1].id if rows else last
        if len(rows) < BATCH:
            break
    return reached, completed


def _versions_running(ctx, wanted: set[str]) -> list[int]:
    """The deployed versions of the processes in `wanted`, and of the pathways that call one."""
    with ctx.db.unit_of_work() as session:
        versions = repo.version_processes(session)
        return sorted(version for version, process in versions
                      if process in wanted or wanted & set(load_specs(ctx, session, version)[1]))


def _count_in(workflow, elements: set[tuple[str, str]], reached: Counter, completed: Counter) -> None:
    """Add one instance's arrivals at, and completions of, `elements`: its task tree and its
    compaction history."""
    process_of = diagram_processes(workflow)
    for key, sub in [(None, workflow), *workflow.subprocesses.items()]:
        process = process_of[key]
        for task in sub.tasks.values():
            element = (process, task.task_spec.bpmn_id)
            if element in elements and task.has_state(REACHED):
                reached[element] += 1
                if task.has_state(TaskState.COMPLETED):
                    completed[element] += 1
    for process, past in history_of(workflow).items():
        for bpmn_id, entry in past.items():
            element = (process, bpmn_id)
            if element in elements:
                reached[element] += entry.get("completed", 0) + entry.get("cancelled", 0)
                completed[element] += entry.get("completed", 0)


# --- handling times ----------------------------------------------------------------------------

def observed_hours(ctx, process_ids: Iterable[str]
                   ) -> tuple[dict[tuple[str, str], list[float]], dict[str, list[float]]]:
    """Working hours from creation to completion of every completed human task of the processes,
    on the calendar of the task's unit (working hours on Chinese working days, 调休 included),
    as (by (process, element), by role code), each list sorted. One read for both.

    The process is the task row's: the instance's pathway, also for a task of a pathway it
    called. A task without a role (assigned to named users only) is left out of the role lists.
    The span is the task's whole time in someone's inbox: waiting to be picked up as well as
    being worked on."""
    wanted = sorted(set(process_ids))
    by_element: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_role: dict[str, list[float]] = defaultdict(list)
    calendars: dict[str, object] = {}
    last = 0
    while wanted:
        with ctx.db.unit_of_work() as session:
            rows = repo.completed_spans_page(session, wanted, last, BATCH)
            for row in rows:
                calendar = calendars.get(row.org_path)
                if calendar is None:
                    calendar = calendars[row.org_path] = ctx.calendar(chain_of(row.org_path), session)
                hours = calendar.working_time_between(row.created_at, row.completed_at).total_seconds() / 3600
                by_element[(row.process_id, row.element)].append(hours)
                if row.role_code:
                    by_role[row.role_code].append(hours)
            last = rows[-1].id if rows else last
        if len(rows) < BATCH:
            break
    return ({key: sorted(hours) for key, hours in by_element.items()},
            {key: sorted(hours) for key, hours in by_role.items()})


def handling_hours(ctx, process_ids: Iterable[str]) -> dict[tuple[str, str], list[float]]:
    """Per (process, user task element): the working hours of each completed task, sorted
    (see `observed_hours`)."""
    return observed_hours(ctx, process_ids)[0]


def role_hours(ctx, process_ids: Iterable[str]) -> dict[str, list[float]]:
    """Per role code: the working hours of each completed task of the processes, sorted (see
    `observed_hours`): the fallback for an element without history of its own."""
    return observed_hours(ctx, process_ids)[1]


# --- where pathways start ----------------------------------------------------------------------

def start_units(ctx, process_id: str) -> dict[str, int]:
    """How many stored instances of the process (any status) were started at each org unit code.
    Instances a message or a parent instance started count too, at the unit they were started
    at; a pathway run by a call activity is part of its caller's instance and is not counted."""
    with ctx.db.unit_of_work() as session:
        return dict(sorted(repo.start_counts(session, process_id)))


def start_level(ctx, process_id: str) -> str | None:
    """The org level (province … village) at which most instances of the process were started
    (as `start_units` counts them); on a tie the lower level, nearer the people; None if the
    process has no instance."""
    with ctx.db.unit_of_work() as session:
        rows = repo.start_level_counts(session, process_id)
    if not rows:
        return None
    depth = {level: index for index, level in enumerate(LEVELS)}
    return max(rows, key=lambda row: (row[1], depth.get(row[0], -1)))[0]


# --- deadlines kept ----------------------------------------------------------------------------

def observed_on_time(ctx, process_ids: Iterable[str], since: datetime | None = None,
                     until: datetime | None = None) -> dict:
    """The on-time counters of the processes' human tasks completed in [since, until) (either
    bound may be left open), as engine.indicators defines them: of the tasks completed with a
    deadline, on time = completed_at <= due_at; tasks without a deadline are left out of the rate.

    Returns {"completed", "completed_with_due", "completed_on_time", "on_time_rate": float|None,
    "by_stage": {stage: the same four}}; a task whose pathway states no stage is under None."""
    since = None if since is None else _aware(since, "since")
    until = None if until is None else _aware(until, "until")
    with ctx.db.unit_of_work() as session:
        rows = repo.on_time_by_stage(session, sorted(set(process_ids)), since, until)
    by_stage = {stage: _counters(completed, with_due, kept) for stage, completed, with_due, kept in rows}
    totals = _counters(*(sum(row[i] for row in rows) for i in (1, 2, 3)))
    return {**totals, "by_stage": by_stage}


def _counters(completed, with_due, on_time) -> dict:
    completed, with_due, on_time = int(completed), int(with_due), int(on_time)
    return {"completed": completed, "completed_with_due": with_due, "completed_on_time": on_time,
            "on_time_rate": on_time / with_due if with_due else None}


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{name} 必须是带时区的时间 (an aware datetime)")
    return value.astimezone(timezone.utc)
