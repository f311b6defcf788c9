"""到期扫描的索引加上 id / Due order: the sweep's index ends with id.

Revision ID: 0002_due_order
Revises: 0001_baseline
Create Date: 2026-11-22

The sweep reads `status = 'running' AND wake_at <= now ORDER BY wake_at, id LIMIT n`. With
`ix_instances_status_wake` on (status, wake_at) PostgreSQL sorts the matching rows; on
(status, wake_at, id) it reads them in order from the index and stops after n.
"""
from __future__ import annotations

from alembic import op

revision = "0002_due_order"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_instances_status_wake", table_name="instances")
    op.create_index("ix_instances_status_wake", "instances", ["status", "wake_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_instances_status_wake", table_name="instances")
    op.create_index("ix_instances_status_wake", "instances", ["status", "wake_at"])
