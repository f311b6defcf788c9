"""The schema is Alembic's: an empty database upgraded to the newest revision is what the models
say (the guard that makes every schema change come with a revision); databases from before
Alembic (v5 as it shipped, and v2) upgrade with their rows; running it again, or from two
processes at once, migrates once; a failed revision leaves the database as it was; 0002 goes
down and up again; 0006 does not go down while a forecast is stored; a database from a newer
CarePath is refused; `carepath db` does the same.

On the session's backend (tests/conftest.py): SQLite, or PostgreSQL with CAREPATH_TEST_BACKEND.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from engine.context import EngineContext
from engine.directory import load_directory
from engine.pathways import deploy_files
from engine.runtime import services
from engine.settings import Settings
from engine.store.db import Database
from engine.store.migrations import runner
from engine.store.models import Base

from conftest import BPMN, DATA, ROOT, T0, Cli

REVISIONS = ["0001_baseline", "0002_due_order", "0003_inbox_scope", "0004_api_clients", "0005_message_scope",
             "0006_simulations", "0007_reference_token", "0008_lean_indexes"]
AFTER_V5 = {"api_clients", "idempotency_keys", "simulations", "reference_token"}     # tables no pre-Alembic CarePath had
AFTER_V5_COLUMNS = {"messages": ("scope_path", "sent_by")}     # columns of tables it had
HEAD = REVISIONS[-1]
VILLAGE = "510781001001"

# What CarePath v5 ran on every start before Alembic: its append-only triggers.
SHIPPED_TRIGGERS = {
    "sqlite": [f"CREATE TRIGGER IF NOT EXISTS {t}_no_{v} BEFORE {v.upper()} ON {t} "
               f"BEGIN SELECT RAISE(ABORT, '{t} are append-only'); END"
               for t in ("events", "audit_log") for v in ("update", "delete")],
    "postgresql": ["CREATE OR REPLACE FUNCTION carepath_append_only() RETURNS trigger AS $$ "
                   "BEGIN RAISE EXCEPTION '%% are append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"]
                  + [f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {t} "
                     "FOR EACH STATEMENT EXECUTE FUNCTION carepath_append_only()" for t in ("events", "audit_log")],
}


def differences(db: Database) -> list:
    """What autogenerate would write into a new revision: nothing when migrations and models agree."""
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def revision_of(db: Database) -> str | None:
    with db.engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def index_columns(db: Database, table: str, name: str) -> list[str]:
    return next(i["column_names"] for i in inspect(db.engine).get_indexes(table) if i["name"] == name)


def tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def assert_append_only(db: Database, table: str) -> None:
    """A row goes in; deleting it is refused (SQLite's triggers are per row: the table needs one)."""
    kind = {"events": "kind", "audit_log": "action"}[table]
    with db.engine.begin() as connection:
        connection.execute(text(f"INSERT INTO {table} (at, {kind}, detail) VALUES (:at, 'probe', '{{}}')"),
                           {"at": T0.replace(tzinfo=None)})
    with db.engine.connect() as connection:
        with pytest.raises(DatabaseError, match=f"{table} are append-only"):
            connection.exec_driver_sql(f"DELETE FROM {table}")


def shipped_v5(url: str) -> Database:
    """A database as CarePath v5 created it before Alembic: create_all, its triggers, schema_info
    at 5, the sweep's index on (status, wake_at) as it was then; with the test directory, a
    deployed pathway and two started instances in it."""
    db = Database(url)
    Base.metadata.create_all(db.engine, tables=[t for t in Base.metadata.sorted_tables if t.name not in AFTER_V5])
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_instances_status_wake")
        connection.exec_driver_sql("CREATE INDEX ix_instances_status_wake ON instances (status, wake_at)")
        for table, columns in AFTER_V5_COLUMNS.items():
            for column in columns:
                connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        for statement in SHIPPED_TRIGGERS[db.dialect]:
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql("INSERT INTO schema_info (id, version) VALUES (1, 5)")
    engine = EngineContext(Settings(database_url=url), now=T0, db=db)
    load_directory(db, DATA / "directory.yaml")
    deploy_files(engine, [BPMN / "scored_referral.bpmn"])
    for _ in range(2):
        services.start_instance(engine, "scored_referral", VILLAGE, {})
    return db


def make_v2(db: Database) -> None:
    """Take a shipped v5 database back to v2: what v3, v4 and v5 added goes."""
    with db.engine.begin() as connection:
        for statement in (
                "DROP INDEX ix_human_tasks_status_completed", "DROP INDEX ix_instances_process_started",
                "ALTER TABLE human_tasks DROP COLUMN stage",
                "ALTER TABLE pathway_versions DROP COLUMN decision_sources",
                "ALTER TABLE roles DROP COLUMN tiers", "DROP TABLE workspace_files", "DROP TABLE consents",
                "DROP TABLE break_glass", "DROP TABLE audit_log", "DROP TABLE login_attempts",
                "UPDATE schema_info SET version = 2"):
            connection.exec_driver_sql(statement)


def rows(db: Database) -> dict[str, list[tuple]]:
    queries = {
        "users": "SELECT id, username, password_hash FROM users ORDER BY id",
        "org_units": "SELECT code, path FROM org_units ORDER BY code",
        "pathway_versions": "SELECT id, process_id, version FROM pathway_versions ORDER BY id",
        "instances": "SELECT id, process_id, status, state, lock_version FROM instances ORDER BY id",
        "human_tasks": "SELECT id, instance_id, element, status, org_path, due_at FROM human_tasks ORDER BY id",
        "events": "SELECT id, kind, instance_id FROM events ORDER BY id",
    }
    with db.engine.connect() as connection:
        return {name: [tuple(r) for r in connection.execute(text(sql))] for name, sql in queries.items()}


# --- an empty database ---------------------------------------------------------------------------

def test_an_empty_database_upgraded_to_head_is_what_the_models_say(db_url):
    db = Database(db_url)
    report = runner.upgrade(db)
    assert (report.from_revision, report.revision, report.applied) == (None, HEAD, REVISIONS)
    assert differences(db) == []
    assert index_columns(db, "instances", "ix_instances_status_wake") == ["status", "wake_at", "id"]
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT id, version FROM schema_info")).all() == [(1, 5)]
    assert_append_only(db, "events")
    assert_append_only(db, "audit_log")
    db.dispose()


def test_running_it_again_changes_nothing(db_url):
    db = Database(db_url)
    assert db.create_schema() == 5
    with db.engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO roles (code, name) VALUES ('health.nurse', '护士')")
    assert db.create_schema() == 5
    assert runner.upgrade(db).applied == []
    assert revision_of(db) == HEAD
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT code FROM roles")).scalars().all() == ["health.nurse"]
    db.dispose()


# --- databases from before Alembic -----------------------------------------------------------------

def test_a_v5_database_as_it_shipped_upgrades_with_its_rows(db_url):
    db = shipped_v5(db_url)
    before = rows(db)
    assert len(before["instances"]) == 2 and len(before["human_tasks"]) == 2 and before["users"]
    assert runner.status(db).state == "legacy"

    report = runner.upgrade(db)
    assert (report.legacy_version, report.applied, report.revision) == (5, REVISIONS, HEAD)
    assert rows(db) == before
    assert differences(db) == []
    assert index_columns(db, "instances", "ix_instances_status_wake") == ["status", "wake_at", "id"]
    assert_append_only(db, "events")
    db.dispose()


def test_a_v2_database_upgrades_with_its_rows_and_gets_what_it_lacked(db_url):
    db = shipped_v5(db_url)
    make_v2(db)
    before = rows(db)
    assert "audit_log" not in tables(db)

    assert db.create_schema() == 5
    assert rows(db) == before
    assert differences(db) == []            # columns, indexes and tables of v3 to v5, then 0002
    assert revision_of(db) == HEAD
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_info")).scalar() == 5
        assert connection.execute(text("SELECT stage FROM human_tasks")).scalars().all() == [None, None]
    assert_append_only(db, "audit_log")     # a table the baseline created in legacy mode, trigger included
    db.dispose()


def test_a_failed_revision_leaves_the_database_as_it_was(db_url):
    """A v2 database whose sweep index someone dropped: the hand-made upgrades and the baseline
    run, then 0002 cannot drop the index; all of it is rolled back."""
    db = shipped_v5(db_url)
    make_v2(db)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_instances_status_wake")
    before_tables, before_rows = tables(db), rows(db)

    with pytest.raises(runner.SchemaError) as raised:
        db.create_schema()
    message = str(raised.value)
    assert "0002_due_order" in message and "ix_instances_status_wake" in message, message
    assert "数据库保持原样" in message and "left as it was" in message
    assert tables(db) == before_tables                                  # no alembic_version, no audit_log
    assert "stage" not in {c["name"] for c in inspect(db.engine).get_columns("human_tasks")}
    assert rows(db) == before_rows
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_info")).scalar() == 2
    db.dispose()


# --- two processes at once -------------------------------------------------------------------------

STARTER = """
import logging, os, sys, time
logging.basicConfig(level=logging.INFO, format="%(message)s")
from engine.store.db import Database
db = Database(sys.argv[1])
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.002)
print(db.create_schema())
"""


def test_two_processes_starting_at_once_migrate_once(db_url, tmp_path):
    go = tmp_path / "go"
    starters = [subprocess.Popen([sys.executable, "-c", STARTER, db_url, str(tmp_path / f"ready{n}"), str(go)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for n in range(2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{n}").exists() for n in range(2)):
        assert time.monotonic() < deadline and all(s.poll() is None for s in starters), "starters did not start"
        time.sleep(0.01)
    go.touch()
    outputs = [s.communicate(timeout=120) for s in starters]
    assert [s.returncode for s in starters] == [0, 0], outputs
    assert [out.strip() for out, _ in outputs] == ["5", "5"]
    ran = [err.count("Running upgrade") for _, err in outputs]
    assert sorted(ran) == [0, len(REVISIONS)], outputs       # one migrated, the other found it done
    db = Database(db_url)
    assert revision_of(db) == HEAD and differences(db) == []
    db.dispose()


# --- down and up, and a newer database ---------------------------------------------------------------

def test_0002_goes_down_and_up_again_and_the_baseline_stays(db_url):
    db = Database(db_url)
    runner.upgrade(db)
    assert runner.downgrade(db, "0001_baseline") == [
        "0008_lean_indexes", "0007_reference_token", "0006_simulations", "0005_message_scope", "0004_api_clients",
        "0003_inbox_scope", "0002_due_order"]
    assert revision_of(db) == "0001_baseline"
    assert index_columns(db, "instances", "ix_instances_status_wake") == ["status", "wake_at"]
    assert {d[0] for d in differences(db)} == {"remove_index", "add_index", "add_column", "add_table"}   # the guard sees it
    assert runner.status(db).pending == REVISIONS[1:]

    assert runner.upgrade(db).applied == REVISIONS[1:]
    assert differences(db) == []
    with pytest.raises(runner.SchemaError, match="0001_baseline.*baseline is not undone"):
        runner.downgrade(db, "base")
    assert revision_of(db) == HEAD and "instances" in tables(db)
    db.dispose()


def test_0006_is_not_undone_while_a_forecast_is_stored(db_url):
    db = Database(db_url)
    runner.upgrade(db)
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO simulations (pathway, created_at, params, result, seconds) "
                                "VALUES ('school_screening', :at, '{}', '{}', 1.5)"), {"at": T0.replace(tzinfo=None)})
    with pytest.raises(runner.SchemaError, match="0006_simulations.*1 stored workload forecast"):
        runner.downgrade(db, "0005_message_scope")
    assert revision_of(db) == HEAD and "simulations" in tables(db)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM simulations")
    assert runner.downgrade(db, "0005_message_scope") == ["0008_lean_indexes", "0007_reference_token",
                                                          "0006_simulations"]
    assert "simulations" not in tables(db)
    assert runner.upgrade(db).applied == ["0006_simulations", "0007_reference_token", "0008_lean_indexes"]
    assert differences(db) == []
    db.dispose()


def index_definition(db: Database, name: str) -> str | None:
    """How the database itself states an index (its CREATE INDEX), or None without it."""
    if db.dialect == "postgresql":
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    else:
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    with db.engine.connect() as connection:
        return connection.execute(text(query), {"name": name}).scalar()


LEANED = {"ix_instances_parent_instance_id": "parent_instance_id", "ix_instances_person_id": "person_id",
          "ix_human_tasks_assignee": "assignee", "ix_human_tasks_status_completed": "completed_at",
          "ix_task_grants_scope_due": "role_code",
          "ix_task_grants_user_due": "username"}
DROPPED_BY_0008 = ["ix_instances_process_id", "ix_human_tasks_instance_id", "ix_human_tasks_due_kind", "ix_events_at"]


def test_0008_keeps_only_indexed_rows_that_have_a_value_and_goes_down_and_up(db_url):
    db = Database(db_url)
    runner.upgrade(db)
    for name, column in LEANED.items():
        definition = index_definition(db, name)
        assert definition is not None and "WHERE" in definition.upper(), definition
        assert f"{column} IS NOT NULL" in definition.replace("(", "").replace(")", ""), definition
    assert [index_definition(db, name) for name in DROPPED_BY_0008] == [None] * 4

    assert runner.downgrade(db, "0007_reference_token") == ["0008_lean_indexes"]
    for name in LEANED:
        assert "WHERE" not in index_definition(db, name).upper()
    assert all(index_definition(db, name) for name in DROPPED_BY_0008)
    assert runner.upgrade(db).applied == ["0008_lean_indexes"] and differences(db) == []
    assert all("WHERE" in index_definition(db, name).upper() for name in LEANED)
    db.dispose()


def test_a_database_from_a_newer_carepath_is_refused(db_url):
    db = Database(db_url)
    db.create_schema()
    with db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0009_from_the_future'")
    with pytest.raises(runner.SchemaError) as raised:
        db.create_schema()
    message = str(raised.value)
    assert ("数据库结构版本 0009_from_the_future 不是此版本 CarePath 所知的版本"
            "（本版最新为 0008_lean_indexes）") in message
    assert ("revision 0009_from_the_future, which this CarePath does not know "
            "(its newest is 0008_lean_indexes)") in message
    assert revision_of(db) == "0009_from_the_future"
    assert runner.status(db).state == "unknown"
    db.dispose()


# --- the command line --------------------------------------------------------------------------------

def test_carepath_db_current_upgrade_and_history(db_url):
    cli = Cli(db_url)
    empty = cli.json("db", "current")
    assert empty == {"database": Database(db_url).dialect, "revision": None, "head": HEAD, "state": "empty",
                     "legacy_version": None, "pending": REVISIONS}
    sql = cli.run("db", "upgrade", "--sql").stdout
    assert "CREATE TABLE human_tasks" in sql
    assert "CREATE INDEX ix_instances_status_wake ON instances (status, wake_at, id)" in sql
    assert cli.json("db", "current")["state"] == "empty"        # --sql changed nothing

    upgraded = cli.json("db", "upgrade")
    assert (upgraded["from_revision"], upgraded["revision"], upgraded["applied"]) == (None, HEAD, REVISIONS)
    assert cli.run("db", "upgrade").stdout.startswith(f"数据库结构已是最新：{HEAD}")
    assert cli.json("db", "current") | {"database": None} == {
        "database": None, "revision": HEAD, "head": HEAD, "state": "current", "legacy_version": 5, "pending": []}
    assert [(r["revision"], r["current"]) for r in cli.json("db", "history")] == [
        ("0001_baseline", False), ("0002_due_order", False), ("0003_inbox_scope", False),
        ("0004_api_clients", False), ("0005_message_scope", False), ("0006_simulations", False),
        ("0007_reference_token", False), ("0008_lean_indexes", True)]
    human = cli.run("db", "current").stdout
    assert f"当前结构版本: {HEAD}" in human and "状态: 已是最新" in human

    db = Database(db_url)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0009_from_the_future'")
    db.dispose()
    refused = cli.run("db", "upgrade", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("错误[schema]: 数据库结构版本 0009_from_the_future"), refused.stderr
    assert HEAD in refused.stderr
    assert cli.run("init", check=False).returncode == 1
