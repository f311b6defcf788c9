"""Who owns a user task and in which org unit: the one place routing is decided.

Owner, in order:
* `camunda:assignee` — one user, the task starts claimed by them;
* `camunda:candidateUsers` / `camunda:candidateGroups` — comma-separated usernames / role codes;
* otherwise the task's lane: a lane maps to a role when its name is a role code
  (`health.mh_center_expert`) or a role's display name (`精神卫生中心专家`).
Each item is a literal or a `${expression}` evaluated against the task's data.

Org unit: the instance's, unless the task says otherwise with `camunda:properties`:
`org` (a code, or `${expression}`) or `orgLevel` (province/city/county/township/village: the
instance unit's ancestor at that level, e.g. the city mental-health centre for a county case).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .directory import LEVELS

_WRAPPED = re.compile(r"^\s*\$\{(.*)\}\s*$", re.DOTALL)


class AssignmentError(ValueError):
    """The task's owner or org unit cannot be determined."""


def unwrap_expression(text: str) -> str | None:
    """The inner expression of `${...}`, or None for a literal."""
    match = _WRAPPED.match(text or "")
    return match.group(1).strip() if match else None


def _resolve_items(text: str | None, evaluate: Callable[[str], object]) -> list[str]:
    if not text or not text.strip():
        return []
    expression = unwrap_expression(text)
    if expression is not None:
        value = evaluate(expression)
        values = value if isinstance(value, (list, tuple, set)) else str(value).split(",")
        return [str(v).strip() for v in values if str(v).strip()]
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True)
class Owner:
    assignee: str | None
    candidate_users: tuple[str, ...]
    candidate_roles: tuple[str, ...]

    @property
    def role(self) -> str | None:
        return self.candidate_roles[0] if self.candidate_roles else None


def lane_role(lane: str | None, roles_by_code: dict[str, str], roles_by_name: dict[str, str]) -> str | None:
    """The role a lane stands for: by code, else by display name."""
    if not lane:
        return None
    lane = lane.strip()
    if lane in roles_by_code:
        return lane
    return roles_by_name.get(lane)


def resolve_owner(extensions: dict, lane: str | None, evaluate: Callable[[str], object],
                  roles_by_code: dict[str, str], roles_by_name: dict[str, str]) -> Owner:
    assignees = _resolve_items(extensions.get("assignee"), evaluate)
    if len(assignees) > 1:
        raise AssignmentError(f"camunda:assignee 只能是一个用户，得到 {assignees}")
    users = _resolve_items(extensions.get("candidateUsers"), evaluate)
    roles = _resolve_items(extensions.get("candidateGroups"), evaluate)
    if not (assignees or users or roles):
        role = lane_role(lane, roles_by_code, roles_by_name)
        if role is None:
            if lane:
                raise AssignmentError(f"泳道“{lane}”不是已知角色的代码或名称 (lane is not a known role)")
            raise AssignmentError("任务没有负责人：缺少 assignee/candidateUsers/candidateGroups，也不在泳道中")
        roles = [role]
    unknown = [r for r in roles if r not in roles_by_code]
    if unknown:
        raise AssignmentError(f"未知角色: {', '.join(unknown)} (unknown role)")
    return Owner(assignees[0] if assignees else None, tuple(users), tuple(roles))


def resolve_org(extensions: dict, instance_org: str, ancestors: Callable[[str], list[tuple[str, str]]],
                evaluate: Callable[[str], object]) -> str:
    """The org unit code a task belongs to. `ancestors(code)` gives [(code, level)] root first."""
    properties = extensions.get("properties") or {}
    if properties.get("org"):
        value = properties["org"]
        expression = unwrap_expression(value)
        return str(evaluate(expression)) if expression is not None else value.strip()
    level = properties.get("orgLevel")
    if level:
        if level not in LEVELS:
            raise AssignmentError(f"orgLevel 必须是 {', '.join(LEVELS)} 之一，得到 {level!r}")
        for code, unit_level in reversed(ancestors(instance_org)):
            if unit_level == level:
                return code
        raise AssignmentError(f"机构 {instance_org} 之上没有 {level} 级机构 (no ancestor at that level)")
    return instance_org
