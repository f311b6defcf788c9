"""The hot reads are index lookups: the sweep's due query and the inbox (SQLite's planner)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from engine.store import runtime as repo


def _plan(session, query) -> str:
    compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(row[-1] for row in rows)


def test_due_instances_come_from_the_wake_at_index(ctx):
    from sqlalchemy import select
    from engine.store.models import Instance
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    query = (select(Instance.id).where(Instance.wake_at <= now, Instance.status == "running")
             .order_by(Instance.wake_at, Instance.id).limit(200))
    with ctx.db.unit_of_work() as session:
        plan = _plan(session, query)
        repo.due_instance_ids(session, now, 200)   # the function the sweep uses runs as written
    assert "ix_instances_status_wake" in plan and "wake_at<" in plan, plan
    assert "SCAN instances" not in plan and "TEMP B-TREE" not in plan, plan


def test_inbox_is_driven_by_the_grants_index(ctx):
    captured = []
    from sqlalchemy import event
    listener = lambda conn, cursor, statement, params, context, many: captured.append((statement, params))
    event.listen(ctx.db.engine, "before_cursor_execute", listener)
    try:
        with ctx.db.unit_of_work() as session:
            repo.inbox(session, "teacher_a", [("education.teacher", "/510000/510700/510781/510781001/")])
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", listener)
    statement, params = captured[-1]
    with ctx.db.engine.connect() as connection:
        plan = "\n".join(r[-1] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params))
    assert "ix_task_grants_role_path" in plan or "ix_task_grants_username" in plan, plan
    assert "SCAN task_grants" not in plan and "SCAN human_tasks" not in plan, plan
