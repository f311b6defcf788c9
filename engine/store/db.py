"""Connecting to the database and creating the schema."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import notify as _notify_tables  # noqa: F401  (registers the notification tables)
from .models import SCHEMA_VERSION, Base, HumanTask, Instance, SchemaInfo

_APPEND_ONLY_TABLES = ("events", "audit_log")

_APPEND_ONLY_SQLITE = [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} are append-only'); END"
    for table in _APPEND_ONLY_TABLES for verb in ("update", "delete")]


_APPEND_ONLY_POSTGRES = [
    "CREATE OR REPLACE FUNCTION carepath_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION '%% are append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql",  # %% for psycopg
] + [statement for table in _APPEND_ONLY_TABLES for statement in (
    f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION carepath_append_only()")]


# Schema v3: the care stage of a task, the indexes the supervisors' indicators read through, and
# the index from an instance to those it started (a person's journey).
# (Drafts of task forms live in a table of their own, which create_all adds.)
_V3_INDEXES = ("ix_human_tasks_status_completed", "ix_instances_process_started",
               "ix_instances_parent_instance_id")


def _upgrade_to_v3(connection) -> None:
    """Add `human_tasks.stage` and the v3 indexes to a database created before v3 (SQLite and
    PostgreSQL); what is already there is left alone, so a half-done upgrade completes."""
    columns = {column["name"] for column in inspect(connection).get_columns("human_tasks")}
    if "stage" not in columns:
        connection.exec_driver_sql("ALTER TABLE human_tasks ADD COLUMN stage VARCHAR(32)")
    for table in (HumanTask.__table__, Instance.__table__):
        for index in table.indexes:
            if index.name in _V3_INDEXES:
                index.create(connection, checkfirst=True)


def _upgrade_to_v4(connection) -> None:
    """Schema v4: the decision tables a version was deployed with (the modeler's workspace is a
    table of its own, which create_all adds)."""
    columns = {column["name"] for column in inspect(connection).get_columns("pathway_versions")}
    if "decision_sources" not in columns:
        connection.exec_driver_sql("ALTER TABLE pathway_versions ADD COLUMN decision_sources JSON")


def _upgrade_to_v5(connection) -> None:
    """Schema v5: the tiers of person data a role reads (consents, break-glass, the audit log and
    sign-in attempts are tables of their own, which create_all adds)."""
    columns = {column["name"] for column in inspect(connection).get_columns("roles")}
    if "tiers" not in columns:
        connection.exec_driver_sql("ALTER TABLE roles ADD COLUMN tiers JSON")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An engine plus a session factory for one database URL."""

    def __init__(self, url: str):
        self.url = url
        kwargs = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def sqlite_file_missing(self) -> bool:
        """True for a SQLite URL whose file does not exist yet (so reading would create it)."""
        database = self.engine.url.database
        return self.dialect == "sqlite" and bool(database) and database != ":memory:" \
            and not os.path.exists(database)

    def session(self) -> Session:
        return self._sessions()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def create_schema(self) -> int:
        """Create missing tables and record the schema version; safe to run again."""
        Base.metadata.create_all(self.engine)
        with self.unit_of_work() as session:
            statements = {"sqlite": _APPEND_ONLY_SQLITE, "postgresql": _APPEND_ONLY_POSTGRES}
            for statement in statements.get(self.dialect, []):
                session.connection().exec_driver_sql(statement)
            info = session.scalar(select(SchemaInfo))
            if info is None:
                session.add(SchemaInfo(id=1, version=SCHEMA_VERSION))
            elif info.version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"database schema v{info.version} is newer than this CarePath (v{SCHEMA_VERSION})")
            else:
                if info.version < 3:
                    _upgrade_to_v3(session.connection())
                if info.version < 4:
                    _upgrade_to_v4(session.connection())
                if info.version < 5:
                    _upgrade_to_v5(session.connection())
                info.version = SCHEMA_VERSION
        return SCHEMA_VERSION

    def dispose(self) -> None:
        self.engine.dispose()
