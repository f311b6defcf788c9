"""SQL for instances, human tasks, grants, messages and events."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from . import audit
from .models import (
    Event, HumanTask, Instance, Message, MessageStart, MessageWait, TaskGrant,
)

ACTIVE = ("open", "claimed")


def _prefix_pattern(path: str) -> str:
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def record_event(session: Session, at: datetime, kind: str, instance_id: int | None = None,
                 task_id: int | None = None, actor: str | None = None, **detail) -> None:
    """Append to the event log; what a person did (an event with an actor) goes to the audit log
    too, with where they acted from."""
    session.add(Event(at=at, kind=kind, instance_id=instance_id, task_id=task_id, actor=actor,
                      detail=detail))
    if actor is not None:
        audit.append_for_event(session, at, kind, instance_id, task_id, actor, detail)


def events_for_instance(session: Session, instance_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))


# --- instances ----------------------------------------------------------------------------------

def due_instance_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Running instances whose earliest timer is due: an index range scan on wake_at."""
    return list(session.scalars(
        select(Instance.id).where(Instance.wake_at <= now, Instance.status == "running")
        .order_by(Instance.wake_at, Instance.id).limit(limit)))


# --- human tasks --------------------------------------------------------------------------------

def active_tasks_of_instance(session: Session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status.in_(ACTIVE))))


def add_grants(session: Session, task: HumanTask) -> None:
    for role in task.candidate_roles:
        session.add(TaskGrant(task_id=task.id, role_code=role, org_path=task.org_path))
    for username in {*task.candidate_users, *([task.assignee] if task.assignee else [])}:
        session.add(TaskGrant(task_id=task.id, username=username))


def drop_grants(session: Session, task_id: int) -> None:
    session.execute(delete(TaskGrant).where(TaskGrant.task_id == task_id))


def set_task_status(session: Session, task_id: int, from_statuses: tuple[str, ...], **values) -> bool:
    """Conditional transition: applies only if the task is still in one of `from_statuses`."""
    result = session.execute(
        update(HumanTask).where(HumanTask.id == task_id, HumanTask.status.in_(from_statuses))
        .values(**values).execution_options(synchronize_session="fetch"))
    return result.rowcount == 1


def inbox_query(username: str, grants: list[tuple[str, str]], *, process_id: str | None = None,
                instance_id: int | None = None, role: str | None = None, org_path: str | None = None,
                stage: str | None = None, overdue_before: datetime | None = None):
    """Tasks this user may act on: offered to a role they hold over the task's unit (or to them
    by name) and not claimed by someone else, narrowed by the filters. Driven by the grants index."""
    conditions = [TaskGrant.username == username]
    for granted_role, path in grants:
        conditions.append(and_(TaskGrant.role_code == granted_role,
                               TaskGrant.org_path.like(_prefix_pattern(path), escape="\\")))
    visible = select(TaskGrant.task_id).where(or_(*conditions))
    query = (select(HumanTask)
             .where(HumanTask.id.in_(visible),
                    or_(HumanTask.status == "open",
                        and_(HumanTask.status == "claimed", HumanTask.assignee == username))))
    for column, value in ((HumanTask.process_id, process_id), (HumanTask.instance_id, instance_id),
                          (HumanTask.role_code, role), (HumanTask.stage, stage)):
        if value:
            query = query.where(column == value)
    if org_path:
        query = query.where(HumanTask.org_path.like(_prefix_pattern(org_path), escape="\\"))
    if overdue_before is not None:
        query = query.where(HumanTask.due_at < overdue_before)
    return query


def inbox(session: Session, username: str, grants: list[tuple[str, str]], *, limit: int = 50,
          offset: int = 0, **filters):
    """The inbox sorted by due time (see `inbox_query` for what it holds and the filters)."""
    query = inbox_query(username, grants, **filters)
    query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    return list(session.scalars(query.limit(limit).offset(offset)))


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
                  since: datetime) -> set[str]:
    """Store what an instance waits for; returns message names it newly waits for."""
    current = {(w.message_name, w.properties, w.correlation_key): w for w in session.scalars(
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


def find_waiting_instance(session: Session, name: str, props: str, key: str,
                          exclude: set[int]) -> int | None:
    query = (select(MessageWait.instance_id)
             .where(MessageWait.message_name == name, MessageWait.properties == props,
                    MessageWait.correlation_key == key)
             .order_by(MessageWait.since, MessageWait.id))
    if exclude:
        query = query.where(MessageWait.instance_id.not_in(exclude))
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
