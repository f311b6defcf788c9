"""Bulk data for the benchmark, built fast and in SQL (SQLite and PostgreSQL alike).

This is the one place outside `engine/store` that writes SQL: it fills throwaway benchmark
databases, never a deployment's. Rows are cloned from instances the real services started, so
they hold what the engine would have written:

- `Template`: an instance of the bench pathway started by `services.start_instance`, with its open
  follow-up task; `parked` (started far in the future: its boundary timer is far away) and `due`
  (started 31 days before the sweep: its 30-day timer is due).
- `clone_instances` + `open_tasks`: N copies of the parked instance (`INSERT … SELECT` over a
  number sequence, spread over the villages), each with an open task and its role grant. Parked
  copies share the template's state bytes; their task rows get unique placeholder ids (they are
  never completed).
- `make_due`: gives chosen instances a copy of the due template's state with fresh task UUIDs (so
  firing them creates distinct task rows), and points their open task at the copied UUID.
- `park`: puts instances back to parked (state, wake time, a fresh open task), after a sweep
  fired them; `set_dormant`/`wake` switch instances between active and completed-with-history.
- `insert_tasks`: open tasks with grants, one per number, from a table of slots (role, unit,
  element) and a table of due dates.

Grants are written as `store.runtime.add_grants` writes them (`_grant_roles`): per covering unit
for open tasks, the assignee's alone for claimed ones.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from uuid import uuid4

from sqlalchemy import (
    JSON, Column, Integer, MetaData, String, Table, and_, bindparam, case, cast, delete, func, insert,
    literal, select, true, update,
)

from ..store.grants import NO_DEADLINE
from ..store.models import HumanTask, Instance, Membership, OrgUnit, TaskGrant, User
from ..store.runtime import scope_codes
from ..store.types import UTCDateTime

ACTIVE = ("open", "claimed")
INSTANCES = Instance.__table__
TASKS = HumanTask.__table__
GRANTS = TaskGrant.__table__
UNITS = OrgUnit.__table__
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHUNK = 50_000


@dataclass(frozen=True)
class Template:
    """A real started instance to copy: its row and its one open task row."""
    instance_id: int
    task_id: int
    state: bytes
    variables: dict
    wake_at: object
    spiff_task_id: str
    next_escalation_at: object


def template_of(session, instance_id: int) -> Template:
    row = session.get(Instance, instance_id)
    task = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                   HumanTask.status.in_(ACTIVE))).one()
    if list(task.candidate_roles or ()) != [task.role_code] or task.candidate_users:
        raise ValueError(f"template task {task.element}: one candidate role expected")
    return Template(row.id, task.id, row.state, row.variables, row.wake_at, task.spiff_task_id,
                    task.next_escalation_at)


def numbers(dialect: str, low: int, high: int):
    """A selectable of one column `n`, low..high inclusive."""
    if dialect == "postgresql":
        return func.generate_series(low, high).table_valued("n").render_derived(name="seq")
    seq = select(literal(low).label("n")).cte("seq", recursive=True)
    return seq.union_all(select(seq.c.n + 1).where(seq.c.n < high))


def _max_id(session, table) -> int:
    return session.scalar(select(func.coalesce(func.max(table.c.id), 0)))


def clone_instances(session, template: Template, count: int, orgs: list[str],
                    on_chunk=None) -> tuple[int, int]:
    """`count` running copies of the template instance, waiting on its timer, org units
    round-robin over `orgs`; the id range."""
    before = _max_id(session, INSTANCES)
    source = INSTANCES.alias("t")
    columns = [c.name for c in INSTANCES.c if c.name != "id"]
    for low in range(1, count + 1, CHUNK):
        high = min(low + CHUNK - 1, count)
        seq = numbers(session.bind.dialect.name, low, high)
        own = {"org_code": case({i: code for i, code in enumerate(orgs)}, value=seq.c.n % len(orgs)),
               "status": literal("running"), "wake_at": literal(template.wake_at, UTCDateTime),
               "ended_at": literal(None, UTCDateTime), "error": literal(None, JSON)}
        values = [own[name].label(name) if name in own else source.c[name] for name in columns]
        session.execute(insert(INSTANCES).from_select(
            columns, select(*values).select_from(seq.join(source, true()))
            .where(source.c.id == template.instance_id)))
        if on_chunk:
            on_chunk(high - low + 1)
    return before + 1, _max_id(session, INSTANCES)


def open_tasks(session, template: Template, instances, tag: str) -> None:
    """A fresh open copy of the template's task (and its role grants) for each instance selected
    by `instances` (a where-clause on `INSTANCES`); placeholder spiff ids `<tag><instance id>`."""
    before = _max_id(session, TASKS)
    source = TASKS.alias("t")
    columns = [c.name for c in TASKS.c if c.name != "id"]
    own = {"instance_id": INSTANCES.c.id, "org_code": INSTANCES.c.org_code, "org_path": UNITS.c.path,
           "spiff_task_id": literal(tag) + cast(INSTANCES.c.id, String), "status": literal("open"),
           "assignee": literal(None, String), "completed_at": literal(None, UTCDateTime),
           "completed_by": literal(None, String),
           "next_escalation_at": literal(template.next_escalation_at, UTCDateTime)}
    values = [own[name].label(name) if name in own else source.c[name] for name in columns]
    joined = INSTANCES.join(UNITS, UNITS.c.code == INSTANCES.c.org_code).join(source, true())
    session.execute(insert(TASKS).from_select(
        columns, select(*values).select_from(joined)
        .where(source.c.id == template.task_id, instances)))
    _grant_roles(session, TASKS.c.id > before)


def _grant_roles(session, which) -> None:
    """The grants of each selected task as `store.runtime.add_grants` makes them (bench tasks
    have one candidate role, their own): an open task's role at its unit and every unit above it,
    a claimed task's assignee alone; `due_sort` the deadline or `NO_DEADLINE`."""
    units = session.execute(select(UNITS.c.code, UNITS.c.path)).all()
    _META.create_all(session.connection(), tables=[SCOPES])
    session.execute(insert(SCOPES), [{"org_code": code, "scope_code": scope}
                                     for code, path in units for scope in scope_codes(path)])
    due_sort = func.coalesce(TASKS.c.due_at, literal(NO_DEADLINE, UTCDateTime))
    session.execute(insert(GRANTS).from_select(
        ["task_id", "role_code", "scope_code", "org_path", "due_sort"],
        select(TASKS.c.id, TASKS.c.role_code, SCOPES.c.scope_code, TASKS.c.org_path, due_sort)
        .select_from(TASKS.join(SCOPES, SCOPES.c.org_code == TASKS.c.org_code))
        .where(which, TASKS.c.status == "open")))
    session.execute(insert(GRANTS).from_select(
        ["task_id", "username", "due_sort"],
        select(TASKS.c.id, TASKS.c.assignee, due_sort)
        .where(which, TASKS.c.status == "claimed", TASKS.c.assignee.is_not(None))))
    _META.drop_all(session.connection(), tables=[SCOPES])


def fresh_uuids(state: bytes) -> tuple[bytes, dict[str, str]]:
    """The same compressed state with every task UUID replaced by a new one (consistently); the
    mapping old → new. Checked against the engine's serializer by `check_copy`."""
    mapping: dict[bytes, bytes] = {}
    copied = _UUID.sub(lambda m: mapping.setdefault(m.group(0), str(uuid4()).encode()),
                       zlib.decompress(state))
    return zlib.compress(copied, 6), {k.decode(): v.decode() for k, v in mapping.items()}


def make_due(session, template: Template, instance_ids: list[int]) -> None:
    """These (parked) instances now hold a copy of the due template: their timer is due."""
    states, tasks = [], []
    for instance_id in instance_ids:
        state, mapping = fresh_uuids(template.state)
        states.append({"b_id": instance_id, "b_state": state})
        tasks.append({"b_id": instance_id, "b_spiff": mapping[template.spiff_task_id]})
    session.execute(update(INSTANCES).where(INSTANCES.c.id == bindparam("b_id")).values(
        state=bindparam("b_state"), wake_at=template.wake_at, variables=template.variables), states)
    session.execute(update(TASKS).where(TASKS.c.instance_id == bindparam("b_id"),
                                        TASKS.c.status == "open")
                    .values(spiff_task_id=bindparam("b_spiff")), tasks)


def _active_tasks_of(instances):
    return select(TASKS.c.id).where(
        TASKS.c.instance_id.in_(select(INSTANCES.c.id).where(instances)), TASKS.c.status.in_(ACTIVE))


def _close_tasks(session, instances, now) -> None:
    session.execute(delete(GRANTS).where(GRANTS.c.task_id.in_(_active_tasks_of(instances))))
    session.execute(update(TASKS).where(TASKS.c.id.in_(_active_tasks_of(instances)))
                    .values(status="cancelled", completed_at=now, next_escalation_at=None))


def park(session, template: Template, instance_ids: list[int], now, tag: str) -> None:
    """Back to waiting on the far-away timer with one fresh open task, as if just started."""
    for low in range(0, len(instance_ids), 5_000):
        chosen = INSTANCES.c.id.in_(instance_ids[low:low + 5_000])
        _close_tasks(session, chosen, now)
        session.execute(update(INSTANCES).where(chosen).values(
            state=template.state, wake_at=template.wake_at, variables=template.variables,
            status="running", error=None, ended_at=None))
        open_tasks(session, template, chosen, tag)


def set_dormant(session, instances, now) -> None:
    """Completed, as instances a database keeps as history: tasks cancelled, grants removed."""
    _close_tasks(session, instances, now)
    session.execute(update(INSTANCES).where(instances, INSTANCES.c.status == "running")
                    .values(status="completed", wake_at=None, ended_at=now))


def wake(session, template: Template, instances) -> None:
    """Active again: running, waiting on the parked timer, the latest task of each open."""
    session.execute(update(INSTANCES).where(instances, INSTANCES.c.status == "completed")
                    .values(status="running", wake_at=template.wake_at, ended_at=None))
    latest_ids = (select(func.max(TASKS.c.id))
                  .where(TASKS.c.instance_id.in_(select(INSTANCES.c.id).where(instances)))
                  .group_by(TASKS.c.instance_id))
    session.execute(update(TASKS).where(TASKS.c.id.in_(latest_ids)).values(
        status="open", completed_at=None, next_escalation_at=template.next_escalation_at))
    _grant_roles(session, and_(TASKS.c.id.in_(latest_ids), TASKS.c.status == "open"))


# --- open tasks for the inbox ---------------------------------------------------------------

def directory_rows(session) -> tuple[list[tuple], list[tuple]]:
    """(code, path, level) of every org unit in tree order; (username, role, path) of every
    membership of an active user."""
    units = [tuple(r) for r in session.execute(select(OrgUnit.code, OrgUnit.path, OrgUnit.level)
                                               .order_by(OrgUnit.path))]
    memberships = [tuple(r) for r in session.execute(
        select(User.username, Membership.role_code, OrgUnit.path)
        .join(Membership, Membership.user_id == User.id)
        .join(OrgUnit, OrgUnit.code == Membership.org_code).where(User.active.is_(True)))]
    return units, memberships


_META = MetaData()
SLOTS = Table("bench_slots", _META, Column("i", Integer, primary_key=True),
              Column("role_code", String(100)), Column("candidate_roles", JSON),
              Column("no_users", JSON), Column("org_code", String(32)), Column("org_path", String(400)),
              Column("element", String(200)), Column("name", String(400)),
              Column("process_id", String(200)), Column("stage", String(32)),
              Column("form_key", String(400)), Column("holder", String(100)))
DUES = Table("bench_dues", _META, Column("j", Integer, primary_key=True),
             Column("due_at", UTCDateTime), Column("created_at", UTCDateTime))
SCOPES = Table("bench_scopes", _META, Column("org_code", String(32), primary_key=True),
               Column("scope_code", String(32), primary_key=True))


def insert_tasks(session, slots: list[dict], dues: list[tuple], count: int, instances: tuple[int, int],
                 claimed_every: int, on_chunk=None) -> None:
    """`count` open tasks (every `claimed_every`-th claimed by its slot's holder), task n in slot
    n mod len(slots) with due date n mod len(dues), on instances round-robin; with grants."""
    _META.create_all(session.connection(), tables=[SLOTS, DUES])
    session.execute(insert(SLOTS), [{"i": i, "no_users": [], **slot} for i, slot in enumerate(slots)])
    session.execute(insert(DUES), [{"j": j, "due_at": due, "created_at": created}
                                   for j, (due, created) in enumerate(dues)])
    first, last = instances
    for low in range(1, count + 1, CHUNK):
        high = min(low + CHUNK - 1, count)
        before = _max_id(session, TASKS)
        seq = numbers(session.bind.dialect.name, low, high)
        claimed = and_(seq.c.n % claimed_every == 0, SLOTS.c.holder.is_not(None))
        values = {
            "instance_id": first + seq.c.n % (last - first + 1),
            "spiff_task_id": literal("inbox-") + cast(seq.c.n, String),
            "element": SLOTS.c.element, "name": SLOTS.c.name, "process_id": SLOTS.c.process_id,
            "role_code": SLOTS.c.role_code, "org_code": SLOTS.c.org_code, "org_path": SLOTS.c.org_path,
            "status": case((claimed, "claimed"), else_="open"),
            "assignee": case((claimed, SLOTS.c.holder), else_=None),
            "candidate_users": SLOTS.c.no_users, "candidate_roles": SLOTS.c.candidate_roles,
            "form_key": SLOTS.c.form_key, "stage": SLOTS.c.stage, "due_at": DUES.c.due_at,
            "due_kind": literal("workdays"), "due_source": literal("official:chinese_calendar"),
            "due_provisional": literal(False), "escalation_ladder": literal("default"),
            "escalation_level": literal(0), "next_escalation_at": DUES.c.due_at,
            "created_at": DUES.c.created_at,
        }
        source = (seq.join(SLOTS, SLOTS.c.i == seq.c.n % len(slots))
                  .join(DUES, DUES.c.j == seq.c.n % len(dues)))
        session.execute(insert(TASKS).from_select(
            list(values), select(*[v.label(k) for k, v in values.items()]).select_from(source)))
        _grant_roles(session, TASKS.c.id > before)
        if on_chunk:
            on_chunk(high - low + 1)
    _META.drop_all(session.connection(), tables=[SLOTS, DUES])
