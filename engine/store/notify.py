"""Tables and SQL for notifications: in-app rows, per-user channel preferences, the outbox of
deliveries (webhook, email) and the record of daily digests.

Importing this module registers the tables on `engine.store.models.Base`, so
`Database.create_schema()` creates them.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable

from sqlalchemy import (
    JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
    and_, delete, exists, func, or_, select, update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from .models import Base
from .runtime import for_update_skip_locked
from .types import UTCDateTime


class Notification(Base):
    """One in-app notification for one user. `dedupe_key` makes a repeated notify a no-op."""
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(400))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (
        UniqueConstraint("username", "dedupe_key", name="uq_notifications_dedupe"),
        Index("ix_notifications_unread", "username", "read_at", "created_at"),
        Index("ix_notifications_user_created", "username", "created_at"),
    )


class NotificationPref(Base):
    """How one user wants one channel: immediately, in the daily digest, or not at all."""
    __tablename__ = "notification_prefs"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    __table_args__ = (
        CheckConstraint("channel in ('webhook', 'email')", name="ck_notification_prefs_channel"),
        CheckConstraint("mode in ('immediate', 'digest', 'off')", name="ck_notification_prefs_mode"),
    )


class Delivery(Base):
    """One notification to send on one channel. `address` is copied from the preference when the
    notification is created. `pending` rows are sent by the outbox once `next_attempt_at` has
    passed; `digest` rows wait for the daily digest. A row a sweep is sending stays `pending`,
    claimed: `attempts` counts that attempt and `next_attempt_at` is the claim's lease, so the row
    is not due again until the sweep records the result or the lease runs out (the sweep died)."""
    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
        CheckConstraint("channel in ('webhook', 'email')", name="ck_deliveries_channel"),
        CheckConstraint("status in ('pending', 'sent', 'failed', 'digest')", name="ck_deliveries_status"),
    )


class DigestRun(Base):
    """The daily digest of one user on one channel for one local day: at most one is sent. While
    a sweep sends it, it stays `pending`, claimed as a delivery is (attempt counted, leased until
    `next_attempt_at`)."""
    __tablename__ = "digest_runs"
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    __table_args__ = (
        CheckConstraint("status in ('pending', 'sent', 'failed')", name="ck_digest_runs_status"),
    )


def _insert_ignoring_duplicates(session: Session, model, values: dict):
    """INSERT … ON CONFLICT DO NOTHING; returns the new row's primary key (None on conflict).

    Two sweeps inserting the same deduplicated row at the same time both succeed: one inserts,
    the other does nothing, and neither transaction is aborted."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"notifications need SQLite or PostgreSQL, not {dialect}")
    key = list(model.__table__.primary_key.columns)[0]
    statement = insert(model).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(statement).scalar_one_or_none()


# --- preferences ---------------------------------------------------------------------------------

def prefs_of_user(session: Session, username: str) -> list[NotificationPref]:
    return list(session.scalars(select(NotificationPref).where(NotificationPref.username == username)
                                .order_by(NotificationPref.channel)))


def prefs_of_users(session: Session, usernames: Iterable[str]) -> dict[str, list[NotificationPref]]:
    names = list(set(usernames))
    found: dict[str, list[NotificationPref]] = {name: [] for name in names}
    if names:
        for pref in session.scalars(select(NotificationPref).where(NotificationPref.username.in_(names))):
            found[pref.username].append(pref)
    return found


def replace_prefs(session: Session, username: str, prefs: Iterable[tuple[str, str, str | None]]) -> None:
    """Set a user's preferences to exactly (channel, mode, address) for each given channel."""
    session.execute(delete(NotificationPref).where(NotificationPref.username == username))
    for channel, mode, address in prefs:
        session.add(NotificationPref(username=username, channel=channel, mode=mode, address=address))
    session.flush()


# --- in-app notifications ------------------------------------------------------------------------

def insert_notification(session: Session, *, username: str, kind: str, title: str, body: str,
                        link: dict | None, dedupe_key: str | None, created_at: datetime) -> int | None:
    """A new notification's id, or None when (username, dedupe_key) already exists."""
    values = dict(username=username, kind=kind, title=title, body=body, link=link,
                  dedupe_key=dedupe_key, created_at=created_at)
    if dedupe_key is None:
        row = Notification(**values)
        session.add(row)
        session.flush()
        return row.id
    return _insert_ignoring_duplicates(session, Notification, values)


def add_delivery(session: Session, *, notification_id: int, channel: str, address: str, status: str,
                 next_attempt_at: datetime | None) -> None:
    session.add(Delivery(notification_id=notification_id, channel=channel, address=address,
                         status=status, attempts=0, next_attempt_at=next_attempt_at))


def count_unread(session: Session, username: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.username == username, Notification.read_at.is_(None))) or 0


def notifications_of_user(session: Session, username: str, limit: int, offset: int,
                          unread_only: bool = False) -> list[Notification]:
    query = select(Notification).where(Notification.username == username)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                                .limit(limit).offset(offset)))


def mark_read(session: Session, username: str, ids: Iterable[int] | None, now: datetime) -> int:
    """Mark the user's unread notifications (those in `ids`, or all when None) read at `now`."""
    query = update(Notification).where(Notification.username == username, Notification.read_at.is_(None))
    if ids is not None:
        wanted = list(set(ids))
        if not wanted:
            return 0
        query = query.where(Notification.id.in_(wanted))
    result = session.execute(query.values(read_at=now).execution_options(synchronize_session=False))
    return result.rowcount


def deliveries_of_notification(session: Session, notification_id: int) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.notification_id == notification_id)
                                .order_by(Delivery.id)))


# --- outbox --------------------------------------------------------------------------------------

def _due_delivery(now: datetime, channels: list[str]):
    return and_(Delivery.status == "pending", Delivery.next_attempt_at <= now, Delivery.channel.in_(channels))


def due_deliveries(session: Session, now: datetime, channels: Iterable[str],
                   limit: int) -> list[tuple[int, str, str]]:
    """(id, channel, address) of deliveries due at `now`, oldest due first."""
    channels = list(channels)
    if not channels:
        return []
    rows = session.execute(
        select(Delivery.id, Delivery.channel, Delivery.address).where(_due_delivery(now, channels))
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
    return [tuple(row) for row in rows]


def count_due(session: Session, now: datetime, channel: str) -> int:
    return session.scalar(select(func.count()).select_from(Delivery)
                          .where(_due_delivery(now, [channel]))) or 0


def count_due_to(session: Session, now: datetime, webhooks: Iterable[str], email: bool) -> int:
    """Due deliveries to these webhook addresses (and every due email when `email`)."""
    webhooks = list(webhooks)
    wanted = [and_(Delivery.channel == "webhook", Delivery.address.in_(webhooks))] if webhooks else []
    if email:
        wanted.append(Delivery.channel == "email")
    if not wanted:
        return 0
    return session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.status == "pending", Delivery.next_attempt_at <= now, or_(*wanted))) or 0


def _take_delivery(session: Session, delivery_id: int, now: datetime,
                   lease_until: datetime) -> tuple[Delivery, Notification] | None:
    result = session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending",
                               Delivery.next_attempt_at <= now)
        .values(attempts=Delivery.attempts + 1, next_attempt_at=lease_until)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    row = session.execute(
        select(Delivery, Notification).join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.id == delivery_id).execution_options(populate_existing=True)).one()
    return row[0], row[1]


def claim_delivery(session: Session, delivery_id: int, now: datetime,
                   lease_until: datetime) -> tuple[Delivery, Notification] | None:
    """Take a due pending delivery for one attempt: count the attempt and push `next_attempt_at`
    to `lease_until`, so no other sweep picks it while it is being sent. None when it is no longer
    due (sent, failed, or claimed by another sweep whose lease still runs)."""
    query = select(Delivery.id).where(Delivery.id == delivery_id)
    held = session.scalar(for_update_skip_locked(query, session))
    if held is None:
        return None
    return _take_delivery(session, delivery_id, now, lease_until)


def claim_next_delivery(session: Session, now: datetime, channels: Iterable[str], lease_until: datetime,
                        skip_webhooks: Iterable[str] = (), skip_email: bool = False,
                        ) -> tuple[Delivery, Notification] | None:
    """Claim (as `claim_delivery`) the oldest due delivery on `channels` that no other sweep
    holds, leaving out the given webhook addresses and, with `skip_email`, all email; None when
    nothing is left. The conditional update, not the row lock, is what makes the claim single:
    the lock (PostgreSQL) only keeps concurrent sweeps off each other's rows. Where nothing is
    locked (SQLite) the row found may have been claimed meanwhile; then the next one is tried."""
    channels = [c for c in channels if not (skip_email and c == "email")]
    if not channels:
        return None
    query = select(Delivery.id).where(_due_delivery(now, channels))
    skip_webhooks = list(skip_webhooks)
    if skip_webhooks:
        query = query.where(or_(Delivery.channel != "webhook", Delivery.address.not_in(skip_webhooks)))
    query = for_update_skip_locked(query.order_by(Delivery.next_attempt_at, Delivery.id).limit(1), session)
    while True:
        delivery_id = session.scalar(query)
        if delivery_id is None:
            return None
        claimed = _take_delivery(session, delivery_id, now, lease_until)
        if claimed is not None:
            return claimed
        # Another sweep took it since we looked: it is no longer due, so the query moves on.


def record_delivery_sent(session: Session, delivery_id: int, now: datetime,
                         attempt: int | None = None) -> bool:
    """pending → sent. With `attempt`, only if the row is still held by that attempt (its lease
    not taken over by another sweep). False when nothing changed."""
    query = update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
    if attempt is not None:
        query = query.where(Delivery.attempts == attempt)
    result = session.execute(query.values(status="sent", sent_at=now, last_error=None)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1


def record_delivery_failure(session: Session, delivery_id: int, error: str,
                            next_attempt_at: datetime | None, attempt: int | None = None) -> bool:
    """Keep the error; pending again until `next_attempt_at`, or give up (status failed) when it
    is None. With `attempt`, only if the row is still held by that attempt."""
    values = {"last_error": error, "next_attempt_at": next_attempt_at,
              "status": "pending" if next_attempt_at is not None else "failed"}
    query = update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending")
    if attempt is not None:
        query = query.where(Delivery.attempts == attempt)
    result = session.execute(query.values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


# --- digests -------------------------------------------------------------------------------------

def digest_groups_due(session: Session, now: datetime, day: date,
                      channels: Iterable[str]) -> list[tuple[str, str]]:
    """(username, channel) pairs with digest items created by `now` whose digest for `day` is
    neither done nor waiting for a later retry."""
    channels = list(channels)
    if not channels:
        return []
    settled = exists().where(
        DigestRun.username == Notification.username, DigestRun.channel == Delivery.channel,
        DigestRun.day == day,
        or_(DigestRun.status != "pending", DigestRun.next_attempt_at > now))
    rows = session.execute(
        select(Notification.username, Delivery.channel).distinct()
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.status == "digest", Delivery.channel.in_(channels),
               Notification.created_at <= now, ~settled)
        .order_by(Notification.username, Delivery.channel))
    return [tuple(row) for row in rows]


def claim_digest_run(session: Session, username: str, channel: str, day: date, now: datetime,
                     lease_until: datetime) -> int | None:
    """Create the day's run if missing and take it for one attempt (counted, leased until
    `lease_until`); returns the attempt number, or None if the run is done, failed, or being sent
    by another sweep whose lease still runs."""
    _insert_ignoring_duplicates(session, DigestRun, dict(
        username=username, channel=channel, day=day, status="pending", attempts=0, items=0))
    key = and_(DigestRun.username == username, DigestRun.channel == channel, DigestRun.day == day)
    if session.scalar(for_update_skip_locked(select(DigestRun.day).where(key), session)) is None:
        return None          # another sweep is claiming it right now
    result = session.execute(
        update(DigestRun)
        .where(key, DigestRun.status == "pending",
               or_(DigestRun.next_attempt_at.is_(None), DigestRun.next_attempt_at <= now))
        .values(attempts=DigestRun.attempts + 1, next_attempt_at=lease_until)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    return session.scalar(select(DigestRun.attempts).where(key))


def digest_items(session: Session, username: str, channel: str,
                 now: datetime) -> list[tuple[Delivery, Notification]]:
    """The user's waiting digest items on one channel, oldest first."""
    rows = session.execute(
        select(Delivery, Notification).join(Notification, Notification.id == Delivery.notification_id)
        .where(Notification.username == username, Delivery.channel == channel,
               Delivery.status == "digest", Notification.created_at <= now)
        .order_by(Notification.created_at, Notification.id))
    return [(row[0], row[1]) for row in rows]


def record_digest_sent(session: Session, username: str, channel: str, day: date, now: datetime,
                       delivery_ids: list[int], attempt: int | None = None) -> None:
    """The digest went out: its items are sent, and the run too (with `attempt`, only if that
    attempt still holds it; items sent are marked whoever holds the run)."""
    if delivery_ids:
        session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "digest")
                        .values(status="sent", sent_at=now, attempts=Delivery.attempts + 1, last_error=None)
                        .execution_options(synchronize_session=False))
    query = update(DigestRun).where(DigestRun.username == username, DigestRun.channel == channel,
                                    DigestRun.day == day, DigestRun.status == "pending")
    if attempt is not None:
        query = query.where(DigestRun.attempts == attempt)
    session.execute(query.values(status="sent", sent_at=now, items=len(delivery_ids), last_error=None,
                                 next_attempt_at=None).execution_options(synchronize_session=False))


def record_digest_failure(session: Session, username: str, channel: str, day: date, error: str,
                          next_attempt_at: datetime | None, attempt: int | None = None) -> None:
    values = {"last_error": error, "next_attempt_at": next_attempt_at,
              "status": "pending" if next_attempt_at is not None else "failed"}
    query = update(DigestRun).where(DigestRun.username == username, DigestRun.channel == channel,
                                    DigestRun.day == day, DigestRun.status == "pending")
    if attempt is not None:
        query = query.where(DigestRun.attempts == attempt)
    session.execute(query.values(**values).execution_options(synchronize_session=False))


def digest_run(session: Session, username: str, channel: str, day: date) -> DigestRun | None:
    return session.get(DigestRun, (username, channel, day))
