"""Starting and cancelling instances on behalf of a person or a calling system, with the same
jurisdiction rules as everything else (the CLI's `start` is an operator's and checks none).

- Starting at an org unit needs a membership at that unit or above it.
- Cancelling (the person moved away, the referral was a duplicate, consent withdrawn) needs what
  retrying needs: an agency supervisor or the analyst at or above the instance's unit. It ends the
  instance for good: its open tasks are cancelled (with their escalations resolved and grants
  dropped), it waits for no message and no timer, and the reason is kept in the event log and the
  audit log.
"""
from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm.exc import StaleDataError

from ..access import can_retry, holds_over
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..store import runtime as repo
from ..store.models import Instance, MessageWait
from .instances import cancel_task
from .routing import Directory
from .services import Outcome, actor_for, start_instance

ENDED = ("completed", "cancelled")
MAX_REASON = 500


def unit_in_jurisdiction(session, username: str, org: str, refused: str):
    """The org unit `org` (with its path), if the user (or API client) holds a role at or above
    it; NotFound for an unknown unit, PermissionDenied ending with `refused` otherwise."""
    actor = actor_for(session, username)
    unit = Directory.of(session).unit(org)
    if unit is None:
        raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
    if not any(holds_over(actor, role, unit.path) for role, _path in actor.grants):
        raise PermissionDenied(f"机构 {org} 不在您的辖区内，{refused} (outside your jurisdiction)")
    return unit


def start_for_user(ctx, username: str, process_id: str, org: str, data: dict | None = None,
                   person: str | None = None) -> Outcome:
    """Start a pathway at `org` for a user (or API client) holding a role at or above it."""
    with ctx.db.unit_of_work() as session:
        unit_in_jurisdiction(session, username, org, "不能在此启动路径")
    return start_instance(ctx, process_id, org, data, actor=username, person=person)


def cancel_instance(ctx, instance_id: int, username: str, reason: str) -> Outcome:
    reason = (reason or "").strip()
    if len(reason) < 2 or len(reason) > MAX_REASON:
        raise InvalidInput(f"请填写取消原因（2 到 {MAX_REASON} 个字符）")
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        row = session.get(Instance, instance_id)
        unit = Directory.of(session).unit(row.org_code) if row is not None else None
        if row is None or unit is None or not can_retry(actor_for(session, username), unit.path):
            raise NotFound(f"实例 {instance_id} 不存在或不在您的辖区内 (no such instance in your jurisdiction)")
        if row.status in ENDED:
            raise Conflict(f"实例 {instance_id} 已{'结束' if row.status == 'completed' else '取消'}，不能再取消")
        cancelled = []
        for task in repo.active_tasks_of_instance(session, row.id):
            cancel_task(session, task, now, None)
            cancelled.append(task.id)
        session.execute(delete(MessageWait).where(MessageWait.instance_id == row.id))
        row.status, row.wake_at, row.ended_at, row.updated_at = "cancelled", None, now, now
        repo.record_event(session, now, "instance_cancelled", row.id, actor=username, reason=reason,
                          tasks=cancelled)
        try:
            session.flush()
        except StaleDataError as err:
            raise Conflict(f"实例 {instance_id} 已被其他操作修改，请刷新后重试 (instance changed concurrently)") from err
        return Outcome(row.id, row.status, row.error, [])
