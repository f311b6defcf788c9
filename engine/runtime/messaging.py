"""Delivering messages between instances.

SpiffWorkflow only delivers a message inside the instance that threw it. CarePath stores every
message that leaves an instance and delivers it:
1. to the longest-waiting instance whose catcher waits for that message name with matching
   correlation values (an indexed lookup; see `instances._waits`);
2. else, if a deployed pathway starts with that message, to a new instance of it (in the sender's
   org unit, or the payload's `org` when it names one);
3. else it stays pending, and is tried again as soon as some instance starts waiting for it.
Each delivery is one unit of work: the message row and the receiving instance change together.

A message an outside system sent (engine/runtime/outside.py) carries the org path of the unit it
was sent for (`scope_path`): it goes only to an instance whose unit lies at or below that path,
and starts a pathway only at such a unit (the payload's `org` when it is one, else the sender's
unit). One that no instance in scope waits for stays pending, as above. A thrown message has no
scope and goes anywhere.

Several sweeps at once deliver each message once. On PostgreSQL a delivery claims the message row
and then the receiving instance with FOR UPDATE SKIP LOCKED: a message another sweep is delivering
is passed over, and so is one whose receiver another sweep is firing or delivering to (it keeps its
flag, and that sweep's own message pass, or the next sweep, delivers it). Everywhere, and alone on
SQLite where nothing is locked, the message moves pending → delivered only by a conditional update:
the sweep that finds it no longer pending rolls back everything it did (the receiver's new state,
an instance the message would have started), and the receiver's version column refuses the slower
of two writers.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.exc import DBAPIError

from ..errors import Conflict
from ..store import directory as directory_repo
from ..store import runtime as repo
from ..store.models import Instance, Message
from . import instances

DELIVERED, PARKED, PASSED = "delivered", "parked", "passed"
ATTEMPTS = 3


def _catchers(workflow, name: str, start: bool):
    """(task, message definition) pairs waiting for `name`; an event-based gateway counts."""
    for task in list(workflow.event_manager.tasks.values()):
        if not task.has_state(TaskState.WAITING) or isinstance(task.task_spec, StartEvent) != start:
            continue
        for definition in instances.message_definitions(task):
            if definition.name == name:
                yield task, definition


def deliver_into(workflow, message: Message, start: bool = False) -> dict | None:
    """Hand a stored message to a waiting catcher of this workflow and run on."""
    catcher, definition = next(_catchers(workflow, message.name, start), (None, None))
    if catcher is None:
        raise WorkflowException(f"实例没有在等待消息 {message.name}")
    # CarePath already matched correlation values; hand SpiffWorkflow the catcher's own keys so
    # its check agrees.
    event = BpmnEvent(definition, payload=message.payload,
                      correlations=dict(catcher.workflow.correlations))
    try:
        workflow.send_event(event)
    except instances.CONTENT_ERRORS as err:
        return instances.describe_error(err, catcher)
    return instances.advance(workflow)


def _target(session, message: Message) -> int | None:
    exclude: set[int] = set()
    for props in repo.wait_property_sets(session, message.name):
        found = repo.find_waiting_instance(session, message.name, props,
                                           instances.message_key(message, props), exclude,
                                           message.scope_path)
        if found is not None:
            return found
    return None


def _deliver_one(ctx, message_id: int) -> str:
    """One attempt in one unit of work. DELIVERED; PARKED (nobody takes it yet: it waits for a
    catcher); PASSED (no longer pending, or another sweep holds it or its receiver right now).
    Conflict when another sweep delivered it first or saved the receiver meanwhile (rolled back)."""
    with ctx.db.unit_of_work() as session:
        message = repo.claim_message(session, message_id)
        if message is None:
            return PASSED
        now = ctx.clock.now()
        seen_wait = repo.latest_wait_id(session)
        target = _target(session, message)
        if target is not None:
            if repo.claim_instance(session, target) is None:
                return PASSED       # its receiver is busy in another sweep; it keeps its flag
            row, workflow = instances.load(ctx, session, target)
            if next(_catchers(workflow, message.name, False), None) is None:
                # Its wait row was read before another writer moved it on (SQLite reads lock
                # nothing): try again, from the waits as they are now.
                raise Conflict(f"实例 {target} 已不再等待消息 {message.name} (receiver moved on)")
            error = deliver_into(workflow, message)
            instances.persist(ctx, session, row, workflow, None, error)
        else:
            starters = repo.message_start_processes(session, message.name)
            if not starters:
                repo.park_message(session, message.id, message.name, seen_wait)
                return PARKED
            from .services import create_instance
            sender = session.get(Instance, message.sender_instance_id) if message.sender_instance_id else None
            row = create_instance(ctx, session, starters[0], _start_org(session, message), {}, None,
                                  message=message, parent_instance_id=message.sender_instance_id,
                                  person_id=sender.person_id if sender is not None else None)
            target = row.id
        if not repo.mark_message_delivered(session, message.id, now, target):
            raise Conflict(f"消息 {message.id} 已由其他扫描投递 (delivered concurrently)")
        outside = {"sent_by": message.sent_by} if message.sent_by else {}
        repo.record_event(session, now, "message_delivered", target, message=message.name,
                          message_id=message.id, sender=message.sender_instance_id, **outside)
        return DELIVERED


def _start_org(session, message: Message) -> str:
    """Where a message nobody waits for starts a pathway: the unit its payload's `org` names (for
    a message sent from outside, only one within its scope), else the sender's unit."""
    payload_org = message.payload.get("org") if isinstance(message.payload, dict) else None
    unit = directory_repo.org_unit(session, str(payload_org)) if payload_org else None
    if unit is not None and (message.scope_path is None or unit.path.startswith(message.scope_path)):
        return unit.code
    return message.org_code


def attempt(ctx, message_id: int) -> str:
    """Deliver one message, running the unit of work again after a lost race (a Conflict, or a
    deadlock PostgreSQL broke); after ATTEMPTS lost races it is left for the next pass."""
    for _ in range(ATTEMPTS):
        try:
            return _deliver_one(ctx, message_id)
        except Conflict:
            continue
        except DBAPIError as err:
            if not repo.is_retryable(err):
                raise
    return PASSED


def dispatch_messages(ctx, limit: int = 1000) -> int:
    """Deliver what can be delivered now; returns how many messages this call delivered."""
    delivered = 0
    for _round in range(limit):
        with ctx.db.unit_of_work() as session:
            batch = repo.messages_to_attempt(session, 100)
        if not batch:
            break
        progressed = False
        for message_id in batch:
            outcome = attempt(ctx, message_id)
            if outcome == DELIVERED:
                delivered += 1
            progressed = progressed or outcome != PASSED
        if not progressed:
            break
    return delivered
