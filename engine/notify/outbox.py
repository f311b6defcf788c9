"""The outbox: sends due immediate deliveries (webhook, email) with retries.

Delivery is **at least once**, chosen deliberately: a missed reminder about an overdue care task
is worse than a repeated one. Each delivery is handled in two short units of work around the
network call, never holding a transaction open while talking to a remote:

1. *claim* (`store.notify.claim_next_delivery`): the oldest due delivery that no other sweep holds
   (FOR UPDATE SKIP LOCKED on PostgreSQL) is taken by a conditional update that counts the attempt
   and leases it, pushing `next_attempt_at` to `now + CLAIM_LEASE`. The row stays `pending`; the
   lease is what marks it as being sent, and no other sweep can take it while the lease runs, so
   concurrent sweeps split the outbox instead of sending anything twice;
2. send;
3. *record*, fenced by the attempt number: `sent` (only after the remote accepted) or, on failure,
   `pending` again at `now + BACKOFF[attempt]`, or `failed` after `MAX_ATTEMPTS` attempts,
   keeping `last_error`.

A worker that dies between 2 and 3 leaves the delivery claimed, with nothing recorded. Nothing is
lost: once the lease has run out the delivery is due again and the next sweep sends it, so the
recipient may see that one message twice (emails carry a stable Message-ID derived from the
delivery, so a mail client can fold the duplicate; a group robot shows it twice). A delivery
recorded `sent` is never sent again, and a late record from a sweep whose lease another sweep took
over changes nothing. The lease (10 minutes of engine time) is far longer than a send can take
(webhook and SMTP time out in seconds), so a live sweep's delivery is never taken over. The other
choice, recording before sending (at most once), would turn each such crash into a silent loss.

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


def _claim_next(ctx, now: datetime, channels, unreachable: set[tuple[str, str]]) -> _Job | None:
    with ctx.db.unit_of_work() as session:
        claimed = repo.claim_next_delivery(
            session, now, channels, now + CLAIM_LEASE,
            skip_webhooks=[address for channel, address in unreachable if channel == "webhook"],
            skip_email=("email", "smtp") in unreachable)
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
    """Send up to `limit` deliveries due at `now`, each claimed in turn, so sweeps running at once
    share the outbox. One delivery's failure never stops the others; once a destination is
    unreachable, its other deliveries wait for the next sweep (`deferred`) instead of each
    waiting out a timeout.

    Returns counts: sent, retry (failed, will be retried), failed (gave up), deferred,
    skipped_email (due email waiting for an SMTP host)."""
    require_aware(now)
    channels = enabled_channels(ctx.settings)
    report = {"sent": 0, "retry": 0, "failed": 0, "deferred": 0, "skipped_email": 0}
    unreachable: set[tuple[str, str]] = set()
    for _ in range(limit):
        job = _claim_next(ctx, now, channels, unreachable)
        if job is None:
            break
        destination = ("email", "smtp") if job.channel == "email" else (job.channel, job.address)
        try:
            _send(ctx, job)
        except DeliveryFailed as err:
            retry_at = next_attempt(now, job.attempt)
            with ctx.db.unit_of_work() as session:
                repo.record_delivery_failure(session, job.delivery_id, err.message[:MAX_ERROR], retry_at,
                                             attempt=job.attempt)
            report["retry" if retry_at else "failed"] += 1
            if err.unreachable:
                unreachable.add(destination)
            continue
        with ctx.db.unit_of_work() as session:
            repo.record_delivery_sent(session, job.delivery_id, now, attempt=job.attempt)
        report["sent"] += 1
    with ctx.db.unit_of_work() as session:
        report["deferred"] = repo.count_due_to(
            session, now, [address for channel, address in unreachable if channel == "webhook"],
            email=("email", "smtp") in unreachable)
        if "email" not in channels:
            report["skipped_email"] = repo.count_due(session, now, "email")
    return report
