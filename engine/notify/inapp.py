"""In-app notifications: the bell in the web UI, and where every notification starts.

`notify` is called inside the caller's unit of work (an escalation or reminder sweep), so the
notification, its outbox deliveries and the caller's own changes commit together.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..store import notify as repo

MAX_TITLE = 400
MAX_KIND = 40
MAX_DEDUPE_KEY = 200
MAX_PAGE = 200


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InvalidInput("通知时间必须带时区 (now must be time zone-aware)")
    return now


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def notify(session: Session, now: datetime, usernames: Iterable[str], kind: str, title: str, body: str,
           link: dict | None = None, dedupe_key: str | None = None) -> list[int]:
    """Create one in-app notification per user, plus one outbox delivery per channel the user
    has not turned off (`pending` for immediate, `digest` for the daily digest).

    With `dedupe_key`, a user who already has a notification with that key gets nothing new, even
    when two sweeps run at once. Returns the ids of the notifications created."""
    _aware(now)
    if not kind or len(kind) > MAX_KIND:
        raise InvalidInput(f"通知类型必须是 1–{MAX_KIND} 个字符：{kind!r}")
    if not title or not title.strip():
        raise InvalidInput("通知标题不能为空")
    if dedupe_key is not None and (not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY):
        raise InvalidInput(f"dedupe_key 必须是 1–{MAX_DEDUPE_KEY} 个字符")
    if link is not None and not isinstance(link, dict):
        raise InvalidInput(f"link 必须是映射（如 {{'task': 12}}），得到 {link!r}")
    users = list(dict.fromkeys(u for u in usernames if u))  # unique, in the caller's order
    prefs = repo.prefs_of_users(session, users)
    created = []
    for username in users:
        notification_id = repo.insert_notification(
            session, username=username, kind=kind, title=_clip(title.strip(), MAX_TITLE), body=body,
            link=link, dedupe_key=dedupe_key, created_at=now)
        if notification_id is None:
            continue
        created.append(notification_id)
        for pref in prefs.get(username, []):
            if pref.mode == "off" or not pref.address:
                continue
            immediate = pref.mode == "immediate"
            repo.add_delivery(session, notification_id=notification_id, channel=pref.channel,
                              address=pref.address, status="pending" if immediate else "digest",
                              next_attempt_at=now if immediate else None)
    session.flush()
    return created


def _as_dict(row: repo.Notification) -> dict:
    return {"id": row.id, "kind": row.kind, "title": row.title, "body": row.body, "link": row.link,
            "created_at": row.created_at, "read_at": row.read_at, "unread": row.read_at is None}


def unread_count(session: Session, username: str) -> int:
    return repo.count_unread(session, username)


def list_for_user(session: Session, username: str, limit: int = 20, offset: int = 0,
                  unread_only: bool = False) -> list[dict]:
    """The user's notifications, newest first."""
    if limit < 1 or offset < 0:
        raise InvalidInput("分页参数无效：limit 必须为正数，offset 不能为负数")
    rows = repo.notifications_of_user(session, username, min(limit, MAX_PAGE), offset, unread_only)
    return [_as_dict(row) for row in rows]


def mark_read(session: Session, username: str, ids: Iterable[int], now: datetime) -> int:
    """Mark these of the user's notifications read; others' ids and read ones are left alone.
    Returns how many changed."""
    return repo.mark_read(session, username, [int(i) for i in ids], _aware(now))


def mark_all_read(session: Session, username: str, now: datetime) -> int:
    return repo.mark_read(session, username, None, _aware(now))


def deliveries_of(session: Session, notification_id: int) -> list[dict]:
    """Where a notification went: one entry per channel delivery, with its status."""
    return [{"id": d.id, "channel": d.channel, "address": d.address, "status": d.status,
             "attempts": d.attempts, "last_error": d.last_error,
             "next_attempt_at": d.next_attempt_at, "sent_at": d.sent_at}
            for d in repo.deliveries_of_notification(session, notification_id)]
