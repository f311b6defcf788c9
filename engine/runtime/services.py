"""What users and the scheduler do to instances. One unit of work per call; every state change
goes through a named transition that checks permission and records an event."""
from __future__ import annotations

import json
import keyword
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState

from ..access import Actor, TaskView, can_claim, can_complete, can_release, is_candidate
from ..forms.bounds import check_bounds
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied, TaskNotOpen
from ..pathways import latest_version_or_fail, load_specs
from ..store import directory as directory_repo
from ..store import escalation as escalation_repo
from ..store import runtime as repo
from ..store import worklist as worklist_repo
from ..store.models import HumanTask, Instance
from ..store.rows import insert_now, new_row
from . import instances
from .routing import Directory
from .forms import check_submission
from .sweep import tick  # noqa: F401  (the sweep is `services.tick` to its callers)

MAX_DATA_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    instance: int
    status: str
    error: dict | None
    tasks: list[dict]


def task_dict(task: HumanTask) -> dict:
    return {
        "id": task.id, "instance": task.instance_id, "name": task.name, "element": task.element,
        "process": task.process_id, "role": task.role_code, "org": task.org_code,
        "status": task.status, "assignee": task.assignee, "form_key": task.form_key,
        "stage": task.stage,
        "due_at": task.due_at, "due_provisional": bool(task.due_provisional),
        "due_source": task.due_source, "follow_up_at": task.follow_up_at,
        "paused": task.paused_at is not None, "escalation_level": task.escalation_level or 0,
        "candidate_roles": list(task.candidate_roles or []),
        "candidate_users": list(task.candidate_users or []),
        "created_at": task.created_at, "completed_at": task.completed_at,
        "completed_by": task.completed_by,
    }


def _outcome(session, row: Instance, fresh: bool = False) -> Outcome:
    """The instance and its active tasks; `fresh`: it was created in this unit of work, so its
    tasks are the ones created in it (no need to read them back)."""
    if fresh:
        found = [t for t in session.info.get("tasks_created", ())
                 if t.instance_id == row.id and t.status in repo.ACTIVE]
    else:
        found = repo.active_tasks_of_instance(session, row.id)
    return Outcome(row.id, row.status, row.error, [task_dict(t) for t in found])


def check_data(data) -> dict:
    """Task/start data: a JSON object of plain variable names, of bounded size."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("数据必须是 JSON 对象 (data must be a JSON object)")
    check_bounds(data, MAX_DATA_BYTES)           # too many keys, too deep, too large: which field
    size = len(json.dumps(data, ensure_ascii=False, default=str).encode())
    if size > MAX_DATA_BYTES:
        raise InvalidInput(f"数据过大: {size} 字节，上限 {MAX_DATA_BYTES} 字节")
    for key in data:
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key) \
                or key.startswith("_"):
            raise InvalidInput(f"变量名无效: {key!r} (variable names are identifiers, not starting with _)")
    return data


def org_path_or_fail(session, org: str) -> str:
    """The materialized path of an org unit code, for "this unit and below" filters."""
    unit = directory_repo.org_unit(session, org)
    if unit is None:
        raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
    return unit.path


def actor_for(session, username: str) -> Actor:
    user = directory_repo.get_user(session, username)
    if user is None or not user.active:
        raise PermissionDenied(f"用户 {username} 不存在或已停用")
    return Actor(username, tuple(directory_repo.user_grants(session, username)))


def view_of(task: HumanTask) -> TaskView:
    return TaskView(task.status, task.assignee, tuple(task.candidate_roles or ()),
                    tuple(task.candidate_users or ()), task.org_path)


def _not_open_message(task: HumanTask) -> str:
    if task.status == "completed":
        return f"任务 {task.id} 已由 {task.completed_by} 完成 (task already completed)"
    if task.status == "cancelled":
        return f"任务 {task.id} 已取消 (task cancelled: the pathway moved on)"
    return f"任务 {task.id} 状态为 {task.status}"


# --- instances ---------------------------------------------------------------------------------

def start_instance(ctx, process_id: str, org: str, data: dict | None = None,
                   actor: str | None = None, person: str | None = None) -> Outcome:
    """Start a pathway at an org unit, for a registered person (by ref) when given: the
    instance joins the person's journey and its data carries `person_ref`."""
    data = check_data(data)
    from .messaging import dispatch_messages
    with ctx.db.unit_of_work() as session:
        person_id = None
        if person is not None:
            from ..people import person_or_fail
            person_id = person_or_fail(session, person).id
            data = {**data, "person_ref": person}
        row = create_instance(ctx, session, process_id, org, data, actor, person_id=person_id)
        outcome = _outcome(session, row, fresh=True)
        dispatch = session.info.get("messages_to_attempt", False)
    if dispatch:
        dispatch_messages(ctx)
    return outcome


def create_instance(ctx, session, process_id: str, org: str, data: dict, actor: str | None,
                    message=None, parent_instance_id: int | None = None,
                    person_id: int | None = None) -> Instance:
    version = latest_version_or_fail(session, process_id)
    if Directory.of(session).unit(org) is None:
        raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
    if message is None and version.message_starts and not _has_plain_start(ctx, session, version.id):
        raise InvalidInput(f"路径 {process_id} 由消息 {', '.join(version.message_starts)} 启动，"
                           f"不能直接启动 (starts only by message)")
    now = ctx.clock.now()
    workflow = instances.new_workflow(ctx, session, version.id, org)
    if data:
        workflow.task_tree.data.update(data)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
    error = instances.advance(workflow)
    if error is None and message is not None:
        from .messaging import deliver_into
        error = deliver_into(workflow, message, start=True)
    row = new_row(Instance, version_id=version.id, process_id=process_id, org_code=org, status="running",
                  error=None, started_at=now, parent_instance_id=parent_instance_id, person_id=person_id)
    instances.write_state(ctx, row, workflow)
    insert_now(session, row, attach=False)     # one INSERT with the state; it joins the session
    # only if it changes again here (`_settle_status`: in error, or ended at once)
    with repo.events_batched(session):      # this event and the first tasks' in one INSERT
        repo.record_event(session, now, "instance_started", row.id, actor=actor, process_id=process_id,
                          version=version.version, org=org, person_id=person_id,
                          message=message.name if message is not None else None)
        instances.persist(ctx, session, row, workflow, actor, error, fresh=True)
    return row


def _has_plain_start(ctx, session, version_id: int) -> bool:
    from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
    from ..bpmn.messages import CarePathMessage
    spec, _ = load_specs(ctx, session, version_id)
    return any(isinstance(ts, StartEvent) and not isinstance(ts.event_definition, CarePathMessage)
               for ts in spec.task_specs.values())


def retry_instance(ctx, instance_id: int, actor: str | None = None) -> Outcome:
    """Run an instance in error again (after the pathway, data or directory was fixed)."""
    from .messaging import dispatch_messages
    with ctx.db.unit_of_work() as session:
        row, workflow = instances.load(ctx, session, instance_id)
        if row.status != "error":
            raise Conflict(f"实例 {instance_id} 不在错误状态 (status {row.status})")
        for task in instances.error_tasks(workflow):
            task._set_state(TaskState.READY)
        repo.record_event(session, ctx.clock.now(), "instance_retried", row.id, actor=actor)
        instances.persist(ctx, session, row, workflow, actor, instances.advance(workflow))
        outcome = _outcome(session, row)
    dispatch_messages(ctx)
    return outcome


# --- human tasks -------------------------------------------------------------------------------

def active_task_or_fail(session, task_id: int, refusal: str) -> HumanTask:
    """A task that is still open or claimed; `refusal` says what cannot be done to an ended one."""
    task = _task_for(session, task_id)
    if task.status not in repo.ACTIVE:
        raise Conflict(f"任务 {task_id} 已{'完成' if task.status == 'completed' else '取消'}，{refusal}")
    return task


def _task_for(session, task_id: int) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"任务 {task_id} 不存在 (no such task)")
    return task


def claim(ctx, task_id: int, username: str) -> dict:
    with ctx.db.unit_of_work() as session:
        task = _task_for(session, task_id)
        actor = actor_for(session, username)
        if task.status not in repo.ACTIVE:
            raise TaskNotOpen(_not_open_message(task))
        if task.status == "claimed":
            if task.assignee == username:
                return task_dict(task)
            if is_candidate(actor, view_of(task)):
                raise TaskNotOpen(f"任务 {task_id} 已被 {task.assignee} 认领 (already claimed)")
        if not can_claim(actor, view_of(task)):
            raise PermissionDenied(f"用户 {username} 无权处理任务 {task_id}（角色或辖区不符）")
        if not repo.set_task_status(session, task.id, ("open",), status="claimed", assignee=username):
            raise Conflict(f"任务 {task_id} 刚被其他人认领 (claimed concurrently)")
        session.refresh(task)
        repo.replace_grants(session, task)      # the assignee's alone now
        repo.record_event(session, ctx.clock.now(), "task_claimed", task.instance_id, task.id, username)
        return task_dict(task)


def release(ctx, task_id: int, username: str) -> dict:
    with ctx.db.unit_of_work() as session:
        task = _task_for(session, task_id)
        actor = actor_for(session, username)
        if task.status not in repo.ACTIVE:
            raise TaskNotOpen(_not_open_message(task))
        if not can_release(actor, view_of(task)):
            raise PermissionDenied(f"只有认领人可以退回任务 {task_id}（当前认领人: {task.assignee or '无'}）")
        if not (task.candidate_roles or task.candidate_users):
            raise Conflict(f"任务 {task_id} 是直接指派给 {username} 的，没有其他候选人，不能退回")
        if not repo.set_task_status(session, task.id, ("claimed",), status="open", assignee=None):
            raise Conflict(f"任务 {task_id} 状态已变化 (changed concurrently)")
        session.refresh(task)
        repo.replace_grants(session, task)      # offered to its candidates again
        repo.record_event(session, ctx.clock.now(), "task_released", task.instance_id, task.id, username)
        return task_dict(task)


def complete(ctx, task_id: int, username: str, data: dict | None = None) -> Outcome:
    """Complete a task with the user's data and run the pathway on to its next wait.

    Exactly one of two concurrent completions succeeds: the task row moves only from an active
    status, and the instance row is written only if nobody saved it since it was loaded."""
    data = check_data(data)
    from .messaging import dispatch_messages
    with ctx.db.unit_of_work() as session:
        task = _task_for(session, task_id)
        actor = actor_for(session, username)
        if task.status not in repo.ACTIVE:
            raise TaskNotOpen(_not_open_message(task))
        if not can_complete(actor, view_of(task)):
            if task.status == "claimed":
                raise PermissionDenied(f"任务 {task_id} 已被 {task.assignee} 认领，只有认领人可以完成")
            raise PermissionDenied(f"用户 {username} 无权处理任务 {task_id}（角色或辖区不符）")
        row, workflow = instances.load(ctx, session, task.instance_id)
        spiff_task = instances.find_task(workflow, task.spiff_task_id)
        if spiff_task is None or not spiff_task.has_state(TaskState.READY):
            session.refresh(task)   # someone finished it between our two reads: say who
            if task.status not in repo.ACTIVE:
                raise TaskNotOpen(_not_open_message(task))
            raise TaskNotOpen(f"任务 {task_id} 在流程中已不再等待处理 (no longer waiting)")
        data = check_submission(ctx, session, row.version_id, task.form_key, spiff_task, data)
        now = ctx.clock.now()
        if not repo.set_task_status(session, task.id, repo.ACTIVE, status="completed",
                                    completed_at=now, completed_by=username, assignee=username,
                                    next_escalation_at=None):
            raise Conflict(f"任务 {task_id} 刚被其他人处理 (completed concurrently)")
        repo.drop_grants(session, task.id)
        worklist_repo.drop_drafts(session, task.id)
        escalation_repo.resolve_for_task(session, task.id, now)
        spiff_task.set_data(**data)
        error = None
        try:
            spiff_task.run()
        except instances.CONTENT_ERRORS as err:
            error = instances.describe_error(err, spiff_task)
        with repo.events_batched(session):
            repo.record_event(session, now, "task_completed", row.id, task.id, username,
                              element=task.element, on_time=(task.due_at is None or now <= task.due_at),
                              fields=sorted(data))
            if error is None:
                error = instances.advance(workflow)
            instances.persist(ctx, session, row, workflow, username, error)
        outcome = _outcome(session, row)
    dispatch_messages(ctx)
    return outcome


def tasks_for_user(ctx, username: str, **filters) -> list[dict]:
    """The user's inbox, each task with its remaining working time on its unit's calendar."""
    from ..calendars import chain_of
    from ..deadlines import remaining
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        actor = actor_for(session, username)
        rows = repo.inbox(session, username, list(actor.grants), **filters)
    calendar = ctx.calendar()   # one look at the stored layers; regional views are cached
    return [{**task_dict(t), "remaining": remaining(calendar.for_region(chain_of(t.org_path)), now, t.due_at)}
            for t in rows]


def list_tasks(ctx, role: str | None = None, org: str | None = None, instance_id: int | None = None,
               status: str = "open") -> list[dict]:
    statuses = {"open": repo.ACTIVE, "completed": ("completed",), "all": None}[status]
    with ctx.db.unit_of_work() as session:
        org_path = org_path_or_fail(session, org) if org else None
        return [task_dict(t) for t in repo.list_tasks(session, role=role, org_path=org_path,
                                                      instance_id=instance_id, statuses=statuses)]


# --- a user disabled -----------------------------------------------------------------------------

def release_claims_of(ctx, session, username: str, actor: str | None, reason: str) -> dict:
    """Inside the caller's unit of work (disabling a user): every task the user holds goes back
    to open for its candidates, with its grants, as a `task_released` event (and audit row) saying
    why and from whom. A task assigned to them by name with no other candidate is left as it is
    and listed, so a supervisor reassigns it. Returns {"released": [ids], "kept": [ids]}."""
    from ..store import audit
    now = ctx.clock.now()
    released, kept = [], []
    for task in directory_repo.claimed_by(session, username):
        others = [user for user in (task.candidate_users or []) if user != username]
        if not (task.candidate_roles or others) or not repo.set_task_status(
                session, task.id, ("claimed",), status="open", assignee=None):
            kept.append(task.id)
            continue
        session.refresh(task)
        repo.replace_grants(session, task)
        detail = {"reason": reason, "released_from": username}
        repo.record_event(session, now, "task_released", task.instance_id, task.id, actor, **detail)
        if actor is None:       # record_event audits only what a named person did
            audit.append_for_event(session, now, "task_released", task.instance_id, task.id, None, detail)
        released.append(task.id)
    return {"released": released, "kept": kept}
