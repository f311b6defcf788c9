"""SQL for instances, human tasks, grants and messages (events: `eventlog`, re-exported here).

Work that several sweeps may reach at once (a due instance, a pending message) is *claimed*: on
PostgreSQL with `SELECT … FOR UPDATE SKIP LOCKED` inside the transaction that does the work, so a
second sweep passes over a row another holds instead of waiting for it or doing it again. SQLite
has no row locks (`for_update_skip_locked` leaves the query as it is): there the instance's
version column and conditional updates (`… WHERE status = 'pending'`, rowcount checked) keep the
work single, the slower writer rolling back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_, union, union_all, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .direct import DirectInsert
from .eventlog import batched as events_batched, events_for_instance, record_event  # noqa: F401  (repo.*)
from .grants import due_sort_of
from .models import (
    HumanTask, Instance, Message, MessageStart, MessageWait, OrgUnit, TaskGrant,
)

ACTIVE = ("open", "claimed")


def _prefix_pattern(path: str) -> str:
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def for_update_skip_locked(query, session: Session):
    """`query` with FOR UPDATE SKIP LOCKED where the database has row locks (PostgreSQL): the rows
    it returns are this transaction's until it ends, and rows another transaction holds are left
    out rather than waited for. On SQLite, which locks the whole database on write and has no row
    locks, the query is returned unchanged."""
    if session.get_bind().dialect.name == "sqlite":
        return query
    return query.with_for_update(skip_locked=True)


# SQLSTATEs after which the whole transaction may simply be run again: serialization failure,
# deadlock detected (PostgreSQL aborts one of two transactions that wait for each other).
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(err: DBAPIError) -> bool:
    """True for a database error that only says "this transaction lost a race; run it again"."""
    return getattr(err.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


# --- instances ----------------------------------------------------------------------------------

def due_instance_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Running instances whose earliest timer is due: an index range scan on wake_at."""
    return list(session.scalars(
        select(Instance.id).where(Instance.wake_at <= now, Instance.status == "running")
        .order_by(Instance.wake_at, Instance.id).limit(limit)))


def count_due_instances(session: Session, now: datetime, cap: int) -> int:
    """How many instances are due, counting no further than `cap` (the backlog a sweep sees)."""
    due = (select(Instance.id).where(Instance.wake_at <= now, Instance.status == "running")
           .limit(cap).subquery())
    return session.scalar(select(func.count()).select_from(due)) or 0


def claim_due_instance(session: Session, now: datetime, exclude: set[int]) -> Instance | None:
    """The earliest due running instance no other transaction holds, locked until this one ends
    (PostgreSQL); on SQLite simply the earliest due one. `exclude`: ids this sweep already passed
    (still due after firing, or lost too many races) and will not take again."""
    query = (select(Instance).where(Instance.wake_at <= now, Instance.status == "running")
             .order_by(Instance.wake_at, Instance.id).limit(1))
    if exclude:
        query = query.where(Instance.id.not_in(sorted(exclude)))
    return session.scalar(for_update_skip_locked(query, session))


def claim_instance(session: Session, instance_id: int) -> Instance | None:
    """The instance row locked for this transaction, or None while another transaction holds it
    (PostgreSQL). On SQLite the row as it is; its version column refuses a stale write."""
    query = select(Instance).where(Instance.id == instance_id)
    return session.scalar(for_update_skip_locked(query, session))


# --- human tasks --------------------------------------------------------------------------------

def active_tasks_of_instance(session: Session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status.in_(ACTIVE))))


def scope_codes(org_path: str) -> list[str]:
    """The codes of a unit and every unit above it, from its path (`/510000/510700/…/`)."""
    return [code for code in org_path.split("/") if code]


def unit_code(org_path: str) -> str:
    """The code of the unit a path ends at."""
    return scope_codes(org_path)[-1]


def add_grants(session: Session, task: HumanTask) -> None:
    """The grants of the task as it is now (see `TaskGrant`): an open task is offered to each
    candidate role at its unit and every unit above it, and to each candidate user; a claimed
    task is its assignee's alone; a finished one is nobody's."""
    # one statement through the driver, flushing nothing early; nothing reads them back as objects
    _INSERT_GRANTS.many(session, _grant_rows(task))     # (grants.py: due_sort)


_INSERT_GRANTS = DirectInsert(TaskGrant.__table__)


def _grant_rows(task: HumanTask) -> list[dict]:
    base = {"task_id": task.id, "role_code": None, "scope_code": None, "org_path": None,
            "username": None, "due_sort": due_sort_of(task.due_at)}
    if task.status == "claimed":
        return [{**base, "username": task.assignee}] if task.assignee else []
    if task.status != "open":
        return []
    rows = [{**base, "role_code": role, "scope_code": scope, "org_path": task.org_path}
            for role in dict.fromkeys(task.candidate_roles or ())
            for scope in scope_codes(task.org_path)]
    users = {*(task.candidate_users or ()), *([task.assignee] if task.assignee else [])}
    return rows + [{**base, "username": username} for username in sorted(users)]


def drop_grants(session: Session, task_id: int) -> None:
    session.execute(delete(TaskGrant).where(TaskGrant.task_id == task_id))


def replace_grants(session: Session, task: HumanTask) -> None:
    """After a transition (claim, release, reassign): the stored grants become the task's own."""
    drop_grants(session, task.id)
    add_grants(session, task)


def set_task_status(session: Session, task_id: int, from_statuses: tuple[str, ...], **values) -> bool:
    """Conditional transition: applies only if the task is still in one of `from_statuses`."""
    result = session.execute(
        update(HumanTask).where(HumanTask.id == task_id, HumanTask.status.in_(from_statuses))
        .values(**values).execution_options(synchronize_session="fetch"))
    return result.rowcount == 1


@dataclass(frozen=True)
class InboxFilters:
    """What an inbox may be narrowed to. `org_path`: tasks at or below that unit;
    `overdue_before`: tasks due before that instant."""
    process_id: str | None = None
    instance_id: int | None = None
    role: str | None = None
    org_path: str | None = None
    stage: str | None = None
    overdue_before: datetime | None = None

    def on_task(self) -> list:
        """Conditions that need the task row (a join from the grant to human_tasks)."""
        conditions = [column == value for column, value in (
            (HumanTask.process_id, self.process_id), (HumanTask.instance_id, self.instance_id),
            (HumanTask.role_code, self.role), (HumanTask.stage, self.stage)) if value]
        return conditions


def _scope_of_branch(membership_path: str, org_path: str | None) -> str | None:
    """The unit whose grant rows a membership reads: its own unit, or the filter's unit when the
    filter is below it; None when the filter is outside the membership's jurisdiction."""
    if org_path is None or membership_path.startswith(org_path):
        return unit_code(membership_path)
    if org_path.startswith(membership_path):
        return unit_code(org_path)
    return None


def inbox_branches(username: str, grants: list[tuple[str, str]], filters: InboxFilters) -> list:
    """One grants-index range per way the user sees tasks: the user's own name, and a
    (role, unit) range per membership (a membership under another of the same role adds
    nothing). Each is a `select(task_id, due_sort)` whose rows come in the index's order."""
    scopes = set()
    for role, path in grants:
        if any(r == role and p != path and path.startswith(p) for r, p in grants):
            continue
        scope = _scope_of_branch(path, filters.org_path)
        if scope is not None:
            scopes.add((role, scope))
    on_task = filters.on_task()
    by_name = select(TaskGrant.task_id, TaskGrant.due_sort).where(TaskGrant.username == username)
    branches = [_narrowed(by_name, filters, on_task + ([HumanTask.org_path.like(
        _prefix_pattern(filters.org_path), escape="\\")] if filters.org_path else []))]
    for role, scope in sorted(scopes):
        by_role = select(TaskGrant.task_id, TaskGrant.due_sort).where(
            TaskGrant.role_code == role, TaskGrant.scope_code == scope)
        branches.append(_narrowed(by_role, filters, on_task))
    return branches


def _narrowed(query, filters: InboxFilters, on_task: list):
    if on_task:
        query = query.join(HumanTask, HumanTask.id == TaskGrant.task_id).where(*on_task)
    if filters.overdue_before is not None:
        query = query.where(TaskGrant.due_sort < filters.overdue_before)
    return query


def inbox_by_due(username: str, grants: list[tuple[str, str]], filters: InboxFilters, *,
                 limit: int, offset: int = 0, after: tuple[datetime, int] | None = None):
    """`select(task_id, due_sort)` of one inbox page by due time (no deadline last), then id;
    `after`: only what comes after that (due_sort, task id) position (a cursor).

    Each branch walks its index in order and stops after `offset + limit` rows, so the cost is
    that of the page, not of every visible task; the few rows kept are merged, de-duplicated
    (a task seen through two memberships) and cut to the page."""
    parts = []
    for branch in inbox_branches(username, grants, filters):
        if after is not None:
            branch = branch.where(tuple_(TaskGrant.due_sort, TaskGrant.task_id) > tuple_(*after))
        ranged = branch.order_by(TaskGrant.due_sort, TaskGrant.task_id).limit(offset + limit).subquery()
        parts.append(select(ranged.c.task_id, ranged.c.due_sort))
    merged = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return (select(merged.c.task_id, merged.c.due_sort).distinct()
            .order_by(merged.c.due_sort, merged.c.task_id).limit(limit).offset(offset))


def visible_task_ids(username: str, grants: list[tuple[str, str]], filters: InboxFilters):
    """`select(task_id)` of every task in the inbox, each once (for counts and other sorts)."""
    parts = [select(branch.subquery().c.task_id) for branch in inbox_branches(username, grants, filters)]
    return union(*parts) if len(parts) > 1 else parts[0]


def inbox_query(username: str, grants: list[tuple[str, str]], **filters):
    """Tasks this user may act on: offered to a role they hold over the task's unit (or to them
    by name) and not claimed by someone else, narrowed by the filters (`InboxFilters`), unsorted.
    The grants hold exactly that (see `TaskGrant`), so this reads no task it does not return."""
    ids = visible_task_ids(username, grants, InboxFilters(**filters)).subquery()
    return select(HumanTask).where(HumanTask.id.in_(select(ids.c.task_id)))


def inbox_count(session: Session, username: str, grants: list[tuple[str, str]], **filters) -> int:
    """How many tasks the inbox holds, read from the grants index."""
    ids = visible_task_ids(username, grants, InboxFilters(**filters)).subquery()
    return session.scalar(select(func.count()).select_from(ids)) or 0


def tasks_by_ids(session: Session, ids: list[int]) -> list[HumanTask]:
    """The tasks, in the order of `ids`."""
    if not ids:
        return []
    found = {task.id: task for task in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def inbox(session: Session, username: str, grants: list[tuple[str, str]], *, limit: int = 50,
          offset: int = 0, after: tuple[datetime, int] | None = None, **filters) -> list[HumanTask]:
    """The inbox sorted by due time (no deadline last), then id: one page (`inbox_by_due`)."""
    page = inbox_by_due(username, grants, InboxFilters(**filters), limit=limit, offset=offset, after=after)
    return tasks_by_ids(session, [task_id for task_id, _ in session.execute(page)])


def list_tasks(session: Session, *, role: str | None = None, org_path: str | None = None,
               instance_id: int | None = None, statuses: tuple[str, ...] | None = ACTIVE,
               limit: int = 500):
    query = select(HumanTask)
    if role:
        query = query.where(HumanTask.role_code == role)
    if org_path:
        query = query.where(HumanTask.org_path.like(_prefix_pattern(org_path), escape="\\"))
    if instance_id:
        query = query.where(HumanTask.instance_id == instance_id)
    if statuses:
        query = query.where(HumanTask.status.in_(statuses))
    return list(session.scalars(query.order_by(HumanTask.id).limit(limit)))


# --- messages -----------------------------------------------------------------------------------

def replace_waits(session: Session, instance_id: int, waits: list[tuple[str, str, str]],
                  since: datetime, fresh: bool = False) -> set[str]:
    """Store what an instance waits for; returns message names it newly waits for. `fresh`: the
    instance is new in this transaction and has no stored waits."""
    current = {} if fresh else {
        (w.message_name, w.properties, w.correlation_key): w for w in session.scalars(
            select(MessageWait).where(MessageWait.instance_id == instance_id))}
    wanted = set(waits)
    for key, row in current.items():
        if key not in wanted:
            session.delete(row)
    new_names = set()
    for name, props, key in wanted - set(current):
        session.add(MessageWait(instance_id=instance_id, message_name=name, properties=props,
                                correlation_key=key, since=since))
        new_names.add(name)
    return new_names


def wait_property_sets(session: Session, name: str) -> list[str]:
    return list(session.scalars(
        select(MessageWait.properties).where(MessageWait.message_name == name).distinct()))


def find_waiting_instance(session: Session, name: str, props: str, key: str, exclude: set[int],
                          scope_path: str | None = None) -> int | None:
    """The longest-waiting instance for (name, property set, key); with `scope_path` (a message
    sent from outside), only one whose unit lies at or below that path (a prefix on its unit's path)."""
    query = (select(MessageWait.instance_id)
             .where(MessageWait.message_name == name, MessageWait.properties == props,
                    MessageWait.correlation_key == key)
             .order_by(MessageWait.since, MessageWait.id))
    if exclude:
        query = query.where(MessageWait.instance_id.not_in(exclude))
    if scope_path is not None:
        query = (query.join(Instance, Instance.id == MessageWait.instance_id)
                 .join(OrgUnit, OrgUnit.code == Instance.org_code)
                 .where(OrgUnit.path.like(_prefix_pattern(scope_path), escape="\\")))
    return session.scalar(query.limit(1))


def flag_pending_messages(session: Session, names: set[str]) -> None:
    """A new catcher appeared: pending messages of these names deserve another attempt."""
    if names:
        session.execute(update(Message).where(Message.status == "pending", Message.name.in_(names))
                        .values(needs_attempt=True))


def messages_to_attempt(session: Session, limit: int) -> list[int]:
    return list(session.scalars(
        select(Message.id).where(Message.needs_attempt.is_(True), Message.status == "pending")
        .order_by(Message.id).limit(limit)))


def claim_message(session: Session, message_id: int) -> Message | None:
    """A pending message, locked for this transaction (PostgreSQL); None when it is no longer
    pending or another sweep is delivering it right now."""
    query = select(Message).where(Message.id == message_id, Message.status == "pending")
    return session.scalar(for_update_skip_locked(query, session))


def mark_message_delivered(session: Session, message_id: int, now: datetime, target: int) -> bool:
    """pending → delivered, only if it is still pending: False means another sweep delivered it
    first (SQLite, where nothing locked it), and the caller must roll back its delivery."""
    result = session.execute(
        update(Message).where(Message.id == message_id, Message.status == "pending")
        .values(status="delivered", delivered_at=now, delivered_to=target, needs_attempt=False)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def latest_wait_id(session: Session) -> int:
    """The newest message wait's id: read before looking for a catcher, so `park_message` can
    tell whether a catcher appeared while it looked."""
    return session.scalar(select(func.max(MessageWait.id))) or 0


def park_message(session: Session, message_id: int, name: str, seen_wait_id: int) -> None:
    """Nobody takes the message now: no further attempt until some instance waits for it.

    Unless a wait for its name was stored after `seen_wait_id` (the catcher committed while this
    delivery looked, which SQLite's unlocked reads can miss): then it stays flagged for the next
    attempt, so a message is never parked beside an instance waiting for it."""
    newer = select(MessageWait.id).where(MessageWait.message_name == name,
                                         MessageWait.id > seen_wait_id).exists()
    session.execute(update(Message).where(Message.id == message_id, Message.status == "pending", ~newer)
                    .values(needs_attempt=False).execution_options(synchronize_session=False))


def message_start_processes(session: Session, name: str) -> list[str]:
    return list(session.scalars(
        select(MessageStart.process_id).where(MessageStart.message_name == name)
        .order_by(MessageStart.process_id)))


def replace_message_starts(session: Session, process_id: str, names: list[str]) -> None:
    session.execute(delete(MessageStart).where(MessageStart.process_id == process_id))
    for name in sorted(set(names)):
        session.add(MessageStart(message_name=name, process_id=process_id))


def active_workday_deadlines(session: Session) -> list[HumanTask]:
    """Active tasks whose deadline was counted in working days (recomputed on calendar change)."""
    return list(session.scalars(
        select(HumanTask).where(HumanTask.status.in_(ACTIVE), HumanTask.due_kind == "workdays")
        .order_by(HumanTask.id)))
