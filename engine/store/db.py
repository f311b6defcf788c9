"""Connecting to the database and bringing its schema up to date (Alembic: engine/store/migrations)."""
from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import grants as _grants  # noqa: F401  (grants follow their task's due_at)
from . import api as _api_tables  # noqa: F401  (registers the API client and idempotency tables)
from . import notify as _notify_tables  # noqa: F401  (registers the notification tables)
from . import simulations as _simulation_tables  # noqa: F401  (registers the stored forecasts)
from . import audit as _audit_tables  # noqa: F401  (registers the audit log and sign-in attempts)
from . import direct, reference
from .models import SCHEMA_VERSION


def use_wal(cursor, wait_seconds: float = 30.0) -> None:
    """Put a SQLite database in WAL mode. Changing the journal mode needs the database to itself
    and SQLite answers "database is locked" at once, without its busy handler, while another
    connection holds a lock (two processes opening a new file at once): so wait here, retrying,
    unless the database is in WAL mode already."""
    deadline = time.monotonic() + wait_seconds
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    use_wal(cursor)
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
        self.reference = reference.ReferenceCache()
        reference.install(self.engine, self._sessions, self.reference)
        direct.install(self._sessions)

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
        """Bring the schema to this CarePath's newest Alembic revision (engine/store/migrations):
        an empty database gets every revision, a database from before Alembic its hand-made
        upgrades to v5 and then the revisions, one at an unknown (newer) revision is refused
        with `SchemaError`. Safe to run again, and from two processes at once.

        Returns the legacy schema version (5, what `schema_info` holds in every database), which
        callers print; `carepath db current` tells the revision."""
        from .migrations import runner
        runner.upgrade(self)
        return SCHEMA_VERSION

    def dispose(self) -> None:
        self.engine.dispose()
