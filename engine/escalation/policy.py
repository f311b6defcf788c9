"""The escalation policy: ladders kept apart from the BPMN, one file per deployment
(`CAREPATH_ESCALATION_POLICY`), with per-pathway and per-task overrides.

```yaml
ladders:
  default:                      # used when nothing else is said
    - {level: 1, after: 0, notify: people}                 # at due: remind assignee/candidates
    - {level: 2, after: 1 workday, notify: supervisor}      # the agency supervisor nearest above
    - {level: 3, after: 3 workdays, notify: supervisor, above: 1}   # the next unit above that
  urgent:
    - {level: 1, after: 0, notify: people}
    - {level: 2, after: 2 hours, notify: supervisor}
pathways:
  school_screening:
    ladder: default             # for every task of the pathway
    tasks: {consult: urgent, supervise: none}
```
A task may also name its ladder in the BPMN: `camunda:properties` `escalation` = a ladder name or
`none`. Order: task property, pathway task entry, pathway ladder, `default`. Two ladders are
built in: `default` (above) and `urgent` (hours: people at the deadline, the supervisor 1 hour
later, one unit further up after 4 hours); a file may redefine either.

`after` is counted from the task's deadline: `0`, `N workday(s)` (the close of the Nth working day
after the due date), `N hour(s)` (elapsed) or `N working hour(s)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

NONE = "none"


class PolicyError(ValueError):
    """The escalation policy file is invalid; the message says where."""


@dataclass(frozen=True)
class Step:
    level: int
    after_amount: float
    after_unit: str            # "workdays" | "hours" | "workhours"
    notify: str                # "people" | "supervisor"
    above: int = 0

    def moment(self, due: datetime, calendar) -> datetime:
        """When this step is due for a task due at `due`."""
        if self.after_amount == 0:
            return due
        if self.after_unit == "workdays":
            return calendar.add_workdays(due, int(self.after_amount)).at
        if self.after_unit == "workhours":
            return calendar.add_workhours(due, self.after_amount).at
        return due + timedelta(hours=self.after_amount)


DEFAULT_LADDER = (
    Step(1, 0, "workdays", "people"),
    Step(2, 1, "workdays", "supervisor"),
    Step(3, 3, "workdays", "supervisor", above=1),
)
# For clock-time deadlines that do not wait for Monday (a crisis call, a police notification):
# the people at the deadline, the supervisor an hour later, one unit further up after four.
URGENT_LADDER = (
    Step(1, 0, "hours", "people"),
    Step(2, 1, "hours", "supervisor"),
    Step(3, 4, "hours", "supervisor", above=1),
)
BUILT_IN = {"default": DEFAULT_LADDER, "urgent": URGENT_LADDER}

_AFTER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(workdays?|working\s+hours?|hours?)\s*$", re.IGNORECASE)


def _parse_after(value, where: str) -> tuple[float, str]:
    if value in (0, "0", None):
        return 0, "workdays"
    match = _AFTER.match(str(value))
    if not match:
        raise PolicyError(f"{where}: after must be 0, 'N workdays', 'N hours' or 'N working hours', got {value!r}")
    unit = match.group(2).lower()
    unit = "workdays" if unit.startswith("workday") else "workhours" if unit.startswith("working") else "hours"
    return float(match.group(1)), unit


def _parse_ladder(steps, where: str) -> tuple[Step, ...]:
    if not isinstance(steps, list) or not steps:
        raise PolicyError(f"{where}: a ladder is a non-empty list of steps")
    parsed = []
    for index, step in enumerate(steps):
        here = f"{where}[{index}]"
        if not isinstance(step, dict):
            raise PolicyError(f"{here}: expected a mapping with level, after, notify")
        unknown = set(step) - {"level", "after", "notify", "above"}
        if unknown:
            raise PolicyError(f"{here}: unknown keys {sorted(unknown)}")
        level = step.get("level")
        if level != index + 1:
            raise PolicyError(f"{here}: levels must be 1, 2, 3… in order, got {level!r}")
        notify = step.get("notify", "supervisor")
        if notify not in ("people", "supervisor"):
            raise PolicyError(f"{here}: notify must be people or supervisor, got {notify!r}")
        amount, unit = _parse_after(step.get("after", 0), here)
        above = step.get("above", 0)
        if not isinstance(above, int) or above < 0:
            raise PolicyError(f"{here}: above must be a non-negative integer")
        parsed.append(Step(level, amount, unit, notify, above))
    return tuple(parsed)


@dataclass(frozen=True)
class Policy:
    ladders: dict[str, tuple[Step, ...]]
    pathways: dict[str, dict]

    def ladder_name(self, process_id: str, element: str, task_property: str | None) -> str:
        if task_property:
            return task_property
        entry = self.pathways.get(process_id, {})
        return (entry.get("tasks") or {}).get(element) or entry.get("ladder") or "default"

    def ladder(self, name: str | None) -> tuple[Step, ...]:
        if not name or name == NONE:
            return ()
        return self.ladders.get(name, self.ladders["default"])


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise PolicyError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping with ladders and pathways")
    ladders = dict(BUILT_IN)
    for name, steps in (data.get("ladders") or {}).items():
        if name == NONE:
            raise PolicyError(f"{source}: ladders.none is reserved (it means no escalation)")
        ladders[name] = _parse_ladder(steps, f"{source}: ladders.{name}")
    pathways = data.get("pathways") or {}
    for pid, entry in pathways.items():
        if not isinstance(entry, dict):
            raise PolicyError(f"{source}: pathways.{pid}: expected a mapping with ladder and tasks")
        names = [entry.get("ladder")] + list((entry.get("tasks") or {}).values())
        for name in names:
            if name and name != NONE and name not in ladders:
                raise PolicyError(f"{source}: pathways.{pid}: unknown ladder {name!r}")
    return Policy(ladders, pathways)


def load_policy(path: str | None) -> Policy:
    if not path:
        return Policy(dict(BUILT_IN), {})
    file = Path(path)
    if not file.is_file():
        raise PolicyError(f"{path}: escalation policy file not found (CAREPATH_ESCALATION_POLICY)")
    return parse_policy(file.read_text(encoding="utf-8"), str(path))
