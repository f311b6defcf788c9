"""One workflow's tokens against another version of its pathway: where each lands, and moving
them (SpiffWorkflow level, no database). `engine/migration.py` says what the rules are and runs
them per instance inside a unit of work."""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.diff import migrate_workflow
from SpiffWorkflow.util.task import TaskState

from ..bpmn.compaction import splice
from ..bpmn.timers import TIMER_CLASSES, pending_wake_time
from ..bpmn.versiondiff import spec_changes
from . import instances as runtime

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
RESET = TaskState.READY | TaskState.WAITING | TaskState.ERROR


@dataclass(frozen=True)
class TokenContext:
    registry: object
    version: int                  # the target version's number
    local: object                 # instant → deployment time zone
    open_tasks: dict              # spiff task id → open task row id
    changed_forms: frozenset      # form keys whose definition differs in the target version


_OWNER = {"camunda:candidateGroups", "camunda:candidateUsers", "camunda:assignee", "泳道", "属性 orgLevel"}


def _workflows(workflow):
    return [(None, workflow), *workflow.subprocesses.items()]


def _kind(spec) -> str:
    if getattr(spec, "manual", False):
        return "任务"
    if isinstance(getattr(spec, "event_definition", None), TIMER_CLASSES):
        return "定时事件"
    return "子流程" if isinstance(spec, SubWorkflowTask) else "环节"


def tokens(workflow, top_diff, sub_diffs, context: TokenContext) -> tuple[list, list]:
    """(one dict per active token, reasons to refuse)."""
    tokens, reasons, version = [], [], context.version
    for key, sub in _workflows(workflow):
        diff = top_diff if key is None else sub_diffs.get(key)
        if diff is None and workflow.get_task_from_id(key).has_state(ACTIVE):
            reasons.append(f"正在运行的子流程「{sub.spec.name}」在版本 {version} 中不存在")
        for task in sub.get_tasks(state=ACTIVE, skip_subprocesses=True):
            spec = task.task_spec
            if not spec.bpmn_id:
                continue   # engine-internal tasks (joins, boundary splits) follow their elements
            lands = diff.alignment.get(task) if diff is not None else None
            label = f"{_kind(spec)} {spec.bpmn_id}（{spec.bpmn_name or spec.bpmn_id}）"
            changed = spec_changes(context.registry, spec, lands) if lands is not None else []
            if lands is None:
                reasons.append(f"{label}在版本 {version} 中不存在，令牌无处可去")
            elif isinstance(spec, SubWorkflowTask) and getattr(spec, "spec", None) != getattr(lands, "spec", None):
                reasons.append(f"{label}调用的路径由 {spec.spec} 改为 {lands.spec}，正在运行的子流程无法迁移")
            tokens.append({
                "process": sub.spec.name, "element": spec.bpmn_id, "element_name": spec.bpmn_name,
                "state": TaskState.get_name(task.state), "task": context.open_tasks.get(str(task.id)),
                "lands_on": lands.bpmn_id if lands is not None else None,
                "lands_on_name": lands.bpmn_name if lands is not None else None,
                "changed": changed, "note": _note(task, lands, changed, context)})
    return tokens, reasons


def _note(task, lands, changed: list[str], context: TokenContext) -> str:
    version, spec = context.version, task.task_spec
    if lands is None:
        return f"版本 {version} 中没有对应的元素"
    notes = []
    if task.has_state(TaskState.ERROR):
        notes.append(f"出错的步骤将按版本 {version} 重新执行")
    elif task.has_state(TaskState.READY) and spec.manual:
        notes.append("待办任务保留原办理人、认领和截止时间")
        if any(c in _OWNER for c in changed):
            notes.append(f"办理人规则已修改：迁移后新产生的任务按版本 {version} 分派")
        if "camunda:dueDate" in changed:
            notes.append(f"时限已修改：迁移后新产生的任务按版本 {version} 计算截止时间")
        form_key = (getattr(lands, "extensions", None) or {}).get("formKey")
        if "camunda:formKey" in changed or form_key in context.changed_forms:
            notes.append(f"表单已修改：提交时按版本 {version} 的表单校验")
    elif task.has_state(TaskState.WAITING) and isinstance(getattr(spec, "event_definition", None), TIMER_CLASSES):
        due = pending_wake_time(task)
        if "定时器" in changed:
            notes.append("定时器定义已修改：迁移时按新定义重新计时")
        else:
            notes.append(f"定时器保持原定触发时间 {context.local(due).strftime('%Y-%m-%d %H:%M')}"
                         if due is not None else "定时器保持原定设置")
    elif task.has_state(TaskState.WAITING):
        notes.append("事件定义已修改：迁移时重新开始等待" if "事件定义" in changed else "继续等待")
    elif task.has_state(TaskState.STARTED) and isinstance(spec, SubWorkflowTask):
        notes.append(f"被调用的路径一并迁移到版本 {version} 部署时所带的版本"
                     if getattr(spec, "description", None) == "Call Activity" else "子流程内的令牌一并迁移")
    if changed and not notes:
        notes.append("已修改：" + "、".join(changed))
    return "；".join(notes)


class Unsafe(Exception):
    pass


def move(ctx, workflow, top_diff, sub_diffs, new_spec, new_subprocess_specs):
    """Migrate the workflow in memory; return it as restored from its serialized state against
    the target specs, so nothing stale in memory survives and a state that would not load again
    is caught here."""
    registry = ctx.serializer.registry
    kept = {task.id: (deepcopy(task.data), deepcopy(task.internal_data))
            for _, sub in _workflows(workflow) for task in sub.get_tasks(state=RESET, skip_subprocesses=True)}
    same = {task.id for key, _ in _workflows(workflow)
            for task, new in _alignment(top_diff if key is None else sub_diffs.get(key))
            if task.id in kept and _waits_for_the_same(registry, task.task_spec, new)}
    try:
        workflow.subprocess_specs = dict(new_subprocess_specs)
        migrate_workflow(top_diff, workflow, new_spec, reset_mask=RESET)
        for key, sub in list(workflow.subprocesses.items()):
            if key not in workflow.subprocesses:
                continue   # dropped with its parent
            if sub_diffs.get(key) is None:
                _drop_subprocess(workflow, key)
            else:
                migrate_workflow(sub_diffs[key], sub, new_subprocess_specs[sub.spec.name], reset_mask=RESET)
        for _, sub in _workflows(workflow):
            for task in sub.get_tasks(state=RESET | TaskState.FUTURE, skip_subprocesses=True):
                if task.id in kept:   # reset_branch cleared these: give a waiting token back what it had
                    task.data = kept[task.id][0]
                    if task.id in same:
                        task.internal_data = kept[task.id][1]
            _prune_stale(workflow, sub)
    except runtime.CONTENT_ERRORS as err:
        raise Unsafe(runtime.describe_error(err)["message"]) from err
    _check_specs(workflow)
    state = ctx.serializer.state_to_bytes(workflow)
    try:
        restored = ctx.serializer.state_from_bytes(state, new_spec, new_subprocess_specs, workflow.script_engine)
    except (KeyError, AttributeError, TypeError, ValueError) as err:
        raise Unsafe(f"迁移后的状态无法恢复（{type(err).__name__}: {err}）") from err
    _check_specs(restored)
    return restored


def _alignment(diff):
    return diff.alignment.items() if diff is not None else ()


def _waits_for_the_same(registry, old, new) -> bool:
    """Whether a token's element still means the same wait (timer, message, owner...), so the
    token keeps what it was armed with."""
    if new is None or type(old) is not type(new):
        return False
    before, after = registry.convert(old), registry.convert(new)
    if any(before.get(k) != after.get(k) for k in ("event_definition", "typename", "cancel_activity")):
        return False
    return {k: v for k, v in (before.get("extensions") or {}).items() if k != "line"} == \
        {k: v for k, v in (after.get("extensions") or {}).items() if k != "line"}


def _current(sub, task) -> bool:
    return sub.spec.task_specs.get(task.task_spec.name) is task.task_spec


def _drop_subprocess(workflow, key) -> None:
    """A finished sub-process whose spec the target version lacks (its call activity was
    removed): its history goes with it."""
    parent = workflow.get_task_from_id(key)
    if parent.has_state(ACTIVE):
        raise Unsafe(f"正在运行的子流程 {workflow.subprocesses[key].spec.name} 在目标版本中不存在")
    workflow.delete_subprocess(parent)


def _prune_stale(workflow, sub) -> None:
    """Tasks whose element the target version lacks: predicted ones are dropped (and their
    parent's paths predicted again), finished ones are spliced out of the history."""
    repredict = []
    for task in list(sub.tasks.values()):
        if task.id not in sub.tasks or _current(sub, task):
            continue
        if task.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE):
            repredict.append(task.parent)
            sub._remove_task(task.id)
        elif task.has_state(TaskState.COMPLETED | TaskState.CANCELLED):
            _splice(workflow, sub, task)
        else:
            raise Unsafe(f"元素 {task.task_spec.bpmn_id or task.task_spec.name} 仍在运行，但目标版本中没有它")
    for parent in repredict:
        if parent is not None and parent.id in sub.tasks and parent.has_state(TaskState.NOT_FINISHED_MASK):
            parent.task_spec._predict(parent, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)


def _splice(workflow, sub, task) -> None:
    """Remove a finished task from the tree, its children taking its place under its parent."""
    if task.parent is None:
        raise Unsafe(f"元素 {task.task_spec.name} 是流程的起点")
    splice(workflow, sub, task)


def _check_specs(workflow) -> None:
    for _, sub in _workflows(workflow):
        for task in sub.tasks.values():
            if task.task_spec is None or not _current(sub, task):
                name = task.task_spec.name if task.task_spec is not None else "?"
                raise Unsafe(f"元素 {name} 在目标版本中没有对应")
