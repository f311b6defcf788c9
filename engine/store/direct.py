"""The hot inserts, sent straight to the database driver on the session's own connection.

Every start and completion inserts rows of four tables (`instances`, `human_tasks`, `task_grants`,
`events`), and every unit of work reads the reference token. Through SQLAlchemy's `execute` each
statement costs 20–40 µs of per-statement machinery (cache key, execution context, result set-up,
events) on top of the driver's few microseconds, which is most of a start's time in the database.

Here SQLAlchemy still writes the SQL and converts the values (each statement is compiled once per
dialect and column set, and every value goes through its column type's own bind processor, so
the stored bytes are the ones `execute` would store); only the sending is done here, on the DBAPI
connection of the session's transaction. A driver error comes back as SQLAlchemy's own exception
(`IntegrityError`, `OperationalError`, ...) naming the statement, as from `execute`.

SQLAlchemy's engine events do not see these statements, so they are kept to tables the
reference cache need not watch (`reference.REFERENCE_TABLES` are refused).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from sqlalchemy import Table, event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


_CONNECTION = "direct_connection"      # session.info: the connection of its transaction


def install(sessions) -> None:
    """Let sessions `sessions` makes remember their transaction's connection as it begins (and
    forget it as it ends), so the statements here skip `Session.connection()`'s look-up (several
    microseconds, asked several times per start)."""
    event.listen(sessions, "after_begin", _remember)
    event.listen(sessions, "after_transaction_end", _forget)


def _remember(session, transaction, connection) -> None:
    if transaction.parent is None:
        session.info[_CONNECTION] = connection


def _forget(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CONNECTION, None)


def connection_of(session: Session):
    """The session's connection in its transaction (begun if need be): `session.connection()`."""
    found = session.info.get(_CONNECTION)
    return found if found is not None else session.connection()


class _Compiled:
    """One INSERT for one dialect and column set: its SQL, whether its values go by position or by
    name, their order, and each column's bind processor."""
    __slots__ = ("sql", "positional", "keys", "processors")

    def __init__(self, statement, dialect, keys: tuple[str, ...]):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        table = statement.table
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        names = compiled.positiontup if self.positional else list(compiled.binds)
        if sorted(names) != sorted(keys):
            raise ValueError(f"{table.name}: parameters {sorted(names)} are not the columns {sorted(keys)}")
        self.keys = tuple(names)
        self.processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            table.c[key].type.dialect_impl(dialect).bind_processor(dialect) for key in self.keys)

    def parameters(self, row: dict) -> tuple | dict:
        values = [row[key] if process is None else process(row[key])
                  for key, process in zip(self.keys, self.processors)]
        return tuple(values) if self.positional else dict(zip(self.keys, values))


class DirectInsert:
    """INSERT into `table` through the driver: `one(session, row)` returns the new row's primary
    key, `many(session, rows)` inserts rows that all have the same columns. A row is a dict by
    column key; columns it leaves out get no value (their server default or NULL, not the
    column's Python-side default: give those)."""

    def __init__(self, table: Table):
        from .reference import REFERENCE_TABLES     # (reference reads its token through here)
        if table.name in REFERENCE_TABLES:
            raise ValueError(f"{table.name} is reference data: its writes must be seen by the reference cache")
        self.table = table
        (self._key,) = table.primary_key.columns
        self._compiled: dict[tuple, _Compiled] = {}

    def one(self, session: Session, row: dict) -> Any:
        """Insert `row`; its primary key as the database gave it."""
        connection = connection_of(session)
        dialect = connection.dialect
        compiled = self._for(dialect, tuple(row), returning=dialect.insert_returning)
        parameters = compiled.parameters(row)
        cursor = connection.connection.cursor()
        try:
            _send(cursor.execute, compiled.sql, parameters, dialect)
            return cursor.fetchone()[0] if dialect.insert_returning else cursor.lastrowid
        finally:
            cursor.close()

    def many(self, session: Session, rows: Sequence[dict]) -> None:
        """Insert `rows` (each with the same columns) in one `executemany`."""
        if not rows:
            return
        connection = connection_of(session)
        dialect = connection.dialect
        compiled = self._for(dialect, tuple(rows[0]), returning=False)
        parameters = [compiled.parameters(row) for row in rows]
        cursor = connection.connection.cursor()
        try:
            if len(parameters) == 1:
                _send(cursor.execute, compiled.sql, parameters[0], dialect)
            else:
                _send(cursor.executemany, compiled.sql, parameters, dialect)
        finally:
            cursor.close()

    def _for(self, dialect, keys: tuple[str, ...], returning: bool) -> _Compiled:
        cache_key = (type(dialect), dialect.paramstyle, keys, returning)     # (not per engine: no growth)
        found = self._compiled.get(cache_key)
        if found is None:
            statement = insert(self.table)
            if returning:
                statement = statement.returning(self._key)
            found = self._compiled[cache_key] = _Compiled(statement, dialect, keys)
        return found


def read_scalar(session: Session, sql: str) -> Any:
    """The first column of the first row of `sql` (a fixed query without parameters, run on the
    session's connection through the driver), or None when it returns no row."""
    connection = connection_of(session)
    cursor = connection.connection.cursor()
    try:
        _send(cursor.execute, sql, (), connection.dialect)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else row[0]


def _send(method, sql: str, parameters, dialect) -> None:
    dbapi = dialect.loaded_dbapi
    try:
        method(sql, parameters)
    except dbapi.Error as err:
        raise DBAPIError.instance(sql, parameters, err, dbapi.Error, dialect=dialect,
                                  ismulti=method.__name__ == "executemany") from err
