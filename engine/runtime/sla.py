"""SLA clock: pause with a reason (e.g. the person is unreachable, 失联), resume, and recompute
working-day deadlines when calendar data changes. Paused working time extends the deadline."""
from __future__ import annotations

from datetime import datetime

from ..access import can_see, can_supervise
from ..calendar import Deadline
from ..calendars import chain_of
from ..deadlines import recount
from ..errors import Conflict, InvalidInput, PermissionDenied
from ..store import runtime as repo
from ..store.models import HumanTask
from .services import active_task_or_fail, actor_for, task_dict, view_of


def _task_for_sla(session, task_id: int, username: str) -> HumanTask:
    from ..escalation.ladder import supervisor_role
    task = active_task_or_fail(session, task_id, "不能暂停或恢复计时")
    actor = actor_for(session, username)
    if not (can_see(actor, view_of(task)) or can_supervise(actor, supervisor_role(task.role_code), view_of(task))):
        raise PermissionDenied(f"用户 {username} 无权调整任务 {task_id} 的计时")
    return task


def pause(ctx, task_id: int, username: str, reason: str) -> dict:
    if not reason or not reason.strip():
        raise InvalidInput("暂停计时必须填写原因（例如：失联）")
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        task = _task_for_sla(session, task_id, username)
        if task.paused_at is not None:
            raise Conflict(f"任务 {task_id} 的计时已于 {task.paused_at.isoformat()} 暂停")
        task.paused_at, task.paused_reason, task.next_escalation_at = now, reason.strip(), None
        repo.record_event(session, now, "sla_paused", task.instance_id, task.id, username, reason=reason.strip())
        return task_dict(task)


def resume(ctx, task_id: int, username: str, note: str | None = None) -> dict:
    from ..escalation.ladder import next_escalation_at
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        task = _task_for_sla(session, task_id, username)
        if task.paused_at is None:
            raise Conflict(f"任务 {task_id} 的计时没有暂停")
        paused_from, old = task.paused_at, task.due_at
        calendar = ctx.calendar(chain_of(task.org_path))
        if task.due_at is not None:
            if task.due_kind == "workdays":
                basis = dict(task.due_basis)
                basis["pauses"] = [*basis.get("pauses", []), [paused_from.isoformat(), now.isoformat()]]
                deadline = recount(basis, ctx.calendar(basis.get("chain") or chain_of(task.org_path)))
                task.due_basis = basis
            else:
                deadline = calendar.extend_by_working_time(
                    Deadline(task.due_at, bool(task.due_provisional), task.due_source or "clock"), paused_from, now)
                task.due_basis = {**(task.due_basis or {}), "pauses": [
                    *(task.due_basis or {}).get("pauses", []), [paused_from.isoformat(), now.isoformat()]]}
            task.due_at, task.due_provisional = deadline.at, deadline.provisional
        task.paused_at, task.paused_reason = None, None
        task.next_escalation_at = next_escalation_at(ctx, task)
        repo.record_event(session, now, "sla_resumed", task.instance_id, task.id, username,
                          paused_from=paused_from.isoformat(), old=old.isoformat() if old else None,
                          new=task.due_at.isoformat() if task.due_at else None, note=note)
        return task_dict(task)


def recompute_open_deadlines(ctx, reason: str, actor: str | None = None) -> list[dict]:
    """Recount every open working-day deadline on current calendar data; record each change.
    Boundary timers that set a deadline move with it."""
    from ..escalation.ladder import next_escalation_at
    from . import instances
    now = ctx.clock.now()
    changed: list[dict] = []
    timers: dict[int, list[tuple[str, datetime]]] = {}
    with ctx.db.unit_of_work() as session:
        for task in repo.active_workday_deadlines(session):
            basis = task.due_basis or {}
            deadline = recount(basis, ctx.calendar(basis.get("chain") or chain_of(task.org_path)))
            if deadline.at == task.due_at and deadline.provisional == bool(task.due_provisional):
                continue
            old = task.due_at
            task.due_at, task.due_provisional, task.due_source = deadline.at, deadline.provisional, deadline.source
            task.next_escalation_at = next_escalation_at(ctx, task)
            if basis.get("timer"):
                timers.setdefault(task.instance_id, []).append((basis["timer"], deadline.at))
            repo.record_event(session, now, "deadline_recomputed", task.instance_id, task.id, actor,
                              old=old.isoformat() if old else None, new=deadline.at.isoformat(),
                              provisional=deadline.provisional, source=deadline.source, reason=reason)
            changed.append({"task": task.id, "old": old, "new": deadline.at, "provisional": deadline.provisional})
    for instance_id, moves in timers.items():
        with ctx.db.unit_of_work() as session:
            row, workflow = instances.load(ctx, session, instance_id)
            for timer_id, at in moves:
                timer = instances.find_task(workflow, timer_id)
                if timer is not None:
                    timer._set_internal_data(event_value=at.isoformat())
            instances.persist(ctx, session, row, workflow)
    return changed
