"""The event log is append-only: the database itself refuses edits and deletions."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DatabaseError

from engine.pathways import deploy_files
from engine.runtime import services
from engine.store.models import Event

from conftest import BPMN


def test_events_cannot_be_rewritten_or_deleted(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    services.start_instance(ctx, "school_screening", "510781001", {})
    with ctx.db.unit_of_work() as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    assert kinds == ["pathway_deployed", "instance_started", "task_created"]
    with pytest.raises(DatabaseError, match="append-only"):
        with ctx.db.unit_of_work() as session:
            session.execute(update(Event).values(actor="someone_else"))
    with pytest.raises(DatabaseError, match="append-only"):
        with ctx.db.unit_of_work() as session:
            session.execute(delete(Event))
    with ctx.db.unit_of_work() as session:
        assert len(session.scalars(select(Event)).all()) == 3
