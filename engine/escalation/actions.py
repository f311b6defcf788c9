"""What supervisors do with escalated (or any of their agency's) tasks: acknowledge, note,
reassign to a user or an org unit, extend the deadline with a reason. Each is one unit of work,
checks permission with a pure predicate and records an event."""
from __future__ import annotations

from datetime import datetime

from ..access import can_handle_escalation, can_supervise
from ..calendars import chain_of
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..runtime.services import active_task_or_fail, actor_for, org_path_or_fail, task_dict, view_of
from ..store import directory as directory_repo
from ..store import escalation as repo
from ..store import runtime as runtime_repo
from ..store.models import Escalation, HumanTask
from .ladder import next_escalation_at, supervisor_role


def escalation_dict(row: Escalation) -> dict:
    return {"id": row.id, "task": row.task_id, "instance": row.instance_id, "level": row.level,
            "role": row.role_code, "org": row.org_code, "agency": row.agency, "raised_at": row.raised_at,
            "due_at": row.due_at, "status": row.status, "acknowledged_by": row.acknowledged_by,
            "acknowledged_at": row.acknowledged_at, "resolved_at": row.resolved_at, "note": row.note}


def list_escalations(ctx, org: str | None = None, status: str = "open") -> list[dict]:
    statuses = {"open": ("open", "acknowledged"), "all": None}[status]
    with ctx.db.unit_of_work() as session:
        path = org_path_or_fail(session, org) if org else None
        return [escalation_dict(r) for r in repo.list_escalations(session, path, statuses)]


def _escalation_for(session, escalation_id: int, username: str):
    row = session.get(Escalation, escalation_id)
    if row is None:
        raise NotFound(f"督办 {escalation_id} 不存在")
    actor = actor_for(session, username)
    if not can_handle_escalation(actor, row.role_code, row.org_path):
        raise PermissionDenied(f"用户 {username} 不负责督办 {escalation_id}（需要 {row.role_code} @ {row.org_code} 或上级）")
    return row


def acknowledge(ctx, escalation_id: int, username: str, note: str | None = None) -> dict:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row = _escalation_for(session, escalation_id, username)
        if row.status == "resolved":
            raise Conflict(f"督办 {escalation_id} 已解决（任务已完成或取消）")
        if row.status == "open":
            row.status, row.acknowledged_by, row.acknowledged_at = "acknowledged", username, now
        if note:
            row.note = note
        runtime_repo.record_event(session, now, "escalation_acknowledged", row.instance_id, row.task_id,
                                  username, escalation=row.id, level=row.level, note=note)
        return escalation_dict(row)


def add_note(ctx, escalation_id: int, username: str, note: str) -> dict:
    if not note or not note.strip():
        raise InvalidInput("备注不能为空")
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row = _escalation_for(session, escalation_id, username)
        row.note = note.strip()
        runtime_repo.record_event(session, now, "escalation_note", row.instance_id, row.task_id, username,
                                  escalation=row.id, note=row.note)
        return escalation_dict(row)


def _supervised_task(session, task_id: int, username: str) -> tuple[HumanTask, object]:
    """The task, if `username` supervises it and it is still active. Who may ask is checked
    first, so that nobody else learns whether a task id exists or has ended."""
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"任务 {task_id} 不存在 (no such task)")
    actor = actor_for(session, username)
    # Supervisor escalations sit at or above the task's unit, so whoever may work one also
    # supervises the task; reminders (level 1) give the task's own people no such power.
    if not can_supervise(actor, supervisor_role(task.role_code), view_of(task)):
        raise PermissionDenied(
            f"用户 {username} 不是任务 {task_id} 的督导（需要 {supervisor_role(task.role_code)} 管辖 {task.org_code}）")
    return active_task_or_fail(session, task_id, "不能再调整"), actor


def _require_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("请填写原因 (a reason is required)")
    return reason.strip()


def reassign(ctx, task_id: int, username: str, to_user: str | None = None, to_org: str | None = None,
             reason: str | None = None) -> dict:
    """Give the task to a named user (it becomes theirs) or move it to another org unit."""
    reason = _require_reason(reason)
    if bool(to_user) == bool(to_org):
        raise InvalidInput("请指定 to_user 或 to_org 之一")
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        task, actor = _supervised_task(session, task_id, username)
        before = {"assignee": task.assignee, "org": task.org_code}
        if to_user:
            target = actor_for(session, to_user)
            if not any(role in (task.candidate_roles or []) for role, _ in target.grants) \
                    and to_user not in (task.candidate_users or []):
                raise InvalidInput(f"用户 {to_user} 没有此任务需要的角色 ({', '.join(task.candidate_roles or [])})")
            task.assignee, task.status = to_user, "claimed"
        else:
            unit = directory_repo.org_unit(session, to_org)
            if unit is None:
                raise NotFound(f"机构 {to_org} 不存在")
            if not any(path and unit.path.startswith(path) for _, path in actor.grants):
                raise PermissionDenied(f"机构 {to_org} 不在 {username} 的辖区内")
            task.org_code, task.org_path = unit.code, unit.path
            task.assignee, task.status = None, "open"
        session.flush()
        runtime_repo.replace_grants(session, task)
        task.next_escalation_at = next_escalation_at(ctx, task)
        runtime_repo.record_event(session, now, "task_reassigned", task.instance_id, task.id, username,
                                  before=before, to_user=to_user, to_org=to_org, reason=reason)
        return task_dict(task)


def extend(ctx, task_id: int, username: str, until: datetime | None = None,
           workdays: int | None = None, reason: str | None = None) -> dict:
    """Move the deadline later, to a date or by N working days, with a reason."""
    reason = _require_reason(reason)
    if (until is None) == (workdays is None):
        raise InvalidInput("请指定新的截止时间或延长的工作日数之一")
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        task, _ = _supervised_task(session, task_id, username)
        calendar = ctx.calendar(chain_of(task.org_path))
        old = task.due_at
        if workdays is not None:
            if workdays < 1 or workdays > 60:
                raise InvalidInput("延长的工作日数应在 1 到 60 之间")
            deadline = calendar.add_workdays(old or now, workdays)
            new_due, provisional, source = deadline.at, deadline.provisional, deadline.source
        else:
            new_due, provisional, source = until, False, "supervisor"
        if old is not None and new_due <= old:
            raise InvalidInput("新的截止时间必须晚于原截止时间")
        task.due_at, task.due_kind = new_due, "fixed"
        task.due_basis = {"kind": "fixed", "extended_from": old.isoformat() if old else None, "reason": reason}
        task.due_source, task.due_provisional = source, provisional
        task.next_escalation_at = next_escalation_at(ctx, task)
        runtime_repo.record_event(session, now, "deadline_extended", task.instance_id, task.id, username,
                                  old=old.isoformat() if old else None, new=new_due.isoformat(), reason=reason)
        return task_dict(task)
