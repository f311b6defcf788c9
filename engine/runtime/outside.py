"""Messages from outside systems: a hospital's system reports a confirmed diagnosis, civil
affairs' relief system reports its result, through the REST API (POST /api/v1/messages).

`send_message` checks what a pathway would rely on:
- the caller (an API client's service user, or a person) holds a membership at or above the unit
  `org` it sends for: the same check as starting a pathway there (`control.unit_in_jurisdiction`);
- the name is a message some deployed pathway catches or starts with (`catalogue`);
- the correlation names exactly the properties those pathways correlate that message on (by
  their BPMN ids, e.g. `cp_person_ref`, as correlation matches in CarePath), each with a scalar
  value;
- the payload is task data (`services.check_data`) and carries those values where the pathways
  read them from (each property's retrieval expression, e.g. `person_ref`), as a thrown message's
  payload does: the catching element reads them again, and a payload that lacked them would put
  the receiving instance into error.
The message is stored with the unit's path as its scope, so it is delivered only within the
sender's jurisdiction (engine/runtime/messaging.py), recorded as a `message_received` event with
the sender as its actor (and so in the audit log), and delivered at once when it can be. One that
no instance in scope waits for yet stays pending and is delivered when one does; `message_status`
tells its sender which, and nobody else anything.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ..bpmn.messages import CarePathMessage
from ..errors import InvalidInput, NotFound
from ..pathways import load_specs
from ..scripting import ScriptError
from ..store import pathways as pathways_repo
from ..store import runtime as repo
from ..store.models import Message
from . import control, messaging
from .services import check_data

MAX_VALUE_LENGTH = 200
SCALARS = (str, int, float, bool)


def _caught(task_spec) -> list[CarePathMessage]:
    """The messages a catching element (start, intermediate, boundary, receive task, event-based
    gateway) of a spec waits for."""
    if not isinstance(task_spec, CatchingEvent):
        return []
    definition = task_spec.event_definition
    if isinstance(definition, CarePathMessage):
        return [definition]
    return [d for d in getattr(definition, "event_definitions", None) or () if isinstance(d, CarePathMessage)]


def catalogue(ctx, session) -> dict[str, dict[str, set[str]]]:
    """Message name → {correlation property id → its retrieval expressions} as it is caught, over
    the newest version of every deployed pathway and the pathways they call (specs from the
    cache, never re-parsed)."""
    found: dict[str, dict[str, set[str]]] = {}
    for version in pathways_repo.latest_versions(session):
        spec, subprocess_specs = load_specs(ctx, session, version.id)
        for process in (spec, *subprocess_specs.values()):
            for task_spec in process.task_specs.values():
                for definition in _caught(task_spec):
                    properties = found.setdefault(definition.name, {})
                    for prop in definition.correlation_properties:
                        properties.setdefault(prop.name, set()).add(prop.retrieval_expression)
    return found


def _properties(ctx, session, name) -> dict[str, set[str]]:
    """The correlation properties of message `name` with their retrieval expressions: as deployed
    pathways catch it, and (without expressions) as instances of older versions wait for it now.
    InvalidInput naming the known messages when nothing catches it."""
    known = catalogue(ctx, session)
    waits = repo.wait_property_sets(session, name) if isinstance(name, str) and name else []
    if not isinstance(name, str) or (name not in known and not waits):
        listed = "、".join(f"「{n}」" for n in sorted(known)) or "无"
        raise InvalidInput(f"没有已部署的路径接收或由消息「{name}」启动；可发送的消息有：{listed} "
                           f"(unknown message name)")
    properties = {prop: set(expressions) for prop, expressions in known.get(name, {}).items()}
    for prop in (p for props in waits for p in props.split(",") if p):
        properties.setdefault(prop, set())
    return properties


def _check_correlation(name: str, correlation, properties: set[str]) -> dict:
    if not isinstance(correlation, dict):
        raise InvalidInput("关联属性须为对象 {属性: 值} (correlation must be an object)")
    expected = "、".join(sorted(properties)) or "无"
    unknown = sorted(set(correlation) - properties)
    if unknown:
        raise InvalidInput(f"消息「{name}」没有关联属性 {'、'.join(unknown)}；它的关联属性是：{expected} "
                           f"(unknown correlation property)")
    missing = sorted(properties - set(correlation))
    if missing:
        raise InvalidInput(f"消息「{name}」缺少关联属性 {'、'.join(missing)}；它的关联属性是：{expected} "
                           f"(missing correlation property)")
    for key, value in correlation.items():
        if not isinstance(value, SCALARS) or (isinstance(value, str) and not 0 < len(value) <= MAX_VALUE_LENGTH):
            raise InvalidInput(f"关联属性 {key} 的值须为字符串（1–{MAX_VALUE_LENGTH} 个字符）、数字或布尔值 "
                               f"(correlation values are scalars)")
    return dict(correlation)


def _check_payload(ctx, path: str, payload: dict, correlation: dict, properties: dict[str, set[str]]) -> None:
    """Each correlation value must be what the pathways read from the payload (its retrieval
    expressions, evaluated in the sandbox as the catching element will)."""
    environment = ctx.script_engine(path).environment
    for prop, value in correlation.items():
        for expression in sorted(properties[prop]):
            try:
                found = environment.evaluate(expression, dict(payload))
            except (ScriptError, SpiffWorkflowException):
                found = None
            if found != value:
                raise InvalidInput(f"载荷须带关联属性 {prop} 的值 {value!r}：路径按 {expression} 从载荷中取得它，"
                                   f"得到 {found!r} (the payload must carry the correlation value)")


def send_message(ctx, username: str, name: str, correlation: dict | None, payload: dict | None,
                 org: str) -> dict:
    """Store a message from outside for the unit `org` and deliver it now if an instance within
    that unit waits for it (or it starts a pathway there). Returns `message_status`."""
    payload = check_data(payload)
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        unit = control.unit_in_jurisdiction(session, username, org, "不能为此机构发送消息")
        properties = _properties(ctx, session, name)
        correlation = _check_correlation(name, correlation or {}, set(properties))
        _check_payload(ctx, unit.path, payload, correlation, properties)
        message = Message(name=name, correlation=correlation, payload=payload, org_code=unit.code,
                          scope_path=unit.path, sent_by=username, status="pending", needs_attempt=True,
                          created_at=now)
        session.add(message)
        session.flush()
        repo.record_event(session, now, "message_received", None, actor=username, message=name,
                          message_id=message.id, org=unit.code, properties=sorted(correlation))
        message_id = message.id
    if messaging.attempt(ctx, message_id) == messaging.DELIVERED:
        messaging.dispatch_messages(ctx)        # what the receiver threw in turn
    return message_status(ctx, message_id, username)


def message_status(ctx, message_id: int, username: str) -> dict:
    """A message sent from outside, as its sender sees it: pending, or delivered to which
    instance. Anyone else, and any message an instance threw, is NotFound."""
    with ctx.db.unit_of_work() as session:
        message = session.get(Message, message_id)
        if message is None or message.sent_by is None or message.sent_by != username:
            raise NotFound(f"消息 {message_id} 不存在或不是您发送的 (no such message of yours)")
        return {"id": message.id, "name": message.name, "status": message.status,
                "instance": message.delivered_to, "org": message.org_code,
                "created_at": message.created_at, "delivered_at": message.delivered_at}
