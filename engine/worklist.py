"""The frontline worklist as the web UI shows it: one inbox page (filtered, sorted, counted, with
remaining working time), one task with everything its page needs, and form drafts.

Visibility is the task's own rule (`engine.access`): a task the user may not see is reported as
missing, exactly like a task that does not exist, so guessing ids reveals nothing.
"""
from __future__ import annotations

import math
from datetime import datetime

from .access import can_claim, can_complete, can_release, can_see
from .calendars import chain_of
from .deadlines import remaining
from .errors import InvalidInput, NotFound, TaskNotOpen
from .forms.definition import declared_to_form
from .pathways import load_specs
from .privacy.services import audit_read, data_tiers, person_units, reading_for
from .privacy.tiers import split_by_tier
from .runtime.forms import form_definition
from .stages import STAGES, is_stage
from .runtime.services import actor_for, check_data, org_path_or_fail, task_dict, view_of
from .store import runtime as runtime_repo
from .store import worklist as repo
from .store.grants import due_sort_of
from .store.models import HumanTask, Instance, Person

PER_PAGE = 50
MAX_PER_PAGE = 200


def _with_remaining(ctx, calendar, now, row: HumanTask) -> dict:
    return {**task_dict(row),
            "remaining": remaining(calendar.for_region(chain_of(row.org_path)), now, row.due_at)}


def inbox(ctx, username: str, *, process: str | None = None, org: str | None = None,
          stage: str | None = None, overdue: bool = False, sort: str = "due", page: int = 1, per_page: int = PER_PAGE) -> dict:
    """One page of the user's inbox and what its filters may offer.

    Returns {"tasks": [task + remaining + org_name], "total", "page", "pages", "per_page",
    "pathways": {id: name}, "orgs": [(code, name, level)] (units the user's roles cover)}."""
    if stage is not None and not is_stage(stage):
        raise InvalidInput(f"服务阶段无效: {stage!r}（可选 {', '.join(STAGES)}）")
    if sort not in repo.SORTS:
        raise InvalidInput(f"排序方式无效: {sort!r}（可选 {', '.join(repo.SORTS)}）")
    per_page = max(1, min(int(per_page), MAX_PER_PAGE))
    page = max(1, int(page))
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        actor = actor_for(session, username)
        org_path = org_path_or_fail(session, org) if org else None
        rows, total = repo.inbox_page(session, username, list(actor.grants), sort, per_page,
                                      (page - 1) * per_page, process_id=process, org_path=org_path,
                                      stage=stage, overdue_before=now if overdue else None)
        names = repo.org_names(session, {row.org_code for row in rows})
        roles = repo.role_names(session, {row.role_code for row in rows if row.role_code})
        units = repo.org_units_under(session, sorted({path for _, path in actor.grants}))
        pathways = repo.pathway_names(session)
    calendar = ctx.calendar()
    tasks = [{**_with_remaining(ctx, calendar, now, row), "org_name": names.get(row.org_code, row.org_code),
              "role_name": roles.get(row.role_code, row.role_code)} for row in rows]
    return {"tasks": tasks, "total": total, "page": page, "per_page": per_page,
            "pages": max(1, math.ceil(total / per_page)), "pathways": pathways,
            "orgs": [(u.code, u.name, u.level) for u in units]}


def inbox_after(ctx, username: str, *, after: tuple[datetime, int] | None = None, limit: int = PER_PAGE,
                process: str | None = None, org: str | None = None, stage: str | None = None,
                overdue: bool = False) -> tuple[list[dict], tuple[datetime, int] | None]:
    """The inbox by due time (no deadline last) from a position on: (tasks with their remaining
    time, the position after the last one, or None at the end). Positions are (due_sort, task id),
    stable while tasks come and go, which an offset is not."""
    if stage is not None and not is_stage(stage):
        raise InvalidInput(f"服务阶段无效: {stage!r}（可选 {', '.join(STAGES)}）")
    limit = max(1, min(int(limit), MAX_PER_PAGE))
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        actor = actor_for(session, username)
        org_path = org_path_or_fail(session, org) if org else None
        rows = runtime_repo.inbox(session, username, list(actor.grants), limit=limit + 1, after=after,
                                  process_id=process, org_path=org_path, stage=stage,
                                  overdue_before=now if overdue else None)
        names = repo.org_names(session, {row.org_code for row in rows})
    calendar = ctx.calendar()
    tasks = [{**_with_remaining(ctx, calendar, now, row), "org_name": names.get(row.org_code, row.org_code)}
             for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return tasks, (due_sort_of(last.due_at), last.id) if last is not None else None


def visible_task(session, task_id: int, username: str):
    task = session.get(HumanTask, task_id)
    actor = actor_for(session, username)
    if task is None or not (can_see(actor, view_of(task)) or task.completed_by == username):
        raise NotFound(f"任务 {task_id} 不存在或不在您的辖区内 (no such task in your jurisdiction)")
    return task, actor


def require_visible(ctx, task_id: int, username: str) -> None:
    """NotFound unless the user may see the task (what a guessed id gets, whatever it is)."""
    with ctx.db.unit_of_work() as session:
        visible_task(session, task_id, username)


def _form_of(ctx, session, task: HumanTask, instance: Instance) -> dict | None:
    """The form-js definition the task's page renders: its form file as deployed with the
    instance's version, or a form made from its `camunda:formData` declarations."""
    if task.form_key:
        return form_definition(session, instance.version_id, task.form_key)
    spec, subprocesses = load_specs(ctx, session, instance.version_id)
    process = spec if spec.name == task.process_id else subprocesses.get(task.process_id, spec)
    task_spec = process.task_specs.get(task.element)
    declared = (getattr(task_spec, "extensions", None) or {}).get("formFields")
    if not declared:
        return None
    form, _problems = declared_to_form(declared)
    return form


def task_page(ctx, task_id: int, username: str) -> dict:
    """Everything a task's page shows the user, or NotFound if they may not see it. Values of
    tiers the user does not read are held back (`hidden` counts them by tier); the read is audited.

    {"task": task + remaining + org_name + assignee_name + completed_by_name,
     "may": {"claim", "release", "complete"}, "person": {...} | None, "form": form-js | None,
     "form_values": the form's starting values (the user's draft, else the instance's current values
     for the form's keys), "draft_saved_at": datetime | None, "pathway_name"}"""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        task, actor = visible_task(session, task_id, username)
        instance = session.get(Instance, task.instance_id)
        person = session.get(Person, instance.person_id) if instance.person_id else None
        view = view_of(task)
        may = {"claim": can_claim(actor, view), "release": can_release(actor, view) and bool(
                   task.candidate_roles or task.candidate_users),
               "complete": can_complete(actor, view)}
        form = _form_of(ctx, session, task, instance)
        draft = repo.get_draft(session, task.id, username)
        # Whoever may see the task reads the person's basic information; the rest by tier.
        units = [task.org_path, *(person_units(session, person) if person else [])]
        found = reading_for(ctx, session, username, person, units, named=True)
        if draft:
            values, hidden = dict(draft.data), {}          # what this user typed
        else:
            values, hidden = split_by_tier({
                key: value for key, value in (instance.variables or {}).items()
                if form is not None and key in _form_keys(form)}, data_tiers(ctx, session, instance.version_id),
                found.tiers)
        audit_read(ctx, session, username, person.id if person else None, f"task:{task.id}", found, hidden)
        names = repo.user_names(session, {n for n in (task.assignee, task.completed_by) if n})
        orgs = repo.org_names(session, {task.org_code} | ({person.org_code} if person else set()))
        pathway_name = repo.pathway_names(session).get(task.process_id, task.process_id)
        role_name = repo.role_names(session, {task.role_code}).get(task.role_code, task.role_code)
        row = _with_remaining(ctx, ctx.calendar(), now, task)
        person_info = None if person is None else {
            "id": person.id, "ref": person.ref, "name": person.name, "gender": person.gender,
            "birth_date": person.birth_date, "org": person.org_code,
            "org_name": orgs.get(person.org_code, person.org_code)}
        return {"task": {**row, "org_name": orgs.get(task.org_code, task.org_code), "role_name": role_name,
                         "assignee_name": names.get(task.assignee), "completed_by_name": names.get(task.completed_by)},
                "may": may, "person": person_info, "form": form, "form_values": values, "hidden": hidden,
                "draft_saved_at": draft.saved_at if draft else None, "pathway_name": pathway_name}


def _form_keys(form: dict) -> set[str]:
    keys: set[str] = set()
    stack = list(form.get("components") or [])
    while stack:
        component = stack.pop()
        if isinstance(component, dict):
            if component.get("key"):
                keys.add(str(component["key"]).split(".")[0])
            stack.extend(component.get("components") or [])
    return keys


def save_draft(ctx, task_id: int, username: str, data: dict) -> dict:
    """Keep what the user typed, unchecked, until they complete the task. Only someone who may
    complete the task now may save a draft of it."""
    data = check_data(data)
    with ctx.db.unit_of_work() as session:
        task, actor = visible_task(session, task_id, username)
        if not can_complete(actor, view_of(task)):
            raise TaskNotOpen(f"任务 {task_id} 当前不能由您处理，草稿未保存")
        now = ctx.clock.now()
        repo.put_draft(session, task.id, username, data, now)
        return {"task": task.id, "saved_at": now}
