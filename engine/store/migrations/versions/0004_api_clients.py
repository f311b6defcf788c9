"""接口客户端与幂等键 / API clients and idempotency keys.

Revision ID: 0004_api_clients
Revises: 0003_inbox_scope
Create Date: 2026-11-23

`api_clients`: an outside system calling the REST API, as its own service user (`api:<name>`,
no usable password) with scopes and the sha256 of its token, found by the token's public prefix.
`idempotency_keys`: a caller's key for a POST, the hash of the request it came with and, once
finished, the status and response to replay; unique per (owner, key), purged by creation time;
ids never reused (AUTOINCREMENT on SQLite; PostgreSQL sequences never reuse).
Both tables are new and empty, so downgrade drops them.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_api_clients"
down_revision = "0003_inbox_scope"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("user_id"))
    op.create_index("ix_api_clients_token_prefix", "api_clients", ["token_prefix"])

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("owner", "key", name="uq_idempotency_keys_owner_key"),
        sqlite_autoincrement=True)       # ids never reused: a stale reservation cannot touch a new one
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_api_clients_token_prefix", table_name="api_clients")
    op.drop_table("api_clients")
