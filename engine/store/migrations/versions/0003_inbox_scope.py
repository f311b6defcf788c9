"""收件箱按机构范围授权 / Inbox scope: grants per covering unit, ordered by deadline.

Revision ID: 0003_inbox_scope
Revises: 0002_due_order
Create Date: 2026-11-22

The inbox used to find tasks by `org_path LIKE '<membership path>%'`, then sort every visible task
(tens of thousands for a township role) to show 50. Now a grant row exists per (candidate role,
unit covering the task): the task's own unit and every unit above it (`scope_code`), each with
`due_sort` (the deadline, or 9999-12-31 for none); so a membership's inbox is one range of
(role_code, scope_code, due_sort, task_id), read in order and cut after a page. A claimed task
has only its assignee's row; a finished one none.

Grant rows are derived data: the table is rebuilt, and its rows made again from `human_tasks`
(candidate roles × the codes of the task's org path, candidate users, assignee). Downgrade
rebuilds the old shape the same way, so nothing is lost either way.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_inbox_scope"
down_revision = "0002_due_order"
branch_labels = None
depends_on = None

NO_DEADLINE = {"sqlite": "'9999-12-31 00:00:00.000000'", "postgresql": "TIMESTAMP '9999-12-31 00:00:00'"}


def _dialect() -> str:
    return op.get_context().dialect.name


def _elements(column: str, alias: str) -> str:
    """A FROM item with one row (`<alias>.value`) per string in a JSON array column; nothing
    when the column is not an array."""
    if _dialect() == "postgresql":
        return (f"CROSS JOIN LATERAL json_array_elements_text(CASE WHEN json_typeof({column}) = 'array' "
                f"THEN {column} ELSE '[]'::json END) AS {alias}(value)")
    return (f"CROSS JOIN json_each(CASE WHEN json_type({column}) = 'array' "
            f"THEN {column} ELSE '[]' END) AS {alias}")


def _segments() -> str:
    """A recursive CTE `seg(task_id, rest, scope)`: one row per unit code in an open task's path
    (`/510000/510700/` gives 510000 and 510700)."""
    find = "strpos" if _dialect() == "postgresql" else "instr"
    return (
        "WITH RECURSIVE seg(task_id, rest, scope) AS ("
        " SELECT id, CAST(substr(org_path, 2) AS TEXT), CAST(NULL AS TEXT) FROM human_tasks"
        " WHERE status = 'open'"
        " UNION ALL"
        f" SELECT task_id, CAST(substr(rest, {find}(rest, '/') + 1) AS TEXT),"
        f" CAST(substr(rest, 1, {find}(rest, '/') - 1) AS TEXT)"
        f" FROM seg WHERE {find}(rest, '/') > 0)")


def _grants_table(scoped: bool) -> None:
    columns = [sa.Column("id", sa.Integer(), primary_key=True),
               sa.Column("task_id", sa.Integer(), sa.ForeignKey("human_tasks.id"), nullable=False),
               sa.Column("role_code", sa.String(length=100))]
    if scoped:
        columns.append(sa.Column("scope_code", sa.String(length=32)))
    columns += [sa.Column("org_path", sa.String(length=400)), sa.Column("username", sa.String(length=100))]
    if scoped:
        columns.append(sa.Column("due_sort", sa.DateTime(), nullable=False))
    op.create_table("task_grants", *columns)
    op.create_index("ix_task_grants_task_id", "task_grants", ["task_id"])
    if scoped:
        op.create_index("ix_task_grants_scope_due", "task_grants", ["role_code", "scope_code", "due_sort", "task_id"])
        op.create_index("ix_task_grants_user_due", "task_grants", ["username", "due_sort", "task_id"])
    else:
        op.create_index("ix_task_grants_role_path", "task_grants", ["role_code", "org_path"])
        op.create_index("ix_task_grants_username", "task_grants", ["username"])


def upgrade() -> None:
    op.drop_table("task_grants")
    _grants_table(scoped=True)
    due = f"COALESCE(h.due_at, {NO_DEADLINE[_dialect()]})"
    # open: each candidate role at every unit of the task's path
    op.execute(
        f"{_segments()} INSERT INTO task_grants (task_id, role_code, scope_code, org_path, due_sort)"
        f" SELECT DISTINCT h.id, r.value, seg.scope, h.org_path, {due}"
        f" FROM human_tasks h JOIN seg ON seg.task_id = h.id {_elements('h.candidate_roles', 'r')}"
        " WHERE h.status = 'open' AND seg.scope IS NOT NULL AND seg.scope <> '' AND r.value IS NOT NULL")
    # open: each candidate user (and an assignee, should an open task have one)
    op.execute(
        f"INSERT INTO task_grants (task_id, username, due_sort)"
        f" SELECT h.id, u.value, {due} FROM human_tasks h {_elements('h.candidate_users', 'u')}"
        " WHERE h.status = 'open' AND u.value IS NOT NULL"
        " AND (h.assignee IS NULL OR u.value <> h.assignee)"
        f" UNION SELECT h.id, h.assignee, {due} FROM human_tasks h"
        " WHERE h.status = 'open' AND h.assignee IS NOT NULL")
    # claimed: the assignee alone
    op.execute(
        f"INSERT INTO task_grants (task_id, username, due_sort)"
        f" SELECT h.id, h.assignee, {due} FROM human_tasks h"
        " WHERE h.status = 'claimed' AND h.assignee IS NOT NULL")


def downgrade() -> None:
    op.drop_table("task_grants")
    _grants_table(scoped=False)
    active = "h.status IN ('open', 'claimed')"
    op.execute(
        "INSERT INTO task_grants (task_id, role_code, org_path)"
        f" SELECT DISTINCT h.id, r.value, h.org_path FROM human_tasks h {_elements('h.candidate_roles', 'r')}"
        f" WHERE {active} AND r.value IS NOT NULL")
    op.execute(
        "INSERT INTO task_grants (task_id, username)"
        f" SELECT h.id, u.value FROM human_tasks h {_elements('h.candidate_users', 'u')}"
        f" WHERE {active} AND u.value IS NOT NULL"
        f" UNION SELECT h.id, h.assignee FROM human_tasks h WHERE {active} AND h.assignee IS NOT NULL")
