"""The hot reads are index lookups: the sweep's due query and the inbox, on SQLite's planner and
on PostgreSQL's (see tests/plans.py)."""
from __future__ import annotations

from datetime import datetime, timezone


from engine.store import runtime as repo

from plans import captured_statements, explain, scans


def _plan(session, query) -> str:
    dialect = session.connection().dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return explain(session.connection(), str(compiled))


def _no_scan(plan: str, *tables: str) -> None:
    for table in tables:
        assert not scans(plan, table), plan


def test_due_instances_come_from_the_wake_at_index(ctx):
    from sqlalchemy import select
    from engine.store.models import Instance
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    query = (select(Instance.id).where(Instance.wake_at <= now, Instance.status == "running")
             .order_by(Instance.wake_at, Instance.id).limit(200))
    with ctx.db.unit_of_work() as session:
        plan = _plan(session, query)
        repo.due_instance_ids(session, now, 200)   # the function the sweep uses runs as written
    assert "ix_instances_status_wake" in plan, plan
    assert ("wake_at<" in plan or "wake_at <=" in plan), plan      # the range is in the index
    _no_scan(plan, "instances")
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # the order comes from it too


def test_inbox_is_driven_by_the_grants_index(ctx):
    with captured_statements(ctx.db.engine) as captured, ctx.db.unit_of_work() as session:
        repo.inbox(session, "teacher_a", [("education.teacher", "/510000/510700/510781/510781001/")])
    statement, params = next((s, p) for s, p in reversed(captured) if "task_grants" in s)
    with ctx.db.engine.connect() as connection:
        plan = explain(connection, statement, params)
    # one range of the (role, unit) index for the membership, one of the username index
    assert "ix_task_grants_scope_due" in plan and "ix_task_grants_user_due" in plan, plan
    _no_scan(plan, "task_grants", "human_tasks")


def _plan_of_call(ctx, table: str, call) -> str:
    """The plan of the last statement reading `table` that `call(session)` ran, as sent."""
    with captured_statements(ctx.db.engine) as captured, ctx.db.unit_of_work() as session:
        call(session)
    statement, params = next((s, p) for s, p in reversed(captured) if table in s)
    with ctx.db.engine.connect() as connection:
        return explain(connection, statement, params)


def test_sparse_columns_are_found_through_their_partial_indexes(ctx):
    """Revision 0008 keeps rows without a person, a parent or an assignee out of those indexes;
    the lookups that compare them to a value still go through them, on either planner."""
    from engine.store import directory as directory_repo, journeys, people
    person = _plan_of_call(ctx, "instances", lambda s: people.instances_of_person(s, 7))
    assert "ix_instances_person_id" in person, person
    children = _plan_of_call(ctx, "instances", lambda s: journeys.child_instance_ids(s, 7, None))
    assert "ix_instances_parent_instance_id" in children, children
    claimed = _plan_of_call(ctx, "human_tasks", lambda s: directory_repo.claimed_by(s, "teacher_a"))
    assert "ix_human_tasks_assignee" in claimed, claimed
    for plan, table in ((person, "instances"), (children, "instances"), (claimed, "human_tasks")):
        _no_scan(plan, table)
