"""Read services for two pages: a person's journey across agencies, and one instance's diagram.

`person_journey` answers from rows alone (people, instances, events, human tasks, names): a fixed
handful of indexed queries whatever the number of events. `instance_diagram` also loads that one
instance's workflow, once, through the runtime's loader: the tables record user tasks and fired
timers, but not which gateways, start/end events, script tasks, call activities or catch events
the token passed or waits at, nor which called pathway an element belongs to. What a save
removed from a looping instance's task tree (engine.bpmn.compaction) is counted back in from the
history it kept.

What a given user may see of them — jurisdiction, tiers, consent, break-glass, the audit of the
read — is engine.records, which the web handlers call.
"""
from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.util.task import TaskState

from .bpmn.compaction import diagram_processes, history_of
from .bpmn.timers import TIMER_CLASSES, pending_wake_time
from .errors import NotFound
from .pathways import load_specs
from .runtime import instances as runtime
from .runtime.services import task_dict
from .store import journeys as repo
from .store import worklist as names_repo
from .store.runtime import ACTIVE

SYSTEM = "系统"


def is_overdue(task, now: datetime) -> bool:
    """An open or claimed task past its deadline. While its SLA clock is paused it is overdue
    only if it already was when the clock stopped (a resume moves the deadline by the pause)."""
    if task.status not in ACTIVE or task.due_at is None or now <= task.due_at:
        return False
    return task.paused_at is None or task.paused_at > task.due_at


# --- a person's journey ------------------------------------------------------------------------

def person_journey(ctx, person_id: int) -> dict:
    """The person, their instances (oldest first), one time-ordered timeline of every event of
    every instance, their open tasks (soonest deadline first) and a summary. A completion is on
    time when done by the deadline that applied then (a supervisor's extension counts); `late`
    counts the others, `overdue` the open tasks past their deadline now (see `is_overdue`)."""
    with ctx.db.unit_of_work() as session:
        person, unit = person_or_fail(session, person_id)
        return journey_of(ctx, session, person, unit)


def person_or_fail(session, person_id: int):
    found = repo.person_with_unit(session, person_id)
    if found is None:
        raise NotFound(f"人员 {person_id} 不存在")
    return found


def journey_of(ctx, session, person, unit) -> dict:
    now = ctx.clock.now()
    rows = repo.person_instances(session, person.id)
    ids = [row.id for row, _, _ in rows]
    events = repo.events_of_instances(session, ids)
    tasks = {t.id: t for t in repo.tasks_of_instances(session, ids)}
    escalations = repo.escalations_by_id(
        session, [e.detail["escalation"] for e in events if (e.detail or {}).get("escalation")])
    names = _Names(ctx, session, events, tasks.values(), escalations.values(),
                   [person.org_code, *(row.org_code for row, _, _ in rows)])
    started_by = {e.instance_id: e.detail.get("message") for e in events if e.kind == "instance_started"}
    instances = {row.id: (row, version, org) for row, version, org in rows}
    timer_names = _element_names(ctx, session, {instances[e.instance_id][0].version_id
                                                for e in events if e.kind == "timer_fired"})

    timeline = [{
        "at": person.registered_at, "kind": "person_registered", "instance": None, "process_id": None,
        "task": None, "task_name": None, "element": None, "actor": None, "actor_name": None,
        "role": None, "agency": None, "org": person.org_code, "org_name": unit.name,
        "due_at": None, "on_time": None, "level": None, "text": f"登记为服务对象（{unit.name}）"}]
    for event in events:
        row, version, _ = instances[event.instance_id]
        timeline.append(_entry(event, row, version, tasks.get(event.task_id),
                               escalations.get((event.detail or {}).get("escalation")), names,
                               timer_names.get(row.version_id, {})))
    timeline.sort(key=lambda entry: entry["at"])   # stable: events keep their recorded order

    active = sorted((t for t in tasks.values() if t.status in ACTIVE),
                    key=lambda t: (t.due_at is None, t.due_at or now, t.id))
    completed = [t for t in tasks.values() if t.status == "completed"]
    return {
        "person": {"id": person.id, "ref": person.ref, "name": person.name, "gender": person.gender,
                   "birth_date": person.birth_date, "org": person.org_code, "org_name": unit.name,
                   "registered_at": person.registered_at},
        "instances": [{
            "instance": row.id, "process_id": row.process_id, "pathway_name": version.name or row.process_id,
            "version": version.version, "status": row.status, "started_at": row.started_at,
            "ended_at": row.ended_at, "org": row.org_code, "org_name": org.name,
            "started_by_message": bool(started_by.get(row.id)), "parent": row.parent_instance_id,
            "error": row.error} for row, version, org in rows],
        "timeline": timeline,
        "current_tasks": [{**task_dict(t), "overdue": is_overdue(t, now)} for t in active],
        "summary": {"completed": len(completed),
                    "late": sum(1 for t in completed if _on_time(t) is False),
                    "open": len(active), "overdue": sum(1 for t in active if is_overdue(t, now))},
    }


def _on_time(task) -> bool | None:
    if task.due_at is None or task.completed_at is None:
        return None
    return task.completed_at <= task.due_at


class _Names:
    """Display names for every org unit, role and user a journey mentions, in one query each."""

    def __init__(self, ctx, session, events, tasks, escalations, org_codes):
        tasks, escalations = list(tasks), list(escalations)
        details = [e.detail or {} for e in events]
        self.ctx = ctx
        self.orgs = names_repo.org_names(session, [*org_codes, *(t.org_code for t in tasks),
                                             *(e.org_code for e in escalations),
                                             *(d.get("org") for d in details), *(d.get("to_org") for d in details)])
        self.roles = names_repo.role_names(session, [*(t.role_code for t in tasks), *(e.role_code for e in escalations),
                                               *(d.get("role") for d in details)])
        self.users = names_repo.user_names(session, [*(e.actor for e in events), *(d.get("to_user") for d in details)])

    def user(self, username: str | None) -> str:
        return self.users.get(username, username) if username else SYSTEM

    def time(self, instant: datetime | str | None) -> str:
        if isinstance(instant, str):
            instant = datetime.fromisoformat(instant)
        return self.ctx.clock.local(instant).strftime("%Y-%m-%d %H:%M") if instant else "无"


def _entry(event, row, version, task, escalation, names: _Names, timer_names: dict) -> dict:
    detail = event.detail or {}
    role = org = due = None
    if event.kind == "task_created":
        role, org, due = detail.get("role"), detail.get("org"), _instant(detail.get("due_at"))
    elif escalation is not None:
        role, org, due = escalation.role_code, escalation.org_code, escalation.due_at
    elif task is not None:
        role, org, due = task.role_code, task.org_code, task.due_at
        if event.kind == "task_reassigned":
            org = detail.get("to_org") or org
    if detail.get("new"):   # deadline_extended, sla_resumed, deadline_recomputed
        due = _instant(detail["new"])
    org = org or row.org_code
    element = detail.get("element") or (task.element if task is not None else None) \
        or (detail.get("error") or {}).get("element")
    entry = {
        "at": event.at, "kind": event.kind, "instance": row.id, "process_id": row.process_id,
        "task": event.task_id, "task_name": task.name if task is not None else None, "element": element,
        "actor": event.actor, "actor_name": names.users.get(event.actor) if event.actor else None,
        "role": role, "agency": role.split(".", 1)[0] if role else None,
        "org": org, "org_name": names.orgs.get(org), "due_at": due,
        "on_time": _on_time(task) if event.kind == "task_completed" and task is not None else None,
        "level": detail.get("level") or (escalation.level if escalation is not None else None),
    }
    entry["text"] = _text(entry, detail, version.name or row.process_id, names,
                          timer_names.get(element) or element)
    return entry


def _instant(value) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _short(text, limit: int = 60) -> str:
    text = str(text or "").strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _text(entry: dict, detail: dict, pathway: str, names: _Names, element_name: str | None) -> str:
    """A short Chinese sentence for the timeline."""
    kind, who, level, due = entry["kind"], names.user(entry["actor"]), entry["level"], entry["due_at"]
    name = f"「{entry['task_name']}」" if entry["task_name"] else "任务"
    unit = entry["org_name"] or entry["org"]
    where = f"{names.roles.get(entry['role'], entry['role'] or '')}（{unit}）"
    if kind == "instance_started":
        by = f"收到消息「{detail['message']}」，" if detail.get("message") else ""
        return f"{by}开始「{pathway}」（{unit}）"
    if kind == "task_created":
        return f"新任务{name}：{where}办理，" + (f"截止 {names.time(due)}" if due else "无截止时间")
    if kind == "escalation_raised":
        return f"{name}已到截止时间，提醒{where}" if level == 1 else f"{name}超期，{level} 级督办：{where}"
    if kind == "escalation_acknowledged":
        return f"{who} 确认 {level} 级督办" + (f"：{_short(detail['note'])}" if detail.get("note") else "")
    if kind == "task_reassigned":
        target = names.user(detail["to_user"]) if detail.get("to_user") else unit
        return f"{who} 将{name}改派给 {target}：{_short(detail.get('reason'))}"
    texts = {
        "instance_completed": f"「{pathway}」结束",
        "instance_error": f"「{pathway}」出错：{_short((detail.get('error') or {}).get('message'))}",
        "instance_retried": f"{who} 重试「{pathway}」",
        "instance_cancelled": f"{who} 取消「{pathway}」：{_short(detail.get('reason'))}",
        "task_claimed": f"{who} 认领{name}",
        "task_released": f"{who} 退回{name}",
        "task_completed": f"{who} 完成{name}" + {True: "（按时）", False: "（超期）", None: ""}[entry["on_time"]],
        "task_cancelled": f"{name}取消（路径已转向）",
        "timer_fired": f"定时事件「{element_name}」触发",
        "message_thrown": f"发出消息「{detail.get('message')}」",
        "message_delivered": f"收到消息「{detail.get('message')}」",
        "escalation_note": f"{who} 督办备注：{_short(detail.get('note'))}",
        "deadline_extended": f"{who} 将{name}截止时间延至 {names.time(due)}：{_short(detail.get('reason'))}",
        "sla_paused": f"{who} 暂停{name}计时：{_short(detail.get('reason'))}",
        "sla_resumed": f"{who} 恢复{name}计时，截止时间 {names.time(due)}",
        "deadline_recomputed": f"{name}截止时间按新日历调整为 {names.time(due)}",
    }
    return texts.get(kind, kind)


def _element_names(ctx, session, version_ids) -> dict[int, dict[str, str]]:
    """Element id → name per version, from the cached specs (only versions that need it)."""
    found = {}
    for version_id in version_ids:
        spec, subprocess_specs = load_specs(ctx, session, version_id)
        names: dict[str, str] = {}
        for process in (*subprocess_specs.values(), spec):   # the version's own names win
            names.update({ts.bpmn_id: ts.bpmn_name for ts in process.task_specs.values()
                          if getattr(ts, "bpmn_id", None) and getattr(ts, "bpmn_name", None)})
        found[version_id] = names
    return found


# --- one instance's diagram --------------------------------------------------------------------

_RANK = {"cancelled": 1, "completed": 2, "error": 3, "active": 4}


def instance_diagram(ctx, instance_id: int) -> dict:
    """The BPMN deployed with the instance's version and where the instance is on it:
    `markers` {completed, active, overdue, error} and `elements` for its own process, the same per
    process id under `markers_by_process` / `elements_by_process` / `xml_by_process` for the
    pathways it called (call activities run inside this instance, so their elements are reported
    under the called process id). `overdue` ⊆ `active`. `parent` / `children`: the instance whose
    message started this one, and those this one's messages started."""
    with ctx.db.unit_of_work() as session:
        row, unit = instance_or_fail(session, instance_id)
        return diagram_of(ctx, session, row, unit, repo.tasks_of_instances(session, [row.id]))


def instance_or_fail(session, instance_id: int):
    found = repo.instance_with_unit(session, instance_id)
    if found is None:
        raise NotFound(f"实例 {instance_id} 不存在")
    return found


def diagram_of(ctx, session, row, unit, tasks) -> dict:
    now = ctx.clock.now()
    version, source = repo.version_with_source(session, row.version_id)
    _, workflow = runtime.load(ctx, session, row.id)
    fired: dict[str, datetime] = {}
    for event in repo.timer_events(session, row.id):
        fired[event.detail.get("element")] = event.at
    process_of = diagram_processes(workflow)
    history = history_of(workflow)
    elements: dict[str, dict[str, dict]] = {process_id: {} for process_id in {*process_of.values(), *history}}
    for key, sub in [(None, workflow), *workflow.subprocesses.items()]:
        for task in sub.tasks.values():
            state = _state(task)
            if state is not None and task.task_spec.bpmn_id:
                _merge(elements[process_of[key]], task, state, fired)
    _merge_history(elements, history, {workflow.spec.name: workflow.spec, **workflow.subprocess_specs}, fired)
    by_spiff_id = {str(t.id): t for sub in (workflow, *workflow.subprocesses.values()) for t in sub.tasks.values()}
    for human in sorted(tasks, key=lambda t: (t.status in ACTIVE, t.id)):   # the latest active one wins
        spiff = by_spiff_id.get(human.spiff_task_id)
        process_id = process_of[_key(spiff)] if spiff is not None \
            else _process_having(elements, human.element, row.process_id)
        element = elements.setdefault(process_id, {}).setdefault(human.element, {
            "name": human.name, "type": "User Task", "state": "cancelled", "count": 0})
        element.update(task=human.id, status=human.status, due_at=human.due_at, completed_at=human.completed_at,
                       by=human.completed_by, assignee=human.assignee)
        if element["state"] == "active" and is_overdue(human, now):
            element["state"] = "overdue"
    xml = {row.process_id: source_text(source.content)}
    for process_id in elements:
        if process_id not in xml:
            called = repo.called_version_with_source(session, process_id, version)
            xml[process_id] = source_text(called[1].content) if called is not None else None
    markers = {process_id: _markers(found) for process_id, found in elements.items()}
    return {
        "instance": row.id, "process_id": row.process_id, "pathway_name": version.name or row.process_id,
        "version": version.version, "status": row.status, "error": row.error, "org": row.org_code,
        "org_name": unit.name, "person_id": row.person_id, "started_at": row.started_at,
        "ended_at": row.ended_at, "now": now,
        "xml": xml[row.process_id], "markers": markers[row.process_id], "elements": elements[row.process_id],
        "markers_by_process": markers, "elements_by_process": elements, "xml_by_process": xml,
        "parent": row.parent_instance_id,
        "children": repo.child_instance_ids(session, row.id, row.person_id),
    }


def _key(task):
    """The subprocess a task runs in (None: the instance's own workflow)."""
    return task.workflow.parent_task_id


def _kind(spec) -> str:
    """The element kind as the parser described it from the BPMN ("User Task", "Call Activity",
    "Subprocess", "Interrupting Timer Boundary Event"...; "Default" = no event definition)."""
    kind = getattr(spec, "description", None) or type(spec).__name__
    return kind.removeprefix("Default ")


def _state(task) -> str | None:
    if task.has_state(TaskState.ERROR):
        return "error"
    if task.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED):
        return "active"
    if task.has_state(TaskState.COMPLETED):
        return "completed"
    if task.has_state(TaskState.CANCELLED):
        return "cancelled"
    return None   # predicted (FUTURE, LIKELY, MAYBE): not reached


def _merge(found: dict, task, state: str, fired: dict) -> None:
    spec = task.task_spec
    element = found.setdefault(spec.bpmn_id, {"name": spec.bpmn_name, "type": _kind(spec),
                                              "state": state, "count": 0, "due_at": None,
                                              "completed_at": None, "by": None})
    if _RANK[state] > _RANK[element["state"]]:
        element["state"] = state
    if state == "completed":
        element["count"] += 1
    if isinstance(getattr(spec, "event_definition", None), TIMER_CLASSES):
        element["due_at"] = pending_wake_time(task) or element["due_at"]   # when it fires next
        element["completed_at"] = fired.get(spec.bpmn_id)                   # when it last fired


def _merge_history(elements: dict, history: dict, specs: dict, fired: dict) -> None:
    """Add what compaction removed from the task tree (engine.bpmn.compaction): per element, how
    often it completed and whether it was cancelled. An element the instance's current version
    no longer has (a migration removed it) is left out, as its tasks are."""
    for process_id, found in history.items():
        for bpmn_id, past in found.items():
            spec = _element_spec(specs.get(past.get("spec")), bpmn_id)
            if spec is None:
                continue
            state = "completed" if past.get("completed") else "cancelled" if past.get("cancelled") else None
            if state is None:
                continue
            element = elements[process_id].setdefault(bpmn_id, {
                "name": spec.bpmn_name, "type": _kind(spec), "state": state, "count": 0, "due_at": None,
                "completed_at": None, "by": None})
            if _RANK[state] > _RANK[element["state"]]:
                element["state"] = state
            element["count"] += past.get("completed", 0)
            if isinstance(getattr(spec, "event_definition", None), TIMER_CLASSES):
                element["completed_at"] = fired.get(bpmn_id)


def _element_spec(process, bpmn_id: str):
    if process is None:
        return None
    spec = process.task_specs.get(bpmn_id)
    if spec is not None and getattr(spec, "bpmn_id", None) == bpmn_id:
        return spec
    return next((ts for ts in process.task_specs.values() if getattr(ts, "bpmn_id", None) == bpmn_id), None)


def _process_having(elements: dict, element: str, default: str) -> str:
    """The diagram a human task's element is on when compaction removed its workflow task: the
    one process that has the element, else the instance's own."""
    having = sorted(process_id for process_id, found in elements.items() if element in found)
    return having[0] if len(having) == 1 else default


def _markers(elements: dict) -> dict:
    def having(*states):
        return sorted(e for e, info in elements.items() if info["state"] in states)
    return {"completed": having("completed"), "active": having("active", "overdue"),
            "overdue": having("overdue"), "error": having("error")}


def source_text(content: bytes) -> str:
    return content.decode("utf-8-sig")
