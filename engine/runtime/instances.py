"""Loading, advancing and saving one instance inside a unit of work.

`persist` is where a workflow's state becomes rows: the human tasks people see (with grants for
the inbox), the messages it waits for and the ones it threw, its next wake-up time, its status.
An error raised by pathway content (a script, a condition, a time expression, routing) becomes the
instance's error state with what and where, never a crash; `retry` runs it again.
"""
from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from ..assignment import AssignmentError
from ..bpmn.compaction import compact
from ..bpmn.messages import CarePathMessage, correlation_values
from ..bpmn.moments import MomentError
from ..bpmn.serializer import STATE_FORMAT
from ..bpmn.timers import pending_wake_time
from ..errors import Conflict, NotFound
from ..pathways import load_specs
from ..scripting import ScriptError
from ..store import escalation as escalation_repo
from ..store import runtime as repo
from ..store.models import Instance, Message
from ..store.rows import insert_now, join
from .routing import Directory, build_human_task

CONTENT_ERRORS = (SpiffWorkflowException, ScriptError, MomentError, AssignmentError)


def describe_error(err: Exception, task=None) -> dict:
    """What went wrong and where, for the instance's error state."""
    task = getattr(err, "task", None) or task
    inner = getattr(err, "exception", None) or err.__cause__
    detail = {
        "message": str(err.args[0]) if err.args else str(err),
        "kind": type(inner or err).__name__,
    }
    if inner is not None and str(inner) and str(inner) not in detail["message"]:
        detail["message"] += f": {inner}"
    if task is not None:
        detail["element"] = task.task_spec.bpmn_id
        detail["element_name"] = task.task_spec.bpmn_name
        line = (getattr(task.task_spec, "extensions", None) or {}).get("line")
        if line:
            detail["source_line"] = line
    for attribute in ("line_number", "error_line"):
        value = getattr(err, attribute, None)
        if value:
            detail["script_line" if attribute == "line_number" else "error_line"] = value
    return detail


def _org_path(session, org_code: str) -> str | None:
    unit = Directory.of(session).unit(org_code)
    return unit.path if unit is not None else None


def new_workflow(ctx, session, version_id: int, org_code: str) -> BpmnWorkflow:
    spec, subprocess_specs = load_specs(ctx, session, version_id)
    engine = ctx.script_engine(_org_path(session, org_code))
    return BpmnWorkflow(spec, subprocess_specs, script_engine=engine)


def load(ctx, session, instance_id: int) -> tuple[Instance, BpmnWorkflow]:
    row = session.get(Instance, instance_id)
    if row is None:
        raise NotFound(f"实例 {instance_id} 不存在 (no such instance)")
    if row.state_format != STATE_FORMAT:
        raise Conflict(f"实例 {instance_id} 的状态格式 v{row.state_format} 需要迁移")
    spec, subprocess_specs = load_specs(ctx, session, row.version_id)
    engine = ctx.script_engine(_org_path(session, row.org_code))
    workflow = ctx.serializer.state_from_bytes(row.state, spec, subprocess_specs, engine)
    compact(workflow)     # a state saved before compaction existed is as small as it would be now
    return row, workflow


def advance(workflow: BpmnWorkflow) -> dict | None:
    """Run engine steps until only people, timers or messages are awaited."""
    try:
        workflow.do_engine_steps()
    except CONTENT_ERRORS as err:
        return describe_error(err)
    return None


def error_tasks(workflow: BpmnWorkflow) -> list:
    return workflow.get_tasks(state=TaskState.ERROR)


def _correlation_key(values: list) -> str:
    return json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)


def message_definitions(task) -> list[CarePathMessage]:
    """The messages a waiting task catches: its own, or each message an event-based gateway
    (a multiple event definition) waits for."""
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, CarePathMessage):
        return [definition]
    return [d for d in getattr(definition, "event_definitions", None) or ()
            if isinstance(d, CarePathMessage)]


def _waits(workflow: BpmnWorkflow) -> list[tuple[str, str, str]]:
    waits = []
    for task in list(workflow.event_manager.tasks.values()):
        if not task.has_state(TaskState.WAITING):
            continue
        for definition in message_definitions(task):
            waits.append(_wait_of(task, definition))
    return waits


def _wait_of(task, definition: CarePathMessage) -> tuple[str, str, str]:
    """(message name, correlation property names, correlation values) a task waits on."""
    props = sorted({p.name: p for p in definition.correlation_properties}.values(),
                   key=lambda p: p.name)
    known = correlation_values(task.workflow.correlations)
    values = []
    for prop in props:
        if prop.name in known:
            values.append(known[prop.name])
            continue
        try:
            values.append(task.workflow.script_engine.environment.evaluate(
                prop.retrieval_expression, task.data))
        except (SpiffWorkflowException, ScriptError, NameError, KeyError, TypeError):
            values.append(None)
    return definition.name, ",".join(p.name for p in props), _correlation_key(values)


def message_key(message: Message, properties: str) -> str:
    names = [p for p in properties.split(",") if p]
    return _correlation_key([(message.correlation or {}).get(name) for name in names])


def thrown_correlation(workflow: BpmnWorkflow, event) -> dict:
    """{property: value} a thrown message carries, from its correlation properties evaluated on
    its payload (whether or not the BPMN declares correlation keys)."""
    values = correlation_values(event.correlations)
    environment = workflow.script_engine.environment
    for prop in event.event_definition.correlation_properties:
        if prop.name in values:
            continue
        try:
            values[prop.name] = environment.evaluate(prop.retrieval_expression, dict(event.payload or {}))
        except (SpiffWorkflowException, ScriptError, NameError, KeyError, TypeError):
            values[prop.name] = None
    return json.loads(json.dumps(values, default=str))


def sync_tasks(ctx, session, row: Instance, workflow: BpmnWorkflow, actor: str | None,
               fresh: bool = False) -> dict | None:
    """Human-task rows for the workflow's READY manual tasks: new ones created (with grants and
    a `task_created` event, and listed in `session.info["tasks_created"]`), ones the workflow
    left cancelled. `fresh`: the instance was created in this unit of work, so it has no rows
    to compare with yet."""
    now = ctx.clock.now()
    ready = {str(t.id): t for t in workflow.get_tasks(state=TaskState.READY, manual=True)}
    for existing in () if fresh else repo.active_tasks_of_instance(session, row.id):
        if existing.spiff_task_id not in ready:
            cancel_task(session, existing, now, actor)
        else:
            del ready[existing.spiff_task_id]
    directory = Directory.of(session)
    for task in ready.values():
        try:
            human = build_human_task(task, row, directory, ctx)
        except CONTENT_ERRORS as err:
            return describe_error(err, task)
        insert_now(session, human, attach=False)     # nothing in this unit of work changes it
        session.info.setdefault("tasks_created", []).append(human)
        repo.add_grants(session, human)
        repo.record_event(session, now, "task_created", row.id, human.id, actor, element=human.element,
                          role=human.role_code, org=human.org_code,
                          due_at=human.due_at.isoformat() if human.due_at else None)
    return None


def cancel_task(session, task, now: datetime, actor: str | None) -> None:
    """An active task nobody is to do any more: cancelled, offered to no one, its escalations
    resolved, and a `task_cancelled` event."""
    repo.set_task_status(session, task.id, repo.ACTIVE, status="cancelled", completed_at=now,
                         next_escalation_at=None)
    repo.drop_grants(session, task.id)
    escalation_repo.resolve_for_task(session, task.id, now)
    repo.record_event(session, now, "task_cancelled", task.instance_id, task.id, actor, element=task.element)


def persist(ctx, session, row: Instance, workflow: BpmnWorkflow, actor: str | None = None,
            error: dict | None = None, fresh: bool = False) -> None:
    """Write the workflow's state and everything derived from it; fail with Conflict if another
    writer saved this instance since it was loaded.

    `fresh`: the instance was inserted in this unit of work with `write_state` already done (so
    there are no stored rows to compare with, and no version to check).

    Sets `session.info["messages_to_attempt"]` when a message was thrown or a new catcher
    appeared, so the caller knows to dispatch after committing. The events it records are
    inserted by one statement."""
    with repo.events_batched(session):
        _persist(ctx, session, row, workflow, actor, error, fresh)


def _persist(ctx, session, row: Instance, workflow: BpmnWorkflow, actor: str | None,
             error: dict | None, fresh: bool) -> None:
    now = ctx.clock.now()
    if error is None:
        error = sync_tasks(ctx, session, row, workflow, actor, fresh)
    new_waits = repo.replace_waits(session, row.id, _waits(workflow), now, fresh)
    repo.flag_pending_messages(session, new_waits)
    if new_waits:
        session.info["messages_to_attempt"] = True
    for event in workflow.get_events():
        if isinstance(event.event_definition, CarePathMessage):
            session.add(Message(
                name=event.event_definition.name, correlation=thrown_correlation(workflow, event),
                payload=json.loads(json.dumps(event.payload, default=str)),
                sender_instance_id=row.id, org_code=row.org_code, status="pending",
                needs_attempt=True, created_at=now))
            repo.record_event(session, now, "message_thrown", row.id, actor=actor,
                              message=event.event_definition.name)
            session.info["messages_to_attempt"] = True
    instance_id = row.id
    try:
        if not fresh:
            write_state(ctx, row, workflow)
            flag_modified(row, "state")   # always write, so the version check always runs
        _settle_status(session, row, workflow, error, actor, now)
        session.flush()
    except StaleDataError as err:
        raise Conflict(f"实例 {instance_id} 已被其他操作修改，请刷新后重试 (instance changed concurrently)") from err


def _settle_status(session, row: Instance, workflow: BpmnWorkflow, error: dict | None,
                   actor: str | None, now: datetime) -> None:
    previous = row.status
    if error is not None:
        join(session, row)          # a fresh row was inserted unattached: its change is an UPDATE
        row.status, row.error, row.wake_at = "error", {**error, "at": now.isoformat()}, None
        repo.record_event(session, now, "instance_error", row.id, actor=actor, error=error)
    elif workflow.is_completed():
        join(session, row)
        row.status, row.error, row.ended_at, row.wake_at = "completed", None, now, None
        if previous != "completed":
            repo.record_event(session, now, "instance_completed", row.id, actor=actor)
    elif previous != "running" or row.error is not None:
        # Assigned only on a change, so a fresh start that runs on has nothing to write again.
        row.status, row.error = "running", None


def write_state(ctx, row: Instance, workflow: BpmnWorkflow) -> None:
    """The workflow's state onto its row: the serialized tree (compacted: history nothing reads
    any more, so state stays bounded by what is live), its variables, its next wake-up."""
    wakes = [w for w in (pending_wake_time(t) for t in workflow.event_manager.tasks.values()) if w]
    row.wake_at = min(wakes) if wakes else None
    row.variables = current_variables(workflow)
    compact(workflow)
    row.state = ctx.serializer.state_to_bytes(workflow)
    row.state_format = STATE_FORMAT
    row.updated_at = ctx.clock.now()


MAX_VARIABLES_BYTES = 64 * 1024
_FRONTIER = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


def current_variables(workflow: BpmnWorkflow) -> dict:
    """What the instance knows now: the process data when it has ended, else the data at its
    frontier (the tasks it is waiting on), latest first wins. JSON-safe and bounded."""
    if workflow.is_completed():
        merged = dict(workflow.data)
    else:
        merged = {}
        for task in sorted(workflow.get_tasks(state=_FRONTIER), key=lambda t: t.last_state_change):
            merged.update(task.data)
    text = json.dumps(merged, default=str, ensure_ascii=False)
    if len(text.encode()) > MAX_VARIABLES_BYTES:
        return {"_truncated": True}
    return json.loads(text)


def find_task(workflow: BpmnWorkflow, spiff_task_id: str):
    return workflow.get_task_from_id(UUID(spiff_task_id))


def arm_and_fire(workflow: BpmnWorkflow, now: datetime, max_rounds: int = 100) -> tuple[list[str], dict | None]:
    """Fire every timer due at `now`, catching up on repeated cycles; the elements fired."""
    fired: list[str] = []
    for _ in range(max_rounds):
        due = {t.id: (t, pending_wake_time(t)) for t in list(workflow.event_manager.tasks.values())}
        due = {key: (t, at) for key, (t, at) in due.items() if at is not None and at <= now}
        if not due:
            break
        try:
            workflow.refresh_timers()
        except CONTENT_ERRORS as err:
            return fired, describe_error(err)
        moved = [t.task_spec.bpmn_id for t, at in due.values()
                 if not t.has_state(TaskState.WAITING) or pending_wake_time(t) != at]
        if not moved:
            break
        fired += moved
        error = advance(workflow)
        if error is not None:
            return fired, error
    return fired, None
