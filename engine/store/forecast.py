"""Queries of the workload forecast (engine.simulation): what it reads of the source database's
history and region, and of its own database while and after it runs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, insert, select, text
from sqlalchemy.orm import Session

from .indicators import ON_TIME
from .models import BpmnSource, Escalation, HumanTask, Instance, Membership, OrgUnit, PathwayVersion, User
from .runtime import ACTIVE


# --- the source: region, pathways, history -------------------------------------------------------

def latest_sources(session: Session) -> dict[str, tuple[str | None, bytes]]:
    """process id → (name, BPMN source) of each process's newest deployed version."""
    rows = session.execute(
        select(PathwayVersion.process_id, PathwayVersion.version, PathwayVersion.name, BpmnSource.content)
        .join(BpmnSource, BpmnSource.sha256 == PathwayVersion.source_sha256)
        .order_by(PathwayVersion.process_id, PathwayVersion.version)).all()
    return {process: (name, content) for process, _, name, content in rows}


def units(session: Session) -> dict[str, tuple[str, str, str]]:
    """Every org unit: code → (name, level, path)."""
    return {code: (name, level, path) for code, name, level, path in session.execute(
        select(OrgUnit.code, OrgUnit.name, OrgUnit.level, OrgUnit.path))}


def version_processes(session: Session) -> list[tuple[int, str]]:
    """(version id, process id) of every deployed version."""
    return [tuple(row) for row in session.execute(select(PathwayVersion.id, PathwayVersion.process_id))]


def instances_page(session: Session, version_ids: list[int], after: int, limit: int) -> list[Instance]:
    """Instances of these versions with ids above `after`, by id, at most `limit`."""
    return list(session.scalars(select(Instance).where(Instance.version_id.in_(version_ids), Instance.id > after)
                                .order_by(Instance.id).limit(limit)))


def completed_spans_page(session: Session, process_ids: list[str], after: int, limit: int) -> list:
    """Completed human tasks of the processes with ids above `after`: (id, process_id, element,
    role_code, org_path, created_at, completed_at), by id, at most `limit`."""
    return session.execute(
        select(HumanTask.id, HumanTask.process_id, HumanTask.element, HumanTask.role_code,
               HumanTask.org_path, HumanTask.created_at, HumanTask.completed_at)
        .where(HumanTask.process_id.in_(process_ids), HumanTask.status == "completed",
               HumanTask.completed_at.is_not(None), HumanTask.id > after)
        .order_by(HumanTask.id).limit(limit)).all()


def start_counts(session: Session, process_id: str) -> list[tuple[str, int]]:
    """(org unit code, instances of the process started there)."""
    return [(code, int(n)) for code, n in session.execute(
        select(Instance.org_code, func.count()).where(Instance.process_id == process_id)
        .group_by(Instance.org_code))]


def start_level_counts(session: Session, process_id: str) -> list[tuple[str, int]]:
    """(org level, instances of the process started at a unit of that level)."""
    return [(level, int(n)) for level, n in session.execute(
        select(OrgUnit.level, func.count()).join(Instance, Instance.org_code == OrgUnit.code)
        .where(Instance.process_id == process_id).group_by(OrgUnit.level))]


def on_time_by_stage(session: Session, process_ids: list[str], since: datetime | None,
                     until: datetime | None) -> list[tuple]:
    """(stage, completed, completed with a due, completed on time) of the processes' human tasks
    completed in [since, until), either bound open when None."""
    conditions = [HumanTask.process_id.in_(process_ids), HumanTask.status == "completed",
                  HumanTask.completed_at.is_not(None)]
    if since is not None:
        conditions.append(HumanTask.completed_at >= since)
    if until is not None:
        conditions.append(HumanTask.completed_at < until)
    on_time = func.coalesce(func.sum(case((ON_TIME, 1), else_=0)), 0)
    return session.execute(select(HumanTask.stage, func.count(), func.count(HumanTask.due_at), on_time)
                           .where(*conditions).group_by(HumanTask.stage)).all()


# --- the forecast's own database ------------------------------------------------------------------

def add_worker(session: Session, username: str, role: str, org: str) -> None:
    """A synthetic user holding `role` at `org` and nothing else."""
    user = User(username=username, name=f"{role}@{org}", password_hash="!", active=True)
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, role_code=role, org_code=org))


def copy_table(reading, writing, model, batch: int) -> None:
    """Every row of `model`'s table from one connection to another, in batches; a unit's parent
    before it."""
    table = model.__table__
    order = [*table.primary_key.columns]
    if model is OrgUnit:
        order.insert(0, func.length(table.c.path))
    rows = reading.execution_options(yield_per=batch).execute(select(table).order_by(*order))
    for chunk in rows.mappings().partitions(batch):
        writing.execute(insert(table), [dict(row) for row in chunk])


def move_id_sequence_past_rows(session: Session, table_name: str) -> None:
    """PostgreSQL: the table's serial id sequence continues after its largest id (rows were
    copied with their ids). `table_name` is one of the models' own names, never user input."""
    session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                         f"COALESCE((SELECT MAX(id) FROM {table_name}), 0) + 1, false)"))


def active_tasks_after(session: Session, after: int) -> list:
    """Open or claimed human tasks with ids above `after`, with their instance's version:
    (id, process_id, element, role_code, org_code, org_path, due_at, form_key, candidate_users,
    version_id), by id."""
    return session.execute(
        select(HumanTask.id, HumanTask.process_id, HumanTask.element, HumanTask.role_code,
               HumanTask.org_code, HumanTask.org_path, HumanTask.due_at, HumanTask.form_key,
               HumanTask.candidate_users, Instance.version_id)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.id > after, HumanTask.status.in_(ACTIVE))
        .order_by(HumanTask.id)).all()


def variables_of_task_instance(session: Session, task_id: int) -> dict:
    """The process variables (as last saved) of the task's instance."""
    found = session.execute(select(Instance.variables).join(HumanTask, HumanTask.instance_id == Instance.id)
                            .where(HumanTask.id == task_id)).scalar_one_or_none()
    return dict(found or {})


def all_tasks(session: Session) -> list:
    """(role_code, org_code, created_at, completed_at, status, due_at) of every human task."""
    return session.execute(select(HumanTask.role_code, HumanTask.org_code, HumanTask.created_at,
                                  HumanTask.completed_at, HumanTask.status, HumanTask.due_at)).all()


def instance_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Instance))


def escalations_by_level_and_role(session: Session) -> list[tuple[int, str | None, int]]:
    """(level, the task's role, escalations raised)."""
    return [tuple(row) for row in session.execute(
        select(Escalation.level, HumanTask.role_code, func.count())
        .join(HumanTask, HumanTask.id == Escalation.task_id)
        .group_by(Escalation.level, HumanTask.role_code))]
