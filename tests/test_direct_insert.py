"""The hot inserts sent through the driver (engine/store/direct.py) store exactly what SQLAlchemy's
own INSERT stores, inside the session's transaction, and fail as SQLAlchemy's do: the error names
the statement and the unit of work loses nothing but itself. Runs on the session's backend
(SQLite, or PostgreSQL in CI's second pass)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from conftest import BPMN
from driver_trace import statements_sent
from engine.pathways import deploy_files
from engine.runtime import services
from engine.store.direct import DirectInsert
from engine.store.models import Event, HumanTask, Instance, OrgUnit, TaskGrant

VILLAGE = "510781001001"


@pytest.fixture
def started(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    outcome = services.start_instance(ctx, "school_screening", VILLAGE, {}, actor="admin")
    return ctx, outcome


def stored(session, table, row_id):
    """The row as the database holds it: the driver's own values, no SQLAlchemy conversion."""
    columns = ", ".join(c.name for c in table.columns if c.name != "id")
    result = session.connection().exec_driver_sql(f"SELECT {columns} FROM {table.name} WHERE id = {int(row_id)}")
    return tuple(result.one())


def values_of(session, table, row_id):
    """A stored row's values as SQLAlchemy reads them, keyed by column, without its id."""
    row = session.execute(select(table).where(table.c.id == row_id)).one()._mapping
    return {c.key: row[c] for c in table.columns if c.name != "id"}


def core_insert(session, table, values) -> int:
    return session.execute(insert(table).returning(table.c.id), values).scalar_one()


def test_each_hot_table_stores_through_the_driver_what_sqlalchemy_stores(started):
    ctx, outcome = started
    task_id = outcome.tasks[0]["id"]
    with ctx.db.unit_of_work() as session:
        instance_values = values_of(session, Instance.__table__, outcome.instance)
        task_values = values_of(session, HumanTask.__table__, task_id)
        cases = [(Instance.__table__, instance_values, {}),
                 (HumanTask.__table__, task_values, {"spiff_task_id": None})]
        grant_id = session.scalar(select(TaskGrant.id).where(TaskGrant.task_id == task_id).limit(1))
        cases.append((TaskGrant.__table__, values_of(session, TaskGrant.__table__, grant_id), {}))
        cases.append((Event.__table__, {
            "at": datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
            "kind": "test_event", "instance_id": outcome.instance, "task_id": task_id, "actor": "admin",
            "detail": {"说明": "中文与引号 \" ' 以及 % 和 ?", "n": [1, 2.5, None, True]}}, {}))
        for table, values, fresh in cases:
            direct_values = {k: (str(uuid.uuid4()) if k in fresh else v) for k, v in values.items()}
            core_values = {k: (str(uuid.uuid4()) if k in fresh else v) for k, v in values.items()}
            direct_id = DirectInsert(table).one(session, direct_values)
            core_id = core_insert(session, table, core_values)
            assert direct_id != core_id
            ours, theirs = stored(session, table, direct_id), stored(session, table, core_id)
            differing = [c.name for c, a, b in zip([c for c in table.columns if c.name != "id"], ours, theirs)
                         if a != b and c.name not in fresh]
            assert differing == [], (table.name, differing)
            assert values_of(session, table, direct_id) == direct_values     # and reads back as given


def test_many_inserts_every_row_in_order_and_one_returns_the_new_key(started):
    ctx, outcome = started
    task_id = outcome.tasks[0]["id"]
    at = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    rows = [{"at": at, "kind": f"batch_{n}", "instance_id": outcome.instance, "task_id": task_id,
             "actor": None, "detail": {"n": n}} for n in range(5)]
    with ctx.db.unit_of_work() as session:
        DirectInsert(Event.__table__).many(session, rows)
        DirectInsert(Event.__table__).many(session, [])           # nothing to send: sends nothing
        last = DirectInsert(Event.__table__).one(session, {**rows[0], "kind": "last"})
    with ctx.db.unit_of_work() as session:
        kinds = session.execute(select(Event.id, Event.kind, Event.detail).where(Event.kind.like("batch_%") | (Event.kind == "last"))
                                .order_by(Event.id)).all()
    assert [k for _, k, _ in kinds] == [f"batch_{n}" for n in range(5)] + ["last"]
    assert [d for _, _, d in kinds][:5] == [{"n": n} for n in range(5)]
    assert kinds[-1][0] == last


def test_they_belong_to_the_unit_of_work_and_go_with_its_rollback(started):
    ctx, outcome = started
    before = count_events(ctx)

    class Refused(Exception):
        pass
    with pytest.raises(Refused):
        with ctx.db.unit_of_work() as session:
            DirectInsert(Event.__table__).one(session, {
                "at": datetime(2026, 11, 2, tzinfo=timezone.utc), "kind": "rolled_back",
                "instance_id": outcome.instance, "task_id": None, "actor": None, "detail": {}})
            assert count_events(ctx, session) == before + 1     # seen inside its own transaction
            raise Refused
    assert count_events(ctx) == before


def count_events(ctx, session=None) -> int:
    if session is not None:
        return session.scalar(select(func.count()).select_from(Event))
    with ctx.db.unit_of_work() as own:
        return own.scalar(select(func.count()).select_from(Event))


def test_a_driver_error_is_sqlalchemys_error_naming_the_statement_and_loses_nothing(started):
    ctx, outcome = started
    task_id = outcome.tasks[0]["id"]
    before = count_events(ctx)
    with ctx.db.unit_of_work() as session:
        values = values_of(session, HumanTask.__table__, task_id)        # same spiff_task_id: unique
    with pytest.raises(IntegrityError) as raised:
        with ctx.db.unit_of_work() as session:
            DirectInsert(Event.__table__).one(session, {
                "at": datetime(2026, 11, 2, tzinfo=timezone.utc), "kind": "before_the_error",
                "instance_id": outcome.instance, "task_id": None, "actor": None, "detail": {}})
            DirectInsert(HumanTask.__table__).one(session, values)
    assert "INSERT INTO human_tasks" in str(raised.value) and raised.value.statement.startswith("INSERT INTO human_tasks")
    assert "spiff_task_id" in str(raised.value.orig) or "unique" in str(raised.value.orig).lower()
    assert count_events(ctx) == before        # the event inserted before it was rolled back with it
    with ctx.db.unit_of_work() as session:     # and the connection is usable again
        assert session.scalar(select(func.count()).select_from(HumanTask)) == 1


def test_several_rows_failing_name_the_statement_too(started):
    ctx, _ = started
    rows = [{"task_id": 987654321, "role_code": "education.teacher", "scope_code": VILLAGE, "org_path": "/x/",
             "username": None, "due_sort": datetime(2026, 11, 9, tzinfo=timezone.utc)}] * 2
    with pytest.raises(IntegrityError) as raised:       # no such task: the foreign key refuses
        with ctx.db.unit_of_work() as session:
            DirectInsert(TaskGrant.__table__).many(session, rows)
    assert raised.value.statement.startswith("INSERT INTO task_grants")


def test_reference_tables_are_refused_because_the_cache_would_not_see_their_writes():
    with pytest.raises(ValueError, match="org_units is reference data"):
        DirectInsert(OrgUnit.__table__)


def test_a_start_sends_the_token_read_and_one_insert_per_table(started):
    ctx, _ = started
    with statements_sent(ctx.db.engine) as sent:
        services.start_instance(ctx, "school_screening", VILLAGE, {})
    verbs = [" ".join(s.split()[:3]) for s in sent if s.split()[0].upper() not in ("BEGIN", "COMMIT")]
    # (SQLite traces each row of an executemany; a run of them is the one statement)
    verbs = [verb for n, verb in enumerate(verbs) if n == 0 or verb != verbs[n - 1]]
    assert verbs == ["SELECT token FROM", "INSERT INTO instances", "INSERT INTO human_tasks",
                     "INSERT INTO task_grants", "INSERT INTO events"], sent


def test_a_session_used_for_several_transactions_sends_each_on_its_own(started):
    """The connection is remembered per transaction: after a commit (or a savepoint rolled back)
    the next statement goes where the session's next transaction is."""
    ctx, outcome = started
    row = {"at": datetime(2026, 11, 2, tzinfo=timezone.utc), "instance_id": outcome.instance, "task_id": None,
           "actor": None, "detail": {}}
    inserting = DirectInsert(Event.__table__)
    session = ctx.db.session()
    try:
        inserting.one(session, {**row, "kind": "kept"})
        session.commit()
        inserting.one(session, {**row, "kind": "second_transaction"})
        nested = session.begin_nested()
        inserting.one(session, {**row, "kind": "in_savepoint"})
        nested.rollback()
        session.rollback()
        inserting.one(session, {**row, "kind": "third_transaction"})
        session.commit()
    finally:
        session.close()
    with ctx.db.unit_of_work() as own:
        kinds = list(own.scalars(select(Event.kind).where(Event.kind.in_(
            ["kept", "second_transaction", "in_savepoint", "third_transaction"])).order_by(Event.id)))
    assert kinds == ["kept", "third_transaction"]
