"""Timer event definitions that read the engine clock instead of the wall clock.

SpiffWorkflow's timers call `datetime.now()` and evaluate every value as Python (so `P2D` must be
quoted). These subclasses take now from the workflow's script engine clock and accept unquoted
ISO 8601 literals as well as expressions (see `engine.bpmn.moments`). The first evaluation is
stored in the task's internal data (`event_value`, an ISO instant in UTC) so a timer keeps the
moment it was armed with, and the runtime can index the instance's next wake-up time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from .moments import add_duration, resolve_cycle, resolve_moment


def _clock(my_task):
    return my_task.workflow.script_engine.clock


def _evaluator(my_task):
    engine = my_task.workflow.script_engine
    return lambda expression: engine.evaluate(my_task, expression)


def _arm_once(my_task, expression: str) -> datetime:
    stored = my_task._get_internal_data("event_value")
    if stored is None:
        engine = my_task.workflow.script_engine
        log = getattr(engine, "deadline_log", [])
        mark = len(log)
        clock = _clock(my_task)
        moment = resolve_moment(expression, _evaluator(my_task), clock.now(), clock.tz)
        stored = moment.isoformat()
        my_task._set_internal_data(event_value=stored)
        basis = workdays_basis(log[mark:], moment)
        if basis is not None:
            my_task._set_internal_data(deadline_basis=basis)
    return datetime.fromisoformat(stored)


def workdays_basis(entries, moment: datetime) -> dict | None:
    """If `moment` is the answer of a `workdays(n)` call, how to compute it again."""
    for start, n, deadline, chain in reversed(entries):
        if deadline.at == moment:
            return {"kind": "workdays", "n": n, "start": start.isoformat(), "chain": chain,
                    "pauses": [], "source": deadline.source, "provisional": deadline.provisional}
    return None


class ClockTimeDate(TimeDateEventDefinition):
    """`<timeDate>`: fires at an instant (literal, or expression such as `workdays(2)`)."""

    def has_fired(self, my_task):
        if _arm_once(my_task, self.expression) <= _clock(my_task).now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockDuration(DurationTimerEventDefinition):
    """`<timeDuration>`: fires a duration after it was armed (`P2D`, `PT4H`, `hours(4)`)."""

    def has_fired(self, my_task):
        if _arm_once(my_task, self.expression) <= _clock(my_task).now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockCycle(CycleTimerEventDefinition):
    """`<timeCycle>`: fires repeatedly (`R3/PT1H`, `R/P1M` for a monthly visit)."""

    def cycle_complete(self, my_task):
        clock = _clock(my_task)
        value = my_task._get_internal_data("event_value")
        if value is None:
            cycle = resolve_cycle(self.expression, _evaluator(my_task), clock.now(), clock.tz)
            value = {"cycles": cycle.remaining, "next": cycle.next_at.isoformat(),
                     "step": cycle.step, "anchor": cycle.anchor.isoformat(),
                     "first": cycle.first, "fired": 0}
        if value["cycles"] == 0:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return False
        ready = datetime.fromisoformat(value["next"]) <= clock.now()
        if ready:
            value["cycles"] -= 1
            value["next"] = _following(value, clock.tz).isoformat()
        my_task._set_internal_data(event_value=value)
        return ready


def _following(value: dict, tz) -> datetime:
    """The firing after the one just due, counted from the cycle's anchor on the calendar."""
    if "step" not in value:     # armed before calendar cycles: a fixed step in seconds
        return datetime.fromisoformat(value["next"]) + timedelta(seconds=value["duration"])
    value["fired"] += 1
    return add_duration(value["step"], datetime.fromisoformat(value["anchor"]), tz,
                        value["first"] + value["fired"])


TIMER_CLASSES = (ClockTimeDate, ClockDuration, ClockCycle)


def pending_wake_time(my_task) -> datetime | None:
    """When a waiting timer task next needs attention, from its stored event value."""
    if not my_task.has_state(TaskState.WAITING):
        return None
    value = my_task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(value, dict):
        return datetime.fromisoformat(value["next"]) if value.get("cycles", 0) != 0 else None
    return datetime.fromisoformat(value)
