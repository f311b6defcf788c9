"""The supervisor's escalation queue: escalations the user works (their role at or above the
escalation's unit), filtered by level, agency and unit, sorted by level or age, one page at a time."""
from __future__ import annotations

import math

from ..access import can_supervise
from ..errors import InvalidInput
from ..runtime.services import actor_for, org_path_or_fail, task_dict, view_of
from ..store import escalation as repo
from ..store import worklist as worklist_repo
from .actions import escalation_dict
from .ladder import supervisor_role

STATUSES = {"open": ("open", "acknowledged"), "acknowledged": ("acknowledged",),
            "resolved": ("resolved",), "all": None}


def escalation_queue(ctx, username: str, *, status: str = "open", level: int | None = None,
                     agency: str | None = None, org: str | None = None, sort: str = "level",
                     page: int = 1, per_page: int = 50, offset: int | None = None) -> dict:
    """{"items": [escalation + "task" (task dict with org_name) + "person" + "age_hours" +
    "may_supervise"], "total", "page", "pages", "agencies": [codes in the user's grants]}.
    `offset` (the API's cursor) starts the page at that row instead of at `page`."""
    if status not in STATUSES:
        raise InvalidInput(f"状态无效: {status!r}")
    if sort not in repo.QUEUE_SORTS:
        raise InvalidInput(f"排序方式无效: {sort!r}")
    page, per_page = max(1, int(page)), max(1, min(int(per_page), 200))
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        actor = actor_for(session, username)
        org_path = org_path_or_fail(session, org) if org else None
        query = repo.queue_query(list(actor.grants), STATUSES[status], level=level, agency=agency,
                                 org_path=org_path)
        start = (page - 1) * per_page if offset is None else max(0, int(offset))
        rows, total = repo.queue_page(session, query, sort, per_page, start)
        people = worklist_repo.people_of_instances(session, {e.instance_id for e, _ in rows})
        names = worklist_repo.org_names(session, {t.org_code for _, t in rows} | {e.org_code for e, _ in rows})
        users = worklist_repo.user_names(session, {t.assignee for _, t in rows if t.assignee})
        roles = worklist_repo.role_names(session, {t.role_code for _, t in rows if t.role_code})
        items = []
        for escalation, task in rows:
            person = people.get(escalation.instance_id)
            items.append({
                **escalation_dict(escalation),
                "org_name": names.get(escalation.org_code, escalation.org_code),
                "task": {**task_dict(task), "org_name": names.get(task.org_code, task.org_code),
                         "assignee_name": users.get(task.assignee),
                         "role_name": roles.get(task.role_code, task.role_code)},
                "person": None if person is None else {"id": person.id, "name": person.name, "ref": person.ref},
                "age_hours": (now - escalation.raised_at).total_seconds() / 3600,
                "may_supervise": task.status in ("open", "claimed") and can_supervise(
                    actor, supervisor_role(task.role_code), view_of(task)),
            })
        agencies = sorted({role.split(".")[0] for role, _ in actor.grants})
        supervised = [item for item in items if item["may_supervise"]]
        roles = {role for item in supervised for role in item["task"]["candidate_roles"]}
        paths = sorted({path for role, path in actor.grants if role.endswith(".supervisor")})
        staff = worklist_repo.users_with_roles_under(session, roles, paths)
        units = [(u.code, u.name) for u in worklist_repo.org_units_under(session, paths)]
    for item in supervised:
        wanted = set(item["task"]["candidate_roles"])
        item["reassign_users"] = list(dict.fromkeys(
            (name, full, org) for name, full, role, org in staff if role in wanted))
    return {"items": items, "units": units, "total": total, "page": page, "per_page": per_page,
            "pages": max(1, math.ceil(total / per_page)), "agencies": agencies}
