"""The separate database a forecast runs in: the source's region (org units, roles, users and
their memberships), its calendar layers and its deployed pathway versions, and nothing of its
people or instances. The simulated cohort's work is done by one synthetic user per role × org
unit (`worker`), holding that role there and nothing else."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import event, func, insert, select

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
                user = User(username=username, name=f"{role}@{org}", password_hash="!", active=True)
                session.add(user)
                session.flush()
                session.add(Membership(user_id=user.id, role_code=role, org_code=org))
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
            table = model.__table__
            order = [*table.primary_key.columns]
            if model is OrgUnit:                # a unit's parent before it
                order.insert(0, func.length(table.c.path))
            rows = reading.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
            for chunk in rows.mappings().partitions(BATCH):
                writing.execute(insert(table), [dict(row) for row in chunk])
    if target.dialect == "postgresql":
        _reset_sequences(target)


def _reset_sequences(target: Database) -> None:
    """Ids were copied, so each serial column's sequence moves past the largest."""
    from sqlalchemy import text
    with target.unit_of_work() as session:
        for model in COPIED:
            table = model.__table__
            if "id" in table.columns:
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
