"""Keeping a long-lived instance's task tree bounded by what is live (state compaction).

SpiffWorkflow 3.2 keeps every task it ever ran, each with its data, so a pathway that loops (a
weekly visit, a review repeated until stable) grows its state and every load → run → save with it
(past ~100 rounds of a loop with a parallel join Spiff even recurses too deep to run). `compact`
runs before each save (`engine.runtime.instances.persist`) and removes history nothing reads.

What is removed, per workflow (the instance's own and each running sub-process), per branch of
its root (the main start event, an event sub-process started by a timer or a message):
* Let P be the deepest finished task that is an ancestor of every live task of the branch (live:
  READY, WAITING, STARTED, ERROR, or predicted FUTURE/LIKELY/MAYBE; not the end join waiting
  after a branch that reached an end event while the rest goes on: that branch stays where it
  hangs, and `_EndJoin._check_threshold_unstructured` looks for unfinished tasks anywhere).
  Going up from P to the branch's start task, a finished task is spliced out of the chain when
  its element runs again further down (a task of the same spec below it, finished or not,
  predicted LIKELY/MAYBE ones aside), and a finished side branch hanging off the chain (a
  cancelled boundary timer, the other arm of a parallel region that already merged) is dropped
  when every element in it runs again further down and no pending join counts it (below). Sub-processes of removed call activities
  and sub-processes go with them (`BpmnWorkflow.delete_subprocess`). So a loop keeps about one
  round of history, and a pathway that does not loop keeps all of it: it is bounded by the
  pathway's size, and whatever reads "which end event was reached, which task ran" still sees
  the latest run of each element.
* Each removed COMPLETED or CANCELLED task is counted in the root task's internal data:
  {"carepath_history": {diagram process id: {bpmn_id: {"completed": n, "cancelled": n,
  "last": wall-clock ISO time of its last state change, "spec": the process spec it ran in}}}}.
  `engine.journeys.diagram_of` adds these counts, so the diagram is the same after compaction.

What is kept, and the SpiffWorkflow 3.2 code that reads it:
* The root (`Workflow.task_tree`) and its children, the start tasks: the serializer restores from
  the root, `BpmnProcessSpec.path_complete` walks `task_tree.children`, `CallActivity.copy_data`
  finds the sub-process's `Start`; the root carries the history.
* P, every live task and everything below P. A waiting task takes its parent's data again at each
  update (`TaskSpec._update_hook` → `Task._inherit_data`), a reset one copies it
  (`Task.reset_branch`, used by `migrate_workflow`), so no live task's parent changes. Below P lie
  the regions pending joins count: `ParallelGateway._check_threshold_unstructured` and
  `InclusiveGateway._check_threshold_unstructured` read sibling join tasks and their parents'
  states, `UnstructuredJoin._run_hook` merges their parents' data, `BoundaryEventJoin` and
  `StartEventJoin` find their split (`Task.find_ancestor`) and read its children, multi-instance
  and loop tasks read their instance children, `EventBasedGateway._run_hook` its own children.
* A finished side branch a join may still count: one holding a finished task of an unstructured
  join (parallel, inclusive, or the process's end join) that no COMPLETED task of the same join
  on the chain below the branch point has fired since. `UnstructuredJoin._run_hook` merges the
  data of every such task's parent when the join fires (the end join: of every branch that
  ended), so the branch and the task it hangs from stay. A join task left over from an earlier
  round of a loop, whose join has fired since, goes: SpiffWorkflow 3.2 counts it as an arrival in
  later rounds (`ParallelGateway._check_threshold_unstructured` skips only ancestors and
  descendants) and would fire a later round's join before its other branch arrived.
* Finished workflows (the instance once ended, a sub-process once its end was reached) stay as
  they are: `SubWorkflowTask.update_data` reads `last_task` and `CallActivity.update_data` the
  `End` task when the sub-process completes; they go with their parent task.
* `last_task` (`Workflow.run_next`; `migrate_workflow` clears it when missing) points to P if the
  task it pointed to is removed. A spliced task's children keep their data; the serializer writes
  each task's data as a delta against its parent and restores parents first (dict order), which
  a splice keeps, the new parent being an older ancestor. `correlations`, `bpmn_events` and the
  event manager's waiting tasks are not history and are untouched.
"""
from __future__ import annotations

from datetime import datetime, timezone

from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

ENABLED = True                 # tests turn it off to run the same scenario without compaction
HISTORY = "carepath_history"
LIVE = TaskState.NOT_FINISHED_MASK | TaskState.ERROR
REMOVABLE = TaskState.COMPLETED | TaskState.CANCELLED


def compact(workflow) -> int:
    """Remove the finished history of `workflow` and of each running sub-process that nothing
    reads any more (see the module docstring); the number of tasks removed."""
    if not ENABLED:
        return 0
    process_of = diagram_processes(workflow)
    history = workflow.task_tree.internal_data.get(HISTORY) or {}
    run = _Run(workflow, process_of, history)
    for key, sub in [(None, workflow), *list(workflow.subprocesses.items())]:
        if key is not None and key not in workflow.subprocesses:
            continue            # removed with its parent task meanwhile
        if sub.completed or (key is None and workflow.is_completed()):
            continue
        for chain in _branch_chains(sub):
            _compact_chain(run, sub, chain)
    if run.removed:
        workflow.task_tree.internal_data[HISTORY] = history
    return run.removed


def history_of(workflow) -> dict:
    """What compaction removed: {process_id: {bpmn_id: {"completed", "cancelled", "last", "spec"}}}."""
    return workflow.task_tree.internal_data.get(HISTORY) or {}


def _is_call_activity(spec) -> bool:
    return getattr(spec, "description", None) == "Call Activity"


def diagram_processes(workflow) -> dict:
    """Subprocess key (None: the instance's own workflow) → the process id whose diagram shows its
    elements: a call activity's subprocess is the called pathway; an embedded (or event)
    subprocess belongs to its parent's. The Camunda parser gives both the same spec class, so the
    element kind the parser recorded from the BPMN tag (`description`) tells them apart."""
    found = {None: workflow.spec.name}

    def resolve(key):
        if key not in found:
            sub = workflow.subprocesses[key]
            parent = workflow.get_task_from_id(key)
            found[key] = sub.spec.name if _is_call_activity(parent.task_spec) \
                else resolve(parent.workflow.parent_task_id)
        return found[key]

    for key in workflow.subprocesses:
        resolve(key)
    return found


def splice(workflow, sub, task) -> None:
    """Remove one finished task of `sub` (a workflow of `workflow`) from the tree, its children
    taking its place under its parent; its sub-process, if any, goes with it."""
    parent = task.parent
    position = parent._children.index(task.id)
    parent._children[position:position + 1] = list(task._children)
    for child in task.children:
        child._parent = parent.id
    task._children = []
    if task.id in workflow.subprocesses:
        workflow.delete_subprocess(task)
    del sub.tasks[task.id]
    if sub.last_task is task:
        sub.last_task = parent


# --- finding what to remove ----------------------------------------------------------------------

def _branch_chains(sub) -> list[list]:
    """Per branch of the root holding live tasks: the path [root, start task, ..., P]. The end
    join waiting at the end of a branch that ended while the rest goes on does not hold P up: its
    branch stays where it hangs (it holds a live task), which is all the end join reads of it."""
    root = sub.task_tree
    if root.has_state(LIVE):
        return []
    prefixes: dict = {}
    for task in sub.tasks.values():
        if not task.has_state(LIVE):
            continue
        path = _path(task)
        if len(path) < 2 or path[0] is not root:
            return []           # a task outside the tree: leave this workflow alone
        if any(isinstance(t.task_spec, _EndJoin) and t.has_state(TaskState.WAITING) for t in path):
            continue
        key = path[1].id
        prefixes[key] = path if key not in prefixes else _common(prefixes[key], path)
    chains = []
    for path in prefixes.values():
        while path and path[-1].has_state(LIVE):
            path = path[:-1]
        if len(path) > 3 and all(t.has_state(REMOVABLE) for t in path[1:]):
            chains.append(path)
    return chains


def _path(task) -> list:
    path = []
    while task is not None:
        path.append(task)
        task = task.parent
    path.reverse()
    return path


def _common(first: list, second: list) -> list:
    size = 0
    for a, b in zip(first, second):
        if a is not b:
            break
        size += 1
    return first[:size]


def _counted(branch: list, chain: list, index: int) -> bool:
    """Whether a pending join may still read this finished side branch hanging off chain[index]:
    it holds a finished unstructured-join task whose join no COMPLETED task on the chain below
    the branch point has fired since."""
    joins = {t.task_spec for t in branch if isinstance(t.task_spec, UnstructuredJoin)}
    fired = {t.task_spec for t in chain[index + 1:] if t.has_state(TaskState.COMPLETED)}
    return bool(joins - fired)


def _subtree(task) -> list:
    found, stack = [], [task]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current.children)
    return found


# --- removing ------------------------------------------------------------------------------------

class _Run:
    def __init__(self, workflow, process_of: dict, history: dict):
        self.workflow, self.process_of, self.history = workflow, process_of, history
        self.removed = 0

    def record(self, sub, tasks) -> None:
        """Count finished tasks of `sub` leaving the tree in the history of their diagram process."""
        process = self.history.setdefault(self.process_of[sub.parent_task_id], {})
        for task in tasks:
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if not bpmn_id or not task.has_state(REMOVABLE):
                continue
            entry = process.setdefault(bpmn_id, {"completed": 0, "cancelled": 0, "last": None,
                                                 "spec": sub.spec.name})
            entry["completed" if task.has_state(TaskState.COMPLETED) else "cancelled"] += 1
            last = datetime.fromtimestamp(task.last_state_change, timezone.utc).isoformat(timespec="seconds")
            entry["last"] = max(entry["last"] or last, last)

    def drop_subprocess(self, task) -> None:
        """Record and delete the sub-process of a task leaving the tree, nested ones included."""
        workflow = self.workflow
        nested = [task.id]
        for key in nested:
            sub = workflow.subprocesses[key]
            self.record(sub, sub.tasks.values())
            for finished in sub.tasks.values():
                workflow.event_manager.remove_task(finished)
            self.removed += len(sub.tasks)
            nested.extend(k for k in workflow.subprocesses if k in sub.tasks)
        workflow.delete_subprocess(task)

    def drop_branch(self, sub, top) -> None:
        """Remove a finished side branch: `top` and everything below it."""
        tasks = _subtree(top)
        for task in tasks:       # parents first: a sub-process is deleted while its task exists
            if task.id in self.workflow.subprocesses:
                self.drop_subprocess(task)
        self.record(sub, tasks)
        top.parent._children.remove(top.id)
        manager = self.workflow.event_manager
        for task in tasks:
            manager.remove_task(task)
            del sub.tasks[task.id]
        self.removed += len(tasks)

    def splice(self, sub, task) -> None:
        if task.id in self.workflow.subprocesses:
            self.drop_subprocess(task)
        self.record(sub, [task])
        self.workflow.event_manager.remove_task(task)
        splice(self.workflow, sub, task)
        self.removed += 1


def _compact_chain(run: _Run, sub, chain: list) -> None:
    """chain = [root, start task, ..., P]. Going up from P: a side branch is dropped when every
    element in it recurs further down and no pending join counts it; a chain task below the start
    task is spliced out when its element recurs further down and no kept side branch hangs from it."""
    deepest, last = chain[-1], sub.last_task
    later = {t.task_spec for t in _subtree(deepest)       # elements that run further down
             if not t.has_state(TaskState.PREDICTED_MASK)}
    following = deepest                                    # the chain task now below `node`
    for index in range(len(chain) - 2, 0, -1):
        node = chain[index]
        kept_branch = False
        for child in [c for c in node.children if c is not following]:
            branch = _subtree(child)
            specs = {t.task_spec for t in branch}
            if specs <= later and not any(t.has_state(LIVE) for t in branch) \
                    and not _counted(branch, chain, index):
                run.drop_branch(sub, child)
            else:
                kept_branch = True
                later |= specs
        if index >= 2 and not kept_branch and node.task_spec in later:
            run.splice(sub, node)
        else:
            later.add(node.task_spec)
            following = node
    if last is not None and last.id not in sub.tasks:
        sub.last_task = deepest
