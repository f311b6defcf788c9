"""Databases from before Alembic: `schema_info.version` 1 to 5, upgraded by hand.

`bring_to_v5` does what `create_schema()` did to them: the columns and indexes added to tables
they already have. The tables they lack are then created by the baseline revision, run in its
legacy mode (it creates only what is missing), which is the v5 schema; from there on Alembic
owns the schema. Every statement here is written out (no model objects): what v3, v4 and v5
added must stay what it was when the models move on.

`schema_info` is legacy: it stays at 5 in every database and nothing reads it but the refusal
of a database that claims a newer hand-made version.
"""
from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

LEGACY_VERSION = 5

# Schema v3: the care stage of a task, the indexes the supervisors' indicators read through, and
# the index from an instance to those it started (a person's journey).
_V3_INDEXES = {
    "ix_human_tasks_status_completed": ("human_tasks", ("status", "completed_at", "stage")),
    "ix_instances_process_started": ("instances", ("process_id", "started_at")),
    "ix_instances_parent_instance_id": ("instances", ("parent_instance_id",)),
}


def _columns(connection: Connection, table: str) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns(table)}


def _add_column(connection: Connection, table: str, column: str, ddl_type: str) -> None:
    if column not in _columns(connection, table):
        connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl_type}")


def _upgrade_to_v3(connection: Connection) -> None:
    """Add `human_tasks.stage` and the v3 indexes; what is already there is left alone, so a
    half-done upgrade completes."""
    _add_column(connection, "human_tasks", "stage", "VARCHAR(32)")
    for name, (table, columns) in _V3_INDEXES.items():
        if name not in {index["name"] for index in inspect(connection).get_indexes(table)}:
            connection.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})")


def _upgrade_to_v4(connection: Connection) -> None:
    """Schema v4: the decision tables a version was deployed with (the modeler's workspace is a
    table of its own, which the baseline adds)."""
    _add_column(connection, "pathway_versions", "decision_sources", "JSON")


def _upgrade_to_v5(connection: Connection) -> None:
    """Schema v5: the tiers of person data a role reads (consents, break-glass, the audit log and
    sign-in attempts are tables of their own, which the baseline adds)."""
    _add_column(connection, "roles", "tiers", "JSON")


def legacy_version(connection: Connection) -> int | None:
    """`schema_info.version`, or None for a database without that table (or row)."""
    if "schema_info" not in inspect(connection).get_table_names():
        return None
    return connection.execute(text("SELECT max(version) FROM schema_info")).scalar()


def bring_to_v5(connection: Connection, version: int) -> None:
    """The hand-made upgrades from `version` (1 to 5) to v5, in the caller's transaction."""
    if version < 3:
        _upgrade_to_v3(connection)
    if version < 4:
        _upgrade_to_v4(connection)
    if version < 5:
        _upgrade_to_v5(connection)
    connection.execute(text("UPDATE schema_info SET version = :version"), {"version": LEGACY_VERSION})
