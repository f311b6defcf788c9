"""外部系统消息的辖区范围 / Message scope: an outside system's messages stay in its jurisdiction.

Revision ID: 0005_message_scope
Revises: 0004_api_clients
Create Date: 2026-11-24

`messages.scope_path`: the org path of the unit an outside system (an API client, or a user
through the API) sent the message for; it is delivered only to an instance whose unit lies at or
below that path, and starts a pathway only at such a unit. NULL for a message an instance threw,
delivered anywhere as before. `messages.sent_by`: who sent it from outside (its user), the only
caller who may read its status back. Both columns are new and nullable: existing messages keep
their rows and mean what they meant.

Downgrade drops both columns, keeping every message row, but refuses while a message sent from
outside is still pending: without its scope an older CarePath would deliver it outside the
sender's jurisdiction. Deliver or remove those first.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_message_scope"
down_revision = "0004_api_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("scope_path", sa.String(length=400), nullable=True))
    op.add_column("messages", sa.Column("sent_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    pending = op.get_bind().execute(sa.text(
        "SELECT COUNT(*) FROM messages WHERE scope_path IS NOT NULL AND status = 'pending'")).scalar()
    if pending:
        raise RuntimeError(
            f"还有 {pending} 条外部系统发送的消息待投递，降级会丢失其辖区范围，使旧版在辖区外投递它们；"
            f"请先处理这些消息。/ {pending} message(s) sent from outside are still pending: without "
            f"their scope an older CarePath would deliver them outside the sender's jurisdiction.")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("sent_by")
        batch.drop_column("scope_path")
