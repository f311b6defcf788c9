"""The modeler's dry run: walk a pathway draft through the engine without writing anything.

An analyst picks a start time, an org unit and the variables each task would submit; the draft
(the saved one, else the newest deployed source) is parsed in memory and run on the engine's own
clock and calendar. Each user task is routed exactly as `engine.runtime.routing` would route it
(role, org unit, due date, follow-up), then done at once or at its deadline, the clock moving with
it; waiting timers are jumped to and fired. The walk stops at the end, at a content error (shown
with its element, so the analyst can add the missing variable and run again), when only messages
are awaited, or after `max_steps`. No instance, task or event row is ever written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from . import workspace
from .bpmn.messages import CarePathMessage
from .bpmn.parser import CarePathParser
from .bpmn.timers import pending_wake_time
from .bpmn.validate_companions import read_decisions
from .bpmn.xmlsafe import UnsafeXmlError, parse_xml
from .errors import InvalidInput, NotFound
from .pathways import add_called_sources
from .runtime.instances import CONTENT_ERRORS, advance, arm_and_fire, describe_error, message_definitions
from .runtime.routing import Directory, build_human_task
from .runtime.services import check_data
from .store import directory as directory_repo
from .store import worklist as worklist_repo

PACES = ("at_once", "at_deadline")
MAX_STEPS = 200
START_LEVELS = ("village", "township")


@dataclass
class Step:
    """One thing the walk saw: a task routed, a timer fired, a message awaited or thrown, the
    end, or an error. `at` is when it happened on the moved clock; a task's `done_at` is when the
    walk completed it (None if it never did, e.g. a timer interrupted it)."""
    n: int
    at: datetime
    element: str
    name: str
    kind: str                     # "task" | "timer" | "message" | "end" | "error"
    role: str | None = None
    role_name: str | None = None
    org: str | None = None
    org_name: str | None = None
    due_at: datetime | None = None
    follow_up_at: datetime | None = None
    done_at: datetime | None = None
    note: str = ""


@dataclass
class DryRun:
    process_id: str
    revision: int                 # the draft revision walked; 0: the newest deployed source
    start: datetime
    org: str
    org_name: str
    pace: str
    max_steps: int
    steps: list[Step] = field(default_factory=list)
    outcome: str = ""             # "completed" | "error" | "message" | "max_steps" | "stuck"
    note: str = ""


def start_units(ctx, username: str) -> list[dict]:
    """The village and township units the analyst's grants cover, in tree order, to start from."""
    with ctx.db.unit_of_work() as session:
        actor = workspace.require_analyst(session, username)
        paths = sorted({path for role, path in actor.grants if role == "admin.analyst"})
        units = worklist_repo.org_units_under(session, paths)
    return [{"code": u.code, "name": u.name, "level": u.level} for u in units if u.level in START_LEVELS]


def _checked(pace: str, max_steps: int, variables) -> dict:
    if pace not in PACES:
        raise InvalidInput(f"办理节奏 {pace!r} 无效：应为 at_once 或 at_deadline")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= MAX_STEPS:
        raise InvalidInput(f"最大步数应在 1 到 {MAX_STEPS} 之间")
    if not isinstance(variables, dict):
        raise InvalidInput("变量应是一个 JSON 对象，例如 {\"phq9_score\": 14}")
    return check_data(variables)


def _parse(ctx, session, process_id: str, data: bytes) -> tuple:
    """(spec, subprocess specs) of a draft, parsed in memory with the decision tables the
    workspace checks it with and the deployed pathways it calls."""
    max_bytes = ctx.settings.max_bpmn_bytes
    filename = f"{process_id}.bpmn"
    decisions, problems = read_decisions(workspace.decisions_for(session, process_id), max_bytes)
    if problems:
        raise InvalidInput(f"决策表有问题，无法演练：{problems[0].message}")
    try:
        tree = parse_xml(data, filename, max_bytes)
        parser = CarePathParser()
        for dmn_file, root in decisions.roots():
            parser.add_dmn_xml(root, dmn_file)
        parser.add_bpmn_xml(tree, filename)
        add_called_sources(session, parser, {process_id}, max_bytes)
        return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)
    except UnsafeXmlError as err:
        raise InvalidInput(f"{filename} 第 {err.line or '?'} 行: {err.message}") from None
    except (ValidationException, SpiffWorkflowException) as err:
        raise InvalidInput(f"草稿无法解析，请先在编辑器中修正问题：{err}") from None


def _names(spec, subprocess_specs: dict) -> dict[str, str]:
    names = {}
    for process in (*subprocess_specs.values(), spec):
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                names[bpmn_id] = getattr(task_spec, "bpmn_name", None) or bpmn_id
    return names


def _local(ctx, moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ctx.clock.tz)


class _Walk:
    """One dry run in progress: the workflow, the moved clock and the steps recorded."""

    def __init__(self, ctx, session, run: DryRun, org_path: str, names: dict[str, str], variables: dict):
        self.ctx, self.run, self.org_path, self.names, self.variables = ctx, run, org_path, names, variables
        self.directory = Directory(session)
        self.row = SimpleNamespace(id=None, org_code=run.org, process_id=run.process_id)
        self.now = run.start
        self.open: dict = {}      # spiff task id → (task, its step), routed but not yet done
        self.seen: set = set()

    def at(self, moment: datetime, workflow: BpmnWorkflow) -> None:
        """Move the clock; the workflow's scripts, timers and working days follow it."""
        self.now = max(self.now, moment)
        workflow.script_engine = self.ctx.at(self.now).script_engine(self.org_path)

    def add(self, **values) -> Step:
        step = Step(n=len(self.run.steps) + 1, at=self.now, **values)
        self.run.steps.append(step)
        return step

    def full(self) -> bool:
        return len(self.run.steps) >= self.run.max_steps

    def error(self, detail: dict) -> None:
        element = detail.get("element") or "-"
        self.add(element=element, name=detail.get("element_name") or self.names.get(element, element),
                 kind="error", note=detail["message"])
        self.run.outcome = "error"

    def route_new_tasks(self, workflow: BpmnWorkflow) -> bool:
        """Record every newly READY user or manual task as the engine would route it; False on
        a routing error (recorded)."""
        roles, _ = self.directory.roles()
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            if task.id in self.seen or self.full():
                continue
            self.seen.add(task.id)
            try:
                human = build_human_task(task, self.row, self.directory, self.ctx.at(self.now))
            except CONTENT_ERRORS as err:
                self.error(describe_error(err, task))
                return False
            unit = self.directory.unit(human.org_code)
            notes = []
            if human.assignee:
                notes.append(f"指定办理人 {human.assignee}")
            if len(human.candidate_roles or ()) > 1:
                notes.append("候选角色 " + "、".join(human.candidate_roles))
            if human.candidate_users:
                notes.append("候选用户 " + "、".join(human.candidate_users))
            if human.due_provisional:
                notes.append(f"截止时间按暂定日历计算（{human.due_source}）")
            step = self.add(element=human.element, name=human.name, kind="task", role=human.role_code,
                            role_name=roles.get(human.role_code) if human.role_code else None,
                            org=human.org_code, org_name=unit.name if unit is not None else None,
                            due_at=human.due_at, follow_up_at=human.follow_up_at, note="；".join(notes))
            self.open[task.id] = (task, step)
        return True

    def thrown_messages(self, workflow: BpmnWorkflow) -> None:
        for event in workflow.get_events():
            definition = event.event_definition
            if isinstance(definition, CarePathMessage) and not self.full():
                self.add(element="-", name=definition.name, kind="message",
                         note=f"发出消息「{definition.name}」（演练中不投递）")

    def next_task(self):
        """The routed task done next and when: in routing order at once, or the earliest
        deadline first."""
        ready = [(task, step) for task, step in self.open.values() if task.has_state(TaskState.READY)]
        self.open = {task.id: (task, step) for task, step in ready}
        if not ready:
            return None, None
        if self.run.pace == "at_once":
            task, step = ready[0]
            return (task, step), self.now
        task, step = min(ready, key=lambda pair: (pair[1].due_at or self.now, pair[1].n))
        return (task, step), max(self.now, step.due_at or self.now)

    def complete(self, workflow: BpmnWorkflow, task, step: Step, moment: datetime) -> dict | None:
        self.at(moment, workflow)
        del self.open[task.id]
        task.data.update(self.variables)
        step.done_at = self.now
        try:
            task.run()
        except CONTENT_ERRORS as err:
            return describe_error(err, task)
        return advance(workflow)

    def fire_timers(self, workflow: BpmnWorkflow, wake: datetime) -> dict | None | bool:
        self.at(wake, workflow)
        fired, error = arm_and_fire(workflow, self.now)
        for element in fired:
            if not self.full():
                self.add(element=element, name=self.names.get(element, element), kind="timer",
                         note="定时器到时触发")
        if error is None and not fired:
            return False
        return error


def _waiting_messages(workflow: BpmnWorkflow) -> list[tuple[str, str]]:
    found = []
    for task in list(workflow.event_manager.tasks.values()):
        if task.has_state(TaskState.WAITING):
            found += [(task.task_spec.bpmn_id, d.name) for d in message_definitions(task)]
    return found


def _next_wake(workflow: BpmnWorkflow) -> datetime | None:
    wakes = [w for w in (pending_wake_time(t) for t in list(workflow.event_manager.tasks.values())) if w]
    return min(wakes) if wakes else None


def _walk(walk: _Walk, workflow: BpmnWorkflow, error: dict | None) -> None:
    run = walk.run
    while True:
        if error is not None:
            walk.error(error)
            return
        walk.thrown_messages(workflow)
        if not walk.route_new_tasks(workflow):
            return
        if workflow.is_completed():
            if not walk.full():
                walk.add(element="-", name="流程结束", kind="end", note="所有路径均已走完")
                run.outcome = "completed"
                return
        if walk.full():
            run.outcome = "max_steps"
            run.note = f"已达最大步数 {run.max_steps}，演练停止（流程可能在循环，或需要更多步数）"
            return
        pending, done_at = walk.next_task()
        wake = _next_wake(workflow)
        if pending is not None and (wake is None or done_at <= max(wake, walk.now)):
            error = walk.complete(workflow, *pending, done_at)
            continue
        if wake is not None:
            result = walk.fire_timers(workflow, wake)
            if result is False:
                run.outcome, run.note = "stuck", "定时器未能触发，演练停止"
                return
            error = result
            continue
        messages = _waiting_messages(workflow)
        if messages:
            element, name = messages[0]
            names = "、".join(dict.fromkeys(m for _, m in messages))
            walk.add(element=element, name=walk.names.get(element, element), kind="message",
                     note=f"等待消息「{names}」：演练不模拟其他路径，到此为止")
            run.outcome = "message"
            return
        run.outcome, run.note = "stuck", "没有待办任务、定时器或消息，流程却未结束"
        return


def dry_run(ctx, username: str, process_id: str, start: datetime, org_code: str, variables: dict,
            pace: str = "at_once", max_steps: int = 40) -> DryRun:
    """Walk the pathway's draft (else its newest deployed source) from `start` at `org_code`,
    every task done with `variables` at once or at its deadline; nothing is written."""
    variables = _checked(pace, max_steps, variables)
    start = _local(ctx, start)
    org_code = (org_code or "").strip()
    with ctx.db.unit_of_work() as session:
        workspace.require_analyst(session, username)
    data, revision = workspace.pathway_source(ctx, username, process_id)
    with ctx.db.unit_of_work() as session:
        unit = directory_repo.org_unit(session, org_code)
        if unit is None:
            raise NotFound(f"机构 {org_code} 不存在")
        spec, subprocess_specs = _parse(ctx, session, process_id, data)
        run = DryRun(process_id, revision, start, unit.code, unit.name, pace, max_steps)
        walk = _Walk(ctx, session, run, unit.path, _names(spec, subprocess_specs), variables)
        workflow = BpmnWorkflow(spec, subprocess_specs,
                                script_engine=ctx.at(start).script_engine(unit.path))
        workflow.task_tree.data.update(variables)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
        ctx.policy()           # read once here, shared by the moved clocks' contexts
        _walk(walk, workflow, advance(workflow))
        session.rollback()     # read only: nothing of the walk may reach the database
    return run
