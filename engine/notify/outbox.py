"""The outbox: sends pending immediate deliveries (webhook, email) with retries.

Delivery is **at least once**. Each delivery is handled in two short units of work around the
network call, never holding a transaction open while talking to a remote:

1. *claim*: count the attempt and push `next_attempt_at` forward by `CLAIM_LEASE`, so a second
   sweep running at the same time skips it;
2. send;
3. *record*: `sent` (only after the remote accepted) or, on failure, `pending` again at
   `now + BACKOFF[attempt]`, or `failed` after `MAX_ATTEMPTS` attempts, keeping `last_error`.

A crash between 2 and 3 leaves the delivery pending; it is sent again when the lease runs out, so
a recipient may see a message twice but never misses one, and a delivery recorded `sent` is never
sent again. Emails carry a stable Message-ID so a duplicate can be folded.

Without `CAREPATH_SMTP_HOST` email deliveries are left `pending` and untouched (no attempt is
counted): a missing relay is a deployment setting, not a failed delivery, and the backlog goes out
once a relay is configured. `deliver_due` reports how many are waiting for it as `skipped_email`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import InvalidInput
from ..store import notify as repo
from . import text
from .channels import DeliveryFailed, enabled_channels
from .channels import email as email_channel
from .channels import webhook as webhook_channel

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=12))
MAX_ATTEMPTS = 6
CLAIM_LEASE = timedelta(minutes=10)
MAX_ERROR = 1000


def next_attempt(now: datetime, attempts: int) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None to give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1]


def require_aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InvalidInput("now must be time zone-aware")
    return now


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    channel: str
    address: str
    attempt: int
    item: text.Item


def item_of(row: repo.Notification) -> text.Item:
    return text.Item(row.id, row.kind, row.title, row.body, row.link, row.created_at)


def _claim(ctx, delivery_id: int, now: datetime) -> _Job | None:
    with ctx.db.unit_of_work() as session:
        claimed = repo.claim_delivery(session, delivery_id, now, now + CLAIM_LEASE)
        if claimed is None:
            return None
        delivery, notification = claimed
        return _Job(delivery.id, delivery.channel, delivery.address, delivery.attempts, item_of(notification))


def _send(ctx, job: _Job) -> None:
    settings = ctx.settings
    if job.channel == "webhook":
        webhook_channel.post_markdown(job.address, text.webhook_markdown(job.item, settings.timezone))
    else:
        message = email_channel.build_message(
            settings, job.address, text.email_subject(job.item), text.email_text(job.item, settings.timezone),
            msg_id=email_channel.message_id(settings, f"carepath-delivery-{job.delivery_id}"),
            date=job.item.created_at)
        email_channel.send_message(settings, message)


def deliver_due(ctx, now: datetime, limit: int = 100) -> dict:
    """Send up to `limit` pending deliveries due at `now`. One delivery's failure never stops the
    others; once a destination is unreachable, its other deliveries in this batch wait for the next
    sweep (`deferred`) instead of each waiting out a timeout.

    Returns counts: sent, retry (failed, will be retried), failed (gave up), deferred,
    skipped_email (due email waiting for an SMTP host)."""
    require_aware(now)
    channels = enabled_channels(ctx.settings)
    with ctx.db.unit_of_work() as session:
        due = repo.due_deliveries(session, now, channels, limit)
        skipped = 0 if "email" in channels else repo.count_due(session, now, "email")
    report = {"sent": 0, "retry": 0, "failed": 0, "deferred": 0, "skipped_email": skipped}
    unreachable: set[tuple[str, str]] = set()
    for delivery_id, channel, address in due:
        destination = ("email", "smtp") if channel == "email" else (channel, address)
        if destination in unreachable:
            report["deferred"] += 1
            continue
        job = _claim(ctx, delivery_id, now)
        if job is None:
            continue  # sent, failed or claimed by another sweep since we listed it
        try:
            _send(ctx, job)
        except DeliveryFailed as err:
            retry_at = next_attempt(now, job.attempt)
            with ctx.db.unit_of_work() as session:
                repo.record_delivery_failure(session, job.delivery_id, err.message[:MAX_ERROR], retry_at)
            report["retry" if retry_at else "failed"] += 1
            if err.unreachable:
                unreachable.add(destination)
            continue
        with ctx.db.unit_of_work() as session:
            repo.record_delivery_sent(session, job.delivery_id, now)
        report["sent"] += 1
    return report
