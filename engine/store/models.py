"""Tables. Reads (inbox, queues, lists) come from these rows, never from deserialized workflows."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

# Legacy: the hand-numbered schema of databases from before Alembic (`schema_info`). New schema
# changes are Alembic revisions (engine/store/migrations); this number no longer moves.
SCHEMA_VERSION = 5


class Base(DeclarativeBase):
    pass


def where_set(name: str, *columns: str, present: str) -> Index:
    """An index of only the rows whose `present` column is set (partial: `present IS NOT NULL`),
    for a column most rows leave empty (a claimed task's assignee, a child instance's parent): a
    row without it costs no index write. Any query comparing `present` to a value (`=`, `IN`, a
    range) may use it, on SQLite and PostgreSQL alike (revision 0008_lean_indexes)."""
    condition = text(f"{present} IS NOT NULL")
    return Index(name, *columns, sqlite_where=condition, postgresql_where=condition)


class SchemaInfo(Base):
    __tablename__ = "schema_info"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


# --- directory -------------------------------------------------------------------------------

class OrgUnit(Base):
    """A node of the province → city → county → township → village tree.

    `path` is the chain of codes from the root, `/510000/510700/510781/`, so "X or below X" is a
    prefix match served by an index.
    """
    __tablename__ = "org_units"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("org_units.code"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True)


class Role(Base):
    """An agency role. `tiers` are the tiers of person data (engine.privacy) the role reads in
    its jurisdiction; NULL means basic information only (schema v5)."""
    __tablename__ = "roles"
    code: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tiers: Mapped[list | None] = mapped_column(JSON)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Membership(Base):
    """A user holds a role at an org unit (and so over everything below it)."""
    __tablename__ = "memberships"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role_code: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    org_code: Mapped[str] = mapped_column(ForeignKey("org_units.code"))
    __table_args__ = (UniqueConstraint("user_id", "role_code", "org_code"),)


# --- pathways ----------------------------------------------------------------------------------

class BpmnSource(Base):
    """A deployed file's bytes, stored once however many processes or versions refer to it."""
    __tablename__ = "bpmn_sources"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(400))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class PathwayVersion(Base):
    """An immutable deployed version of one executable process; its spec is serialized once."""
    __tablename__ = "pathway_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(400))
    source_sha256: Mapped[str] = mapped_column(ForeignKey("bpmn_sources.sha256"))
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)     # read once per process (SpecCache)
    message_starts: Mapped[list] = mapped_column(JSON, default=list)
    depends_on: Mapped[dict] = mapped_column(JSON, default=dict)
    # The forms its tasks use (form key → form-js definition) and a digest of everything that
    # makes this version what it is (BPMN, the decision tables it uses, its forms).
    forms: Mapped[dict] = mapped_column(JSON, default=dict)
    bundle_sha256: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str | None] = mapped_column(String(100))
    # The decision tables (DMN files) it was deployed with, filename → sha256 in bpmn_sources, so
    # the modeler can deploy a new version of it without the files on disk.
    decision_sources: Mapped[dict | None] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("process_id", "version"),)


class WorkspaceFile(Base):
    """What an analyst saved in the modeler and has not necessarily deployed: a pathway's BPMN
    (`kind` "bpmn", `key` its process id) or a form (`kind` "form", `key` its form key).
    `revision` counts saves, so a save based on an older revision is refused, not merged."""
    __tablename__ = "workspace_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(400))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    saved_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (UniqueConstraint("kind", "key"),)


# --- people ------------------------------------------------------------------------------------

class Person(Base):
    """Someone a pathway carries. `ref` is the identifier other systems use (a registry or
    hospital number, never shown as a national ID); `org_code` is where they live, which decides
    whose jurisdiction they fall in."""
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    org_code: Mapped[str] = mapped_column(ForeignKey("org_units.code"), index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Consent(Base):
    """A person's authorization to share their data across agencies: which agencies may read
    which tiers, from when until when. Revoked, never deleted."""
    __tablename__ = "consents"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    agencies: Mapped[list] = mapped_column(JSON)
    tiers: Mapped[list] = mapped_column(JSON)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    basis: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class BreakGlass(Base):
    """Someone opened a person's record outside their scope, with a stated reason, until `until`."""
    __tablename__ = "break_glass"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    origin: Mapped[str | None] = mapped_column(String(200))
    __table_args__ = (Index("ix_break_glass_user_person", "username", "person_id", "until"),)


# --- runtime -----------------------------------------------------------------------------------

class Instance(Base):
    """A running pathway. `state` is the compressed workflow without its spec; `lock_version`
    makes concurrent writers fail instead of overwriting each other; `wake_at` is the earliest
    pending timer so a sweep finds due instances by index."""
    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("pathway_versions.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))     # (ix_instances_process_started leads with it)
    org_code: Mapped[str] = mapped_column(ForeignKey("org_units.code"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[bytes] = mapped_column(LargeBinary)
    state_format: Mapped[int] = mapped_column(Integer)
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)
    wake_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[dict | None] = mapped_column(JSON)
    # The process variables as of the last save, for reads (detail pages, the person's journey)
    # that must not deserialize the workflow.
    variables: Mapped[dict | None] = mapped_column(JSON)
    parent_instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __mapper_args__ = {"version_id_col": lock_version}
    __table_args__ = (
        where_set("ix_instances_parent_instance_id", "parent_instance_id", present="parent_instance_id"),
        where_set("ix_instances_person_id", "person_id", present="person_id"),
        # The sweep's due query, `ORDER BY wake_at, id` included (revision 0002_due_order).
        Index("ix_instances_status_wake", "status", "wake_at", "id"),
        # Indicators: a programme's instances started in a window (schema v3).
        Index("ix_instances_process_started", "process_id", "started_at"),
    )


class HumanTask(Base):
    """A user task as people see it: who may act, where, until when. Denormalized for inboxes."""
    __tablename__ = "human_tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))    # (ix_human_tasks_instance_status)
    spiff_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    element: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(400))
    process_id: Mapped[str] = mapped_column(String(200))
    role_code: Mapped[str | None] = mapped_column(String(100))
    org_code: Mapped[str] = mapped_column(String(32))
    org_path: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(100))
    candidate_users: Mapped[list] = mapped_column(JSON, default=list)
    candidate_roles: Mapped[list] = mapped_column(JSON, default=list)
    form_key: Mapped[str | None] = mapped_column(String(400))
    # The care stage the pathway states for the task (engine.stages), for dashboards.
    stage: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How the deadline was computed, so it can be recomputed when calendar data changes:
    # {"kind": "workdays", "n": 2, "start": ISO, "pauses": [[from, to], ...]} or {"kind": "fixed"}.
    due_basis: Mapped[dict | None] = mapped_column(JSON)
    due_kind: Mapped[str | None] = mapped_column(String(16))
    due_source: Mapped[str | None] = mapped_column(String(200))
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    escalation_ladder: Mapped[str | None] = mapped_column(String(100))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(100))
    __table_args__ = (
        Index("ix_human_tasks_status_due", "status", "due_at"),
        Index("ix_human_tasks_instance_status", "instance_id", "status"),
        Index("ix_human_tasks_escalation", "status", "next_escalation_at"),
        # Indicators: tasks completed in a window, by stage (schema v3); only ended tasks have one.
        where_set("ix_human_tasks_status_completed", "status", "completed_at", "stage", present="completed_at"),
        where_set("ix_human_tasks_assignee", "assignee", present="assignee"),
    )


class TaskGrant(Base):
    """Who may take an active task right now, one row per way in, so that an inbox is a few
    ordered index walks (engine/store/runtime.py `inbox`):

    - open: a row per (candidate role, unit covering the task): the task's own unit and every
      unit above it (`scope_code`, from the task's org path), and a row per candidate user;
    - claimed: only the assignee's row (`username`);
    - completed or cancelled: none.

    `due_sort` is the task's `due_at`, or `grants.NO_DEADLINE` when it has none, so that "no deadline
    last" is the same plain order on every backend. It follows `due_at` (engine/store/grants.py).
    `org_path` is the task's path on role rows, kept for reading."""
    __tablename__ = "task_grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    role_code: Mapped[str | None] = mapped_column(String(100))
    scope_code: Mapped[str | None] = mapped_column(String(32))
    org_path: Mapped[str | None] = mapped_column(String(400))
    username: Mapped[str | None] = mapped_column(String(100))
    due_sort: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    __table_args__ = (
        # A grant is a role's or a user's: each index holds only its own kind.
        where_set("ix_task_grants_scope_due", "role_code", "scope_code", "due_sort", "task_id", present="role_code"),
        where_set("ix_task_grants_user_due", "username", "due_sort", "task_id", present="username"),
    )


class Escalation(Base):
    """A missed deadline raised to someone: level 1 reminds the task's people, level 2 the
    agency supervisor at the nearest unit at or above the task's, level 3 the next unit up."""
    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"))
    level: Mapped[int] = mapped_column(Integer)
    role_code: Mapped[str] = mapped_column(String(100))
    org_code: Mapped[str] = mapped_column(String(32))
    org_path: Mapped[str] = mapped_column(String(400))
    agency: Mapped[str] = mapped_column(String(50))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("task_id", "level"),
        Index("ix_escalations_queue", "status", "org_path"),
    )


class CalendarLayerRow(Base):
    """An imported calendar layer (official national schedule or a regional one)."""
    __tablename__ = "calendar_layers"
    id: Mapped[int] = mapped_column(primary_key=True)
    region: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(400))
    official: Mapped[bool] = mapped_column(Boolean)
    years: Mapped[list] = mapped_column(JSON, default=list)
    rules: Mapped[list] = mapped_column(JSON, default=list)
    filename: Mapped[str] = mapped_column(String(400))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_by: Mapped[str | None] = mapped_column(String(100))


class Message(Base):
    """A message not consumed where it was thrown, or sent by an outside system: kept until taken."""
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    correlation: Mapped[dict] = mapped_column(JSON, default=dict)
    payload: Mapped[dict | list | str | int | float | None] = mapped_column(JSON)
    sender_instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))
    org_code: Mapped[str | None] = mapped_column(String(32))
    scope_path: Mapped[str | None] = mapped_column(String(400))   # the outside sender's unit: delivered within
    sent_by: Mapped[str | None] = mapped_column(String(100))       # the outside sender; NULL for a thrown one
    status: Mapped[str] = mapped_column(String(16))
    needs_attempt: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_to: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))
    __table_args__ = (Index("ix_messages_status_name", "status", "name"),
                      Index("ix_messages_attempt", "needs_attempt", "status"))


class MessageWait(Base):
    """An instance waiting for a message, with the correlation values it expects, so delivery
    is an indexed lookup by (name, property set, key)."""
    __tablename__ = "message_waits"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(200))
    properties: Mapped[str] = mapped_column(String(400))
    correlation_key: Mapped[str] = mapped_column(String(1000))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_message_waits_lookup", "message_name", "properties", "correlation_key"),)


class MessageStart(Base):
    """A deployed pathway whose start event is a message: a message nobody waits for starts it."""
    __tablename__ = "message_starts"
    message_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), primary_key=True)


class Event(Base):
    """Append-only log of what happened: instance started, task completed, timer fired..."""
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)     # (read by instance, then in time order)
    kind: Mapped[str] = mapped_column(String(40))
    instance_id: Mapped[int | None] = mapped_column(Integer, index=True)
    task_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class TaskDraft(Base):
    """What a user typed into a task's form and saved without completing; one per task and user."""
    __tablename__ = "task_drafts"
    task_id: Mapped[int] = mapped_column(ForeignKey("human_tasks.id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)
