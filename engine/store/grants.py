"""Grants follow their task's deadline: whenever `HumanTask.due_at` changes (extended, paused and
resumed, recomputed on a calendar change, anything done through the ORM), its `task_grants` rows'
`due_sort` changes in the same flush, so the inbox's ordered index walks stay true. Registered on
import (engine/store/db.py imports this module)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session

from .models import HumanTask, TaskGrant

# Where a task without a deadline sorts: after every real one, on every backend.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=timezone.utc)


def due_sort_of(due_at: datetime | None) -> datetime:
    return NO_DEADLINE if due_at is None else due_at


@event.listens_for(Session, "before_flush")
def _grants_follow_due_at(session: Session, _flush_context, _instances) -> None:
    """Whenever a task's `due_at` changes (extended, paused and resumed, recomputed, anything),
    its grants' `due_sort` changes in the same flush: rows already stored, and rows still waiting
    to be inserted."""
    moved = {}
    for obj in session.dirty:
        if isinstance(obj, HumanTask) and obj.id is not None:
            history = inspect(obj).attrs.due_at.history
            if history.has_changes():
                moved[obj.id] = due_sort_of(obj.due_at)
    if not moved:
        return
    for obj in (*session.new, *session.identity_map.values()):
        if isinstance(obj, TaskGrant) and obj.task_id in moved:
            obj.due_sort = moved[obj.task_id]
    table = TaskGrant.__table__
    for task_id, due_sort in moved.items():
        session.execute(update(table).where(table.c.task_id == task_id).values(due_sort=due_sort))
