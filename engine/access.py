"""Who may do what with a task: pure predicates, no I/O.

Jurisdiction rule: a user holding role R at org unit X may see and act on tasks for role R whose
org unit is X or below X. A task claimed by (or assigned to) someone is theirs alone until
released. A user named as a candidate user may act wherever the task is.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .directory import covers


@dataclass(frozen=True)
class Actor:
    username: str
    grants: tuple[tuple[str, str], ...]   # (role code, org path)


@dataclass(frozen=True)
class TaskView:
    status: str
    assignee: str | None
    candidate_roles: tuple[str, ...]
    candidate_users: tuple[str, ...]
    org_path: str


def is_candidate(actor: Actor, task: TaskView) -> bool:
    """The task is offered to this actor by name, or by a role they hold over the task's unit."""
    if actor.username in task.candidate_users:
        return True
    return any(role in task.candidate_roles and covers(path, task.org_path)
               for role, path in actor.grants)


def can_see(actor: Actor, task: TaskView) -> bool:
    return task.assignee == actor.username or is_candidate(actor, task)


def can_claim(actor: Actor, task: TaskView) -> bool:
    return task.status == "open" and is_candidate(actor, task)


def can_complete(actor: Actor, task: TaskView) -> bool:
    if task.status == "claimed":
        return task.assignee == actor.username
    return task.status == "open" and is_candidate(actor, task)


def can_release(actor: Actor, task: TaskView) -> bool:
    return task.status == "claimed" and task.assignee == actor.username


def holds_over(actor: Actor, role: str, org_path: str) -> bool:
    """The actor holds `role` at `org_path` or above it."""
    return any(r == role and covers(path, org_path) for r, path in actor.grants)


def can_handle_escalation(actor: Actor, role: str, org_path: str) -> bool:
    """An escalation is worked by whoever holds its target role at or above its unit."""
    return holds_over(actor, role, org_path)


def can_supervise(actor: Actor, supervisor_role: str, task: TaskView) -> bool:
    """The agency's supervisor over the task's unit may reassign, extend and pause it."""
    return holds_over(actor, supervisor_role, task.org_path)


# --- an instance's diagram (a person's record: engine.privacy.rules) ------------------------------

def can_view_instance(actor: Actor, instance_org_path: str, task_org_paths: Iterable[str] = (),
                      task_people: Iterable[str] = ()) -> bool:
    """The actor may view the instance's unit, or the unit of any of its tasks (a city expert who
    handled a consult sees the instance), or is named on one of its tasks (assignee, candidate
    user or the one who completed it), so that every task in an inbox opens its instance."""
    if actor.username in set(task_people):
        return True
    return any(covers(path, target) for _, path in actor.grants
               for target in (instance_org_path, *task_org_paths))


def can_retry(actor: Actor, instance_org_path: str) -> bool:
    """An instance stuck in error is run again by a supervisor (any agency) or an analyst over its unit."""
    return any((role.endswith(".supervisor") or role == "admin.analyst") and covers(path, instance_org_path)
               for role, path in actor.grants)


def can_watch_indicators(actor: Actor, org_path: str) -> bool:
    """Indicators of a unit (and below) are for supervisors of any agency, and analysts, at or above it."""
    return any((role.endswith(".supervisor") or role == "admin.analyst") and covers(path, org_path)
               for role, path in actor.grants)


# --- pathway versions: editing, deploying, migrating instances ----------------------------------

ANALYST = "admin.analyst"


def can_edit_pathways(grants: Iterable[tuple[str, str]]) -> bool:
    """Pathways belong to no unit: an analyst anywhere may edit, deploy and compare versions."""
    return any(role == ANALYST for role, _ in grants)


def can_migrate(grants: Iterable[tuple[str, str]], instance_org_path: str) -> bool:
    """Moving a running instance to another version of its pathway is for an analyst at or above
    the instance's unit."""
    return any(role == ANALYST and covers(path, instance_org_path) for role, path in grants)
