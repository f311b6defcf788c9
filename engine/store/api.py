"""Tables and SQL for the REST API: API clients (service accounts with a token and scopes) and
idempotency keys (the stored outcome of a POST, replayed when the same key comes again).

Importing this module registers the tables on `engine.store.models.Base`, so
`Database.create_schema()` and the migration guard know them.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, delete, or_, select, update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from .models import Base, Membership, User
from .types import UTCDateTime


class ApiClient(Base):
    """An outside system calling the API. It acts as its own service user (`api:<name>`), whose
    memberships are its jurisdiction; `scopes` limit which API operations it may call. Only the
    sha256 of its token is kept; `token_prefix` (public) finds the row."""
    __tablename__ = "api_clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    scopes: Mapped[list] = mapped_column(JSON)
    token_prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """One idempotency key of one caller (`client:<name>` or `user:<username>`): the request it
    came with (`request_hash`) and, once finished, its outcome. `status_code` is NULL while the
    request is in progress. Ids are never reused (SQLite: AUTOINCREMENT), so a reservation held
    by a request whose key was since replaced can never complete or release its successor."""
    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(1000))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (
        UniqueConstraint("owner", "key", name="uq_idempotency_keys_owner_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )


# --- API clients -------------------------------------------------------------------------------------

def client_by_name(session: Session, name: str) -> ApiClient | None:
    return session.scalar(select(ApiClient).where(ApiClient.name == name))


def clients_with_user(session: Session, prefix: str | None = None) -> list[tuple[ApiClient, User]]:
    """(client, its service user) pairs by name; only those with `prefix` when given."""
    query = select(ApiClient, User).join(User, User.id == ApiClient.user_id).order_by(ApiClient.name)
    if prefix is not None:
        query = query.where(ApiClient.token_prefix == prefix)
    return [tuple(row) for row in session.execute(query)]


def add_client(session: Session, **values) -> ApiClient:
    client = ApiClient(**values)
    session.add(client)
    session.flush()
    return client


def set_token(session: Session, client: ApiClient, prefix: str, token_hash: str) -> None:
    client.token_prefix, client.token_hash = prefix, token_hash
    session.flush()


def set_revoked(session: Session, client: ApiClient, at: datetime, by: str | None) -> None:
    client.revoked_at, client.revoked_by = at, by
    session.flush()


def touch_client(session: Session, client_id: int, now: datetime, not_after: datetime) -> bool:
    """Set last_used_at to `now` unless it is already later than `not_after` (one write a
    minute however many requests); True when a row changed."""
    result = session.execute(
        update(ApiClient)
        .where(ApiClient.id == client_id,
               or_(ApiClient.last_used_at.is_(None), ApiClient.last_used_at <= not_after))
        .values(last_used_at=now).execution_options(synchronize_session=False))
    return result.rowcount > 0


def memberships_by_user(session: Session, user_ids) -> dict[int, list[tuple[str, str]]]:
    """User id → (role code, org code) of each membership, active users or not."""
    ids = list(set(user_ids))
    found: dict[int, list[tuple[str, str]]] = {user_id: [] for user_id in ids}
    if ids:
        rows = session.execute(select(Membership.user_id, Membership.role_code, Membership.org_code)
                               .where(Membership.user_id.in_(ids))
                               .order_by(Membership.org_code, Membership.role_code))
        for user_id, role, org in rows:
            found[user_id].append((role, org))
    return found


# --- idempotency keys --------------------------------------------------------------------------------

def idempotency_key(session: Session, owner: str, key: str) -> IdempotencyKey | None:
    return session.scalar(select(IdempotencyKey).where(IdempotencyKey.owner == owner,
                                                       IdempotencyKey.key == key))


def add_idempotency_key(session: Session, **values) -> int:
    """Insert an in-progress key; the unique (owner, key) refuses a concurrent twin at flush."""
    row = IdempotencyKey(**values)
    session.add(row)
    session.flush()
    return row.id


def delete_idempotency_key(session: Session, key_id: int, only_in_progress: bool = False) -> int:
    query = delete(IdempotencyKey).where(IdempotencyKey.id == key_id)
    if only_in_progress:
        query = query.where(IdempotencyKey.status_code.is_(None))
    return session.execute(query.execution_options(synchronize_session=False)).rowcount


def finish_idempotency_key(session: Session, key_id: int, status_code: int, response: str | None,
                           at: datetime) -> bool:
    """Record the outcome of an in-progress key; False when there is no such key in progress."""
    result = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == key_id, IdempotencyKey.status_code.is_(None))
        .values(status_code=status_code, response=response, completed_at=at)
        .execution_options(synchronize_session=False))
    return result.rowcount > 0


def delete_idempotency_keys_before(session: Session, before: datetime) -> int:
    """Delete every key created at or before `before` (finished or not); how many went."""
    return session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= before)
                           .execution_options(synchronize_session=False)).rowcount
