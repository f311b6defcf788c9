"""Query plans on either backend: SQLite's `EXPLAIN QUERY PLAN` or PostgreSQL's `EXPLAIN`.

On PostgreSQL sequential scans are switched off for the explained statement, because on a test's
few rows a scan is the cheapest plan: the question asked here is whether an index can serve the
query at all (the benchmarks measure it at size)."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event


def explain(connection, statement: str, params=None) -> str:
    """The plan of one SQL statement (with the driver's parameters), one step per line."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET enable_seqscan = off")
        try:
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", params or ())
            return "\n".join(row[0] for row in rows)
        finally:
            connection.exec_driver_sql("RESET enable_seqscan")
    rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params or ())
    return "\n".join(row[-1] for row in rows)


def scans(plan: str, table: str) -> bool:
    """Whether the plan reads every row of `table` (SQLite `SCAN t`, PostgreSQL `Seq Scan on t`)."""
    return any(line.strip().startswith(f"SCAN {table}") or f"Seq Scan on {table}" in line
               for line in plan.splitlines())


@contextmanager
def captured_statements(engine):
    """The (SQL, parameters) of every statement `engine` runs inside the block, in order."""
    captured = []

    def listener(conn, cursor, statement, params, context, many):
        captured.append((statement, params))
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def is_postgres(connection) -> bool:
    return connection.dialect.name == "postgresql"
