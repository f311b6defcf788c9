"""精简索引 / Lean indexes: fewer index writes per start and completion.

Revision ID: 0008_lean_indexes
Revises: 0007_reference_token
Create Date: 2026-11-23

Every index a row enters is one more page the commit writes (on SQLite one more WAL frame, two
write calls): a start wrote about 33 pages, most of them index leaves. This revision drops the
indexes nothing needs and narrows those over sparse columns to the rows that have a value:

- dropped, being the leading column of a wider index: `ix_instances_process_id`
  (`ix_instances_process_started`), `ix_human_tasks_instance_id` (`ix_human_tasks_instance_status`);
- dropped, read by nothing: `ix_human_tasks_due_kind` (its one query, on a calendar import, also
  filters by status, which `ix_human_tasks_status_due` serves), `ix_events_at` (events are read
  by instance, `ix_events_instance_id`, then put in time order);
- made partial (`WHERE <column> IS NOT NULL`), since queries only ever compare the column to a
  value: `ix_instances_parent_instance_id`, `ix_instances_person_id`, `ix_human_tasks_assignee`,
  `ix_human_tasks_status_completed` (the indicators' window over ended tasks), and the two inbox
  indexes, `ix_task_grants_scope_due` (role grants) and `ix_task_grants_user_due`
  (user grants): each grant row enters one of them, not both.

Only indexes change; no row is touched (a database from before Alembic that never had one of
the dropped indexes is simply without it). Downgrade puts back the full indexes. On PostgreSQL the
new indexes are built with the table locked for writes (plain CREATE INDEX, inside the migration's
transaction): run it while the workers are stopped, as every CarePath upgrade.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_lean_indexes"
down_revision = "0007_reference_token"
branch_labels = None
depends_on = None

# name: (table, columns)
DROPPED = {
    "ix_instances_process_id": ("instances", ["process_id"]),
    "ix_human_tasks_instance_id": ("human_tasks", ["instance_id"]),
    "ix_human_tasks_due_kind": ("human_tasks", ["due_kind"]),
    "ix_events_at": ("events", ["at"]),
}
# name: (table, columns, the column a row must have to be indexed)
PARTIAL = {
    "ix_instances_parent_instance_id": ("instances", ["parent_instance_id"], "parent_instance_id"),
    "ix_instances_person_id": ("instances", ["person_id"], "person_id"),
    "ix_human_tasks_assignee": ("human_tasks", ["assignee"], "assignee"),
    "ix_human_tasks_status_completed": ("human_tasks", ["status", "completed_at", "stage"], "completed_at"),
    "ix_task_grants_scope_due": ("task_grants", ["role_code", "scope_code", "due_sort", "task_id"], "role_code"),
    "ix_task_grants_user_due": ("task_grants", ["username", "due_sort", "task_id"], "username"),
}


def upgrade() -> None:
    # IF EXISTS: a database from before Alembic (schema v1-v5) may never have had some of them.
    for name, (table, _columns) in DROPPED.items():
        op.drop_index(name, table_name=table, if_exists=True)
    for name, (table, columns, present) in PARTIAL.items():
        op.drop_index(name, table_name=table, if_exists=True)
        condition = sa.text(f"{present} IS NOT NULL")
        op.create_index(name, table, columns, sqlite_where=condition, postgresql_where=condition)


def downgrade() -> None:
    for name, (table, columns, _present) in PARTIAL.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
    for name, (table, columns) in DROPPED.items():
        op.create_index(name, table, columns)
