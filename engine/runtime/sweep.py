"""The sweep: fire due timers, then deliver messages and raise escalations (`services.tick`).

Each due instance is claimed and fired in a transaction of its own, so any number of sweeps may
run at once (several workers, the web process's own sweep) and split the work between them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from ..errors import Conflict
from ..store import runtime as repo
from ..store.models import HumanTask, Instance
from ..store.runtime import ACTIVE
from . import instances


def tick(ctx) -> dict:
    """Fire due timers, deliver pending messages, raise due escalations. Idempotent at a given
    now; finds due work through indexes (wake_at, next_escalation_at), so its cost follows what
    is due, not what is active.

    Any number of sweeps may run at once (several workers, the web process's own sweep): each
    due instance is claimed and fired in one transaction (`_fire_instance`), so they split the
    due instances between them and every timer fires once. `conflicts_retried` counts the firings
    this sweep lost to another writer and rolled back (on SQLite, where two sweeps can load the
    same instance, that is how the second one learns it came too late)."""
    from ..escalation.ladder import raise_due_escalations
    from .messaging import dispatch_messages
    now = ctx.clock.now()
    fired_total, touched, conflicts = 0, [], 0
    passed: set[int] = set()            # not to be claimed again by this sweep
    lost: dict[int, int] = {}
    while True:
        try:
            firing = _fire_instance(ctx, now, passed)
        except _LostRace as race:
            conflicts += 1
            lost[race.instance_id] = lost.get(race.instance_id, 0) + 1
            if lost[race.instance_id] >= _MAX_LOST_RACES:
                passed.add(race.instance_id)     # the next sweep tries it again
            continue
        if firing is None:
            break
        instance_id, fired, still_due = firing
        if fired:
            fired_total += len(fired)
            touched.append(instance_id)
        if still_due:
            passed.add(instance_id)
    delivered = dispatch_messages(ctx)
    escalations = raise_due_escalations(ctx, now)
    return {"now": now, "timers_fired": fired_total, "instances": touched,
            "messages_delivered": delivered, "escalations_raised": len(escalations),
            "conflicts_retried": conflicts}


_MAX_LOST_RACES = 3


def next_due(ctx) -> datetime | None:
    """The earliest moment a sweep has something to do: a timer or an escalation step (None:
    nothing will ever be due without a new step). What replays and simulations move time to."""
    with ctx.db.unit_of_work() as session:
        timer = session.scalar(select(func.min(Instance.wake_at)).where(Instance.status == "running"))
        escalation = session.scalar(select(func.min(HumanTask.next_escalation_at)).where(
            HumanTask.status.in_(ACTIVE), HumanTask.paused_at.is_(None)))
    due = [moment for moment in (timer, escalation) if moment is not None]
    return min(due) if due else None


class _LostRace(Exception):
    """Another writer saved the claimed instance first; this firing was rolled back."""

    def __init__(self, instance_id: int):
        super().__init__(instance_id)
        self.instance_id = instance_id


def _fire_instance(ctx, now, passed: set[int]) -> tuple[int, list[str], bool] | None:
    """Claim the earliest due instance no other sweep holds and fire its due timers, in one
    transaction: (instance id, elements fired, whether it is still due), or None when nothing
    is left to claim. The claim (`store.runtime.claim_due_instance`) locks the row on PostgreSQL,
    so no other sweep loads it until this commits; the instance's version check stays as the
    backstop and, on SQLite, is what refuses the second of two sweeps that fired the same
    instance (raised here as _LostRace, after rolling back)."""
    claimed = None
    try:
        with ctx.db.unit_of_work() as session:
            row = repo.claim_due_instance(session, now, passed)
            if row is None:
                return None
            claimed = row.id
            row, workflow = instances.load(ctx, session, claimed)
            fired, error = instances.arm_and_fire(workflow, now)
            for element in fired:
                repo.record_event(session, now, "timer_fired", row.id, element=element)
            instances.persist(ctx, session, row, workflow, None, error)
            still_due = row.status == "running" and row.wake_at is not None and row.wake_at <= now
            return claimed, fired, still_due
    except Conflict as err:
        if claimed is None:
            raise
        raise _LostRace(claimed) from err
    except DBAPIError as err:
        if claimed is None or not repo.is_retryable(err):
            raise
        raise _LostRace(claimed) from err
