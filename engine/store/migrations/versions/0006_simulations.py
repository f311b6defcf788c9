"""工作量预测结果 / Stored workload forecasts.

Revision ID: 0006_simulations
Revises: 0005_message_scope
Create Date: 2026-11-25

`simulations`: one row per run of `carepath simulate` that was kept: the pathway (process id),
when and by whom it was made, the run's parameters (cohort, from, days, seed, org, staff,
branches) and its whole result as JSON, and how many seconds it took; indexed by creation time,
which the list of forecasts is ordered by. The table is new.

Downgrade drops it, but refuses while it holds a forecast: those would be lost. Delete them first
(on the /simulations page).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_simulations"
down_revision = "0005_message_scope"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "simulations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pathway", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False))
    op.create_index("ix_simulations_created_at", "simulations", ["created_at"])


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM simulations")).scalar()
    if stored:
        raise RuntimeError(
            f"还保存着 {stored} 个工作量预测结果，降级会删除它们；请先在 /simulations 删除。/ "
            f"{stored} stored workload forecast(s) would be lost by the downgrade: delete them "
            f"first (on /simulations).")
    op.drop_index("ix_simulations_created_at", table_name="simulations")
    op.drop_table("simulations")
