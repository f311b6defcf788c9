"""Raising escalations when deadlines pass: the sweep's third step (after timers and messages).

Default ladder (engine.escalation.policy): level 1 at due reminds the task's people; level 2 at
due + 1 working day goes to the agency's supervisor role (`health.supervisor` for a `health.*`
task) at the nearest unit at or above the task's that has such a supervisor; level 3 at due + 3
working days goes to the same role at the next unit above that. Each (task, level) is raised once:
a re-run at the same time creates nothing twice. Due work is found by index, so the cost follows
what is due, not what is active.

Sweeps running at once raise each step once. A task is worked in its own transaction, claimed
with FOR UPDATE SKIP LOCKED on PostgreSQL (another sweep's task is passed over; that sweep raises
it). Everywhere, and alone on SQLite: (task, level) is unique in `escalations`, so the slower of two
sweeps fails on its insert, and the task's level moves only by a conditional update from the level
the sweep read; either way that sweep rolls back its escalation, notifications and event.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError

from ..calendars import chain_of
from ..directory import is_service_account
from ..store import escalation as repo
from ..store.runtime import ACTIVE, is_retryable, record_event
from ..store.models import HumanTask


def agency_of(role_code: str | None) -> str:
    return (role_code or "unknown").split(".", 1)[0]


def supervisor_role(role_code: str | None) -> str:
    return f"{agency_of(role_code)}.supervisor"


def supervisor_target(session, task: HumanTask, above: int) -> tuple[str, str]:
    """(org code, org path) of the supervisor unit: nearest at/above the task's unit with a
    supervisor, then `above` more steps up among units that have one (else the next unit up).
    A supervisor is a person: an API client's service account holding the role does not count."""
    chain = chain_of(task.org_path)                   # root … task unit
    role = supervisor_role(task.role_code)
    staffed = {org for username, _, org in repo.members(session, [role], chain) if not is_service_account(username)}
    units = repo.units(session, chain)
    index = next((i for i in range(len(chain) - 1, -1, -1) if chain[i] in staffed), len(chain) - 1)
    for _ in range(above):
        higher = next((i for i in range(index - 1, -1, -1) if chain[i] in staffed), None)
        index = higher if higher is not None else max(index - 1, 0)
    code = chain[index]
    return code, units[code].path


def _people(session, task: HumanTask) -> list[str]:
    if task.assignee:
        return [task.assignee]
    holders = [u for u, _, _ in repo.members(session, task.candidate_roles or [], chain_of(task.org_path))
               if not is_service_account(u)]
    return sorted({*holders, *(task.candidate_users or [])})


def _notify(session, now: datetime, usernames: list[str], task: HumanTask, level: int, escalation_id: int):
    from ..notify import notify
    overdue = f"任务“{task.name}”（{task.process_id}，{task.org_code}）已超过截止时间"
    title = "任务到期提醒" if level == 1 else f"{level} 级督办：任务超期"
    notify(session, now, usernames, "escalation", title, overdue,
           link={"task": task.id, "escalation": escalation_id}, dedupe_key=f"escalation:{task.id}:{level}")


class _LostRace(Exception):
    """Another sweep, a completion or a pause changed the task first; roll back."""


def _raise_steps(ctx, session, task: HumanTask, now: datetime) -> list[int]:
    steps = ctx.policy().ladder(task.escalation_ladder)
    calendar = ctx.calendar(chain_of(task.org_path))
    raised = []
    level = start = task.escalation_level or 0
    while level < len(steps) and task.due_at is not None and steps[level].moment(task.due_at, calendar) <= now:
        step = steps[level]
        level += 1
        if repo.escalation_exists(session, task.id, level):
            continue
        if step.notify == "people":
            role, (org, path) = task.role_code or "", (task.org_code, task.org_path)
            recipients = _people(session, task)
        else:
            role = supervisor_role(task.role_code)
            org, path = supervisor_target(session, task, step.above)
            recipients = [u for u, _, _ in repo.members(session, [role], [org])]
        row = repo.add_escalation(
            session, task_id=task.id, instance_id=task.instance_id, level=level, role_code=role,
            org_code=org, org_path=path, agency=agency_of(task.role_code), raised_at=now,
            due_at=task.due_at, status="open")
        _notify(session, now, recipients, task, level, row.id)
        record_event(session, now, "escalation_raised", task.instance_id, task.id, level=level,
                     role=role, org=org, escalation=row.id, recipients=recipients)
        raised.append(row.id)
    following = (steps[level].moment(task.due_at, calendar)
                 if level < len(steps) and task.due_at is not None else None)
    if not repo.advance_level(session, task.id, start, level, following):
        raise _LostRace()
    return raised


def next_escalation_at(ctx, task: HumanTask) -> datetime | None:
    """When the task's next escalation step falls, after its deadline or level changed."""
    steps = ctx.policy().ladder(task.escalation_ladder)
    level = task.escalation_level or 0
    if task.paused_at is not None or task.due_at is None or level >= len(steps):
        return None
    return steps[level].moment(task.due_at, ctx.calendar(chain_of(task.org_path)))


def raise_due_escalations(ctx, now: datetime, batch: int = 500) -> list[int]:
    """Raise every escalation step due at `now`; returns the new escalation ids."""
    raised: list[int] = []
    done: set[int] = set()
    while True:
        with ctx.db.unit_of_work() as session:
            due = [i for i in repo.tasks_due_for_escalation(session, now, batch) if i not in done]
        if not due:
            return raised
        for task_id in due:
            done.add(task_id)
            raised += _raise_task(ctx, task_id, now)


def _raise_task(ctx, task_id: int, now: datetime, attempts: int = 3) -> list[int]:
    """Raise one task's due steps in one unit of work; [] when another sweep holds the task or
    raised them first. A deadlock PostgreSQL broke is run again."""
    for _ in range(attempts):
        try:
            with ctx.db.unit_of_work() as session:
                task = repo.lock_task(session, task_id)
                if task is None or task.status not in ACTIVE or task.paused_at is not None:
                    return []
                return _raise_steps(ctx, session, task, now)
        except (IntegrityError, _LostRace):
            return []      # another sweep raised the same (task, level) first, or the task moved on
        except DBAPIError as err:
            if not is_retryable(err):
                raise
    return []
