"""SQL for the event log (`events`, append-only): what happened to each instance and task."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .direct import DirectInsert
from .models import Event

_INSERT_EVENT = DirectInsert(Event.__table__)
_BATCH = "event_batch"                       # session.info: the events `batched` holds back


def record_event(session: Session, at: datetime, kind: str, instance_id: int | None = None,
                 task_id: int | None = None, actor: str | None = None, **detail) -> None:
    """Append to the event log; what a person did (an event with an actor) goes to the audit log
    too, with where they acted from."""
    # A plain INSERT through the driver now (or at the end of `batched`), rather than an
    # ORM object for the next flush: an event is never read back as an object in the unit of work
    # that writes it, the ids it refers to exist already, and nothing pending is flushed early.
    row = {"at": at, "kind": kind, "instance_id": instance_id, "task_id": task_id, "actor": actor,
           "detail": detail}
    batch = session.info.get(_BATCH)
    if batch is not None:
        batch.append(row)
    else:
        _INSERT_EVENT.many(session, [row])
    if actor is not None:
        audit.append_for_event(session, at, kind, instance_id, task_id, actor, detail)


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """The events recorded inside are inserted together when it ends, in the order recorded, by
    one statement (a start's `instance_started` and `task_created`). Nothing inside may read the
    events it records. Nested, the outermost one writes. If the block fails nothing is written:
    its unit of work is rolled back anyway."""
    if _BATCH in session.info:
        yield
        return
    batch = session.info[_BATCH] = []
    try:
        yield
        if batch:
            _INSERT_EVENT.many(session, batch)
    finally:
        del session.info[_BATCH]


def events_for_instance(session: Session, instance_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))
