"""参考数据令牌 / The reference data's token.

Revision ID: 0007_reference_token
Revises: 0006_simulations
Create Date: 2026-11-23

`reference_token`: one row (id 1) whose token changes whenever a row of `pathway_versions`,
`org_units`, `roles` or `calendar_layers` is inserted, updated or deleted (or, on PostgreSQL, the
table truncated). The database changes it, by trigger (SQLite: one per row and verb; PostgreSQL:
one per statement), so no writer can forget to. Each process keeps those tables in memory and
reads only the token per unit of work (engine/store/reference.py). The token is random, never a
counter: a change rolled back must not leave a token that a later change could repeat.

Downgrade drops the triggers, the function and the table; nothing is lost (the token is derived).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_reference_token"
down_revision = "0006_simulations"
branch_labels = None
depends_on = None

TABLES = ("pathway_versions", "org_units", "roles", "calendar_layers")
VERBS = ("insert", "update", "delete")
NEW_TOKEN = {"sqlite": "lower(hex(randomblob(16)))",
             "postgresql": "md5(random()::text || clock_timestamp()::text)"}


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.create_table(
        "reference_token",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(length=32), nullable=False))
    op.execute(f"INSERT INTO reference_token (id, token) VALUES (1, {NEW_TOKEN[dialect]})")
    change = f"UPDATE reference_token SET token = {NEW_TOKEN[dialect]} WHERE id = 1"
    if dialect == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(f"CREATE TRIGGER {table}_reference_{verb} AFTER {verb.upper()} ON {table} "
                           f"BEGIN {change}; END")
    elif dialect == "postgresql":
        op.execute("CREATE OR REPLACE FUNCTION carepath_reference_changed() RETURNS trigger AS $$ "
                   f"BEGIN {change}; RETURN NULL; END $$ LANGUAGE plpgsql")
        for table in TABLES:
            op.execute(f"CREATE TRIGGER {table}_reference AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION carepath_reference_changed()")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for table in TABLES:
            for verb in VERBS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_reference_{verb}")
    elif dialect == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_reference ON {table}")
        op.execute("DROP FUNCTION IF EXISTS carepath_reference_changed()")
    op.drop_table("reference_token")
