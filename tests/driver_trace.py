"""What the database receives: every statement sent on an engine's connections, SQLAlchemy's and
the ones `engine/store/direct.py` sends through the driver past SQLAlchemy's events.

SQLite: its own trace callback (the statement with its values in place, implicit BEGIN and COMMIT
included). PostgreSQL: psycopg's cursor methods, wrapped for the duration (the statement as given
to the driver, with its placeholders). Real statements on the real database either way; nothing
is stood in for.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event


@contextmanager
def statements_sent(engine) -> Iterator[list[str]]:
    """A list that fills, while inside, with each statement sent (whitespace runs made one)."""
    sent: list[str] = []

    def record(statement) -> None:
        sent.append(" ".join(str(statement).split()))

    if engine.dialect.name == "sqlite":
        traced = []

        def on_checkout(dbapi_connection, _record, _proxy) -> None:
            dbapi_connection.set_trace_callback(record)
            traced.append(dbapi_connection)
        event.listen(engine, "checkout", on_checkout)
        try:
            yield sent
        finally:
            event.remove(engine, "checkout", on_checkout)
            for dbapi_connection in traced:
                dbapi_connection.set_trace_callback(None)
        return

    import psycopg
    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany")}

    def wrapped(name):
        original = originals[name]

        def method(self, query, *args, **kwargs):
            record(query.as_string(self) if hasattr(query, "as_string") else query)
            return original(self, query, *args, **kwargs)
        return method
    for name in originals:
        setattr(psycopg.Cursor, name, wrapped(name))
    try:
        yield sent
    finally:
        for name, original in originals.items():
            setattr(psycopg.Cursor, name, original)
