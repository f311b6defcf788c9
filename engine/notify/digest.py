"""The daily digest: one message per user and channel listing the day's `digest` deliveries.

`send_digests(ctx, now)` does nothing before `CAREPATH_DIGEST_TIME` in the deployment time zone.
From then on, for the local day of `now`, each user with waiting digest items on a channel gets
one email (or one webhook post) listing every item created up to `now`; those items become `sent`.
`digest_runs` holds one row per (user, channel, local day), so a second sweep the same day, or
two sweeps at once, send nothing more; items queued after the day's digest wait for the next day.

Sending follows the outbox's rules (at least once; a claim that counts the attempt and leases
the run, records fenced by the attempt number; backoff): sweeps running at once send each digest
once, and a sweep that dies between sending and recording leaves the run claimed until its lease
runs out, when the next sweep sends it again (the email keeps its Message-ID). A digest that still fails
after `MAX_ATTEMPTS` is marked failed for that day and its items roll over to the next day's digest.
A user whose address changed gets the digest at the newest queued address. Email digests wait,
untouched, while no SMTP host is configured.
"""
from __future__ import annotations

from datetime import date, datetime

from ..store import notify as repo
from . import text
from .channels import DeliveryFailed, enabled_channels
from .channels import email as email_channel
from .channels import webhook as webhook_channel
from .outbox import CLAIM_LEASE, MAX_ERROR, item_of, next_attempt, require_aware


def _send(ctx, username: str, channel: str, address: str, items: list[text.Item], day: date,
          now: datetime) -> None:
    settings = ctx.settings
    if channel == "webhook":
        webhook_channel.post_markdown(address, text.webhook_digest_markdown(items, day, settings.timezone))
        return
    safe_user = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in username)
    message = email_channel.build_message(
        settings, address, text.digest_subject(items, day), text.digest_text(items, day, settings.timezone),
        msg_id=email_channel.message_id(settings, f"carepath-digest-{day.isoformat()}-{safe_user}"),
        date=now)
    email_channel.send_message(settings, message)


def _send_one(ctx, username: str, channel: str, day: date, now: datetime) -> bool:
    with ctx.db.unit_of_work() as session:
        attempt = repo.claim_digest_run(session, username, channel, day, now, now + CLAIM_LEASE)
        if attempt is None:
            return False
        rows = repo.digest_items(session, username, channel, now)
        items = [item_of(notification) for _, notification in rows]
        delivery_ids = [delivery.id for delivery, _ in rows]
        address = max(rows, key=lambda row: row[0].id)[0].address if rows else None
        if not rows:
            repo.record_digest_sent(session, username, channel, day, now, [], attempt=attempt)
            return False
    try:
        _send(ctx, username, channel, address, items, day, now)
    except DeliveryFailed as err:
        with ctx.db.unit_of_work() as session:
            repo.record_digest_failure(session, username, channel, day, err.message[:MAX_ERROR],
                                       next_attempt(now, attempt), attempt=attempt)
        return False
    with ctx.db.unit_of_work() as session:
        repo.record_digest_sent(session, username, channel, day, now, delivery_ids, attempt=attempt)
    return True


def send_digests(ctx, now: datetime) -> int:
    """Send the day's digests that are due at `now`; returns how many messages were sent."""
    require_aware(now)
    settings = ctx.settings
    local = now.astimezone(settings.timezone)
    if local.time() < settings.digest_time:
        return 0
    day = local.date()
    with ctx.db.unit_of_work() as session:
        groups = repo.digest_groups_due(session, now, day, enabled_channels(settings))
    return sum(1 for username, channel in groups if _send_one(ctx, username, channel, day, now))
