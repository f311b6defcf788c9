"""Read models: answers built from rows, never from a deserialized workflow."""
from __future__ import annotations

from ..errors import NotFound
from ..store import runtime as repo
from ..store.models import Instance
from .services import task_dict


def instance_detail(ctx, instance_id: int) -> dict:
    with ctx.db.unit_of_work() as session:
        row = session.get(Instance, instance_id)
        if row is None:
            raise NotFound(f"实例 {instance_id} 不存在")
        return {
            "instance": row.id, "process_id": row.process_id, "version_id": row.version_id,
            "org": row.org_code, "status": row.status, "error": row.error, "wake_at": row.wake_at,
            "started_at": row.started_at, "ended_at": row.ended_at, "person_id": row.person_id,
            "data": row.variables or {},
            "tasks": [task_dict(t) for t in repo.list_tasks(session, instance_id=row.id, statuses=None)],
            "events": [{"at": e.at, "kind": e.kind, "task": e.task_id, "actor": e.actor, **e.detail}
                       for e in repo.events_for_instance(session, row.id)],
        }
