"""Reference data (deployed pathway versions, org units, roles, calendar layers) kept in memory
for the whole process, and checked with one read per unit of work.

Every start, completion and sweep reads these tables; they change only when an analyst deploys,
the directory is loaded or edited, or a calendar is imported. Each database holds one row,
`reference_token`, whose token the database itself replaces whenever any of them changes (row
triggers on SQLite, statement triggers on PostgreSQL, TRUNCATE included: Alembic 0007), so every
writer in every process moves it, raw SQL too. A unit of work reads the token once; lookups are
then answered from the process's copy made under that token, and read from the database (and
kept) only the first time.

A transaction that has itself changed one of the tables holds a token nobody else can see, and
rows that may still be rolled back: from that statement until it ends, its lookups read the
database directly and keep nothing (`watch_writes` notices such statements on the connection).
"""
from __future__ import annotations

import re
from threading import Lock

from sqlalchemy import Column, Integer, String, Table, event, inspect

from .direct import connection_of, read_scalar
from .models import Base

REFERENCE_TABLES = ("pathway_versions", "org_units", "roles", "calendar_layers")

reference_token = Table(
    "reference_token", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("token", String(32), nullable=False))

_READ_TOKEN = "SELECT token FROM reference_token WHERE id = 1"      # through the driver (direct.py)

# session.info / connection.info keys
_CACHE = "reference_cache"            # the Database's ReferenceCache (sessions it makes carry it)
_SNAPSHOT = "reference_snapshot"      # the Snapshot this unit of work reads through
_WRITTEN = "reference_written"        # connection.info: this transaction changed reference data

_WRITTEN_TABLE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+"?(\w+)',
                            re.IGNORECASE)
MISSING = object()


class Snapshot:
    """What has been read under one token: each a dict filled as lookups ask, shared by every
    unit of work that reads the same token. Values are rows and tuples: never changed in place."""
    __slots__ = ("token", "versions", "units", "roles")

    def __init__(self, token: str):
        self.token = token
        self.versions: dict = {}
        self.units: dict = {}
        self.roles: dict = {}


class ReferenceCache:
    """One database's snapshot for the newest token seen (an older one is simply dropped).
    `available` is asked once; the migration runner sets it back to None after an upgrade."""

    def __init__(self):
        self._lock = Lock()
        self._current: Snapshot | None = None
        self.available: bool | None = None     # has the database the token? (None: not yet asked)

    def reset(self) -> None:
        with self._lock:
            self._current, self.available = None, None

    def snapshot_for(self, token: str) -> Snapshot:
        with self._lock:
            if self._current is None or self._current.token != token:
                self._current = Snapshot(token)
            return self._current


def install(engine, sessions, cache: ReferenceCache) -> None:
    """Give every session `sessions` makes the cache, forget a session's snapshot when its
    transaction ends, and watch `engine` for statements that change reference data."""
    sessions.configure(info={_CACHE: cache})
    event.listen(sessions, "after_transaction_end", _forget)
    event.listen(engine, "after_cursor_execute", _watch_writes)
    for ended in ("commit", "rollback"):
        event.listen(engine, ended, _clear_written)
    event.listen(engine, "reset", _clear_written_on_reset)     # back to the pool, however it ended


def _forget(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_SNAPSHOT, None)


def _watch_writes(connection, _cursor, statement, _parameters, _context, _executemany) -> None:
    if statement[:1] in "Ss(W":       # SELECT and WITH: reading
        return
    written = _WRITTEN_TABLE.match(statement)
    if written is not None and written.group(1).lower() in REFERENCE_TABLES:
        connection.info[_WRITTEN] = True


def _clear_written(connection) -> None:
    connection.info.pop(_WRITTEN, None)


def _clear_written_on_reset(_dbapi_connection, record, _reset_state) -> None:
    record.info.pop(_WRITTEN, None)


def snapshot(session) -> Snapshot | None:
    """The snapshot this unit of work reads through; None where lookups must read the database:
    a session not made by a `Database`, or a transaction that changed reference data."""
    info = session.info
    found = info.get(_SNAPSHOT)
    if found is not None:
        return None if connection_of(session).info.get(_WRITTEN) else found
    cache = info.get(_CACHE)
    if cache is None or cache.available is False:
        return None
    connection = connection_of(session)
    if connection.info.get(_WRITTEN):
        return None
    if cache.available is None:     # a database not yet upgraded to 0007 is read directly
        cache.available = inspect(connection).has_table(reference_token.name)
        if not cache.available:
            return None
    token = read_scalar(session, _READ_TOKEN)
    if token is None:
        return None
    found = info[_SNAPSHOT] = cache.snapshot_for(token)
    return found


def cached(session, table: str, key, read):
    """`read()` for `key` of `table` ("versions", "units" or "roles"), from this unit of work's snapshot
    when it has one (kept there the first time)."""
    found = snapshot(session)
    if found is None:
        return read()
    values = getattr(found, table)
    value = values.get(key, MISSING)
    if value is MISSING:
        value = values[key] = read()
    return value
