"""Notifications: in-app rows for the web UI, plus webhook and email per each user's preferences.

- `notify(session, now, usernames, kind, title, body, link=None, dedupe_key=None)` — inside the
  caller's unit of work; creates in-app rows and queues outbox deliveries.
- `unread_count`, `list_for_user`, `mark_read`, `mark_all_read`, `deliveries_of` — reads and
  transitions for the web UI.
- `parse_preferences(entry)`, `set_preferences(session, username, prefs)`, `get_preferences`.
- `deliver_due(ctx, now)` and `send_digests(ctx, now)` — sweep jobs, each idempotent; they open
  their own units of work and talk to the network outside any transaction.

Time always comes from the caller (`now`, an aware datetime); nothing here reads the wall clock.
"""
from __future__ import annotations

from .channels import CHANNELS, DeliveryFailed
from .digest import send_digests
from .inapp import deliveries_of, list_for_user, mark_all_read, mark_read, notify, unread_count
from .outbox import BACKOFF, MAX_ATTEMPTS, deliver_due, next_attempt
from .preferences import MODES, PreferenceError, get_preferences, parse_preferences, set_preferences

__all__ = [
    "BACKOFF", "CHANNELS", "MAX_ATTEMPTS", "MODES", "DeliveryFailed", "PreferenceError",
    "deliver_due", "deliveries_of", "get_preferences", "list_for_user", "mark_all_read", "mark_read",
    "next_attempt", "notify", "parse_preferences", "send_digests", "set_preferences", "unread_count",
]
