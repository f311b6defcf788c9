"""The separate database a forecast runs in: the source's region (org units, roles, users and
their memberships), its calendar layers and its deployed pathway versions, and nothing of its
people or instances. The simulated cohort's work is done by one synthetic user per role × org
unit (`worker`), holding that role there and nothing else."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import event

from ..store import forecast as repo
from ..store.db import Database
from ..store.models import BpmnSource, CalendarLayerRow, Membership, OrgUnit, PathwayVersion, Role, User

COPIED = (OrgUnit, Role, User, Membership, BpmnSource, PathwayVersion, CalendarLayerRow)
BATCH = 500
WORKER_PREFIX = "sim."


def worker(role: str, org: str) -> str:
    """The synthetic user who does role `role`'s tasks at unit `org` in a forecast."""
    return f"{WORKER_PREFIX}{role}@{org}"


class Sandbox:
    """A new database (a temporary SQLite file unless `url` names one, which must be empty)
    holding a copy of what a forecast needs from `source`. Removed by `close` if temporary."""

    def __init__(self, source: Database, url: str | None = None):
        self._file = None
        if url is None:
            handle, self._file = tempfile.mkstemp(prefix="carepath-sim-", suffix=".sqlite")
            os.close(handle)
            os.unlink(self._file)         # an absent file is created with the schema
            url = f"sqlite:///{self._file}"
        self.url = url
        self.db = Database(url)
        if self._file is not None:
            event.listen(self.db.engine, "connect", _disposable)
        self.db.create_schema()
        _copy(source, self.db)
        self._workers: dict[tuple[str, str], str] = {}

    def worker(self, role: str, org: str) -> str:
        """The synthetic user for role × unit, created on first use."""
        key = (role, org)
        if key not in self._workers:
            username = worker(role, org)
            with self.db.unit_of_work() as session:
                repo.add_worker(session, username, role, org)
            self._workers[key] = username
        return self._workers[key]

    def close(self) -> None:
        self.db.dispose()
        if self._file is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(self._file + suffix).unlink(missing_ok=True)


def _disposable(dbapi_connection, _record) -> None:
    """A temporary forecast database is thrown away after the run, and nothing reads it while it
    runs: commits need not wait for the disk (the engine's own statements are unchanged)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _copy(source: Database, target: Database) -> None:
    """Every row of the COPIED tables, in batches, parents first; ids kept, so the deployed
    versions' references to each other hold."""
    with source.engine.connect() as reading, target.unit_of_work() as session:
        writing = session.connection()
        for model in COPIED:
            repo.copy_table(reading, writing, model, BATCH)
    if target.dialect == "postgresql":
        _reset_sequences(target)


def _reset_sequences(target: Database) -> None:
    """Ids were copied, so each serial column's sequence moves past the largest."""
    with target.unit_of_work() as session:
        for model in COPIED:
            if "id" in model.__table__.columns:
                repo.move_id_sequence_past_rows(session, model.__table__.name)
