"""Who wants what, where: per-user channel preferences.

In-app notifications are always on. Each user may add a webhook (a group-robot URL) and an email
address, each with a mode: `immediate` (sent by the outbox as soon as it is due), `digest` (one
message a day at `CAREPATH_DIGEST_TIME`) or `off`.

The directory file may carry them on a user entry:

    users:
      - username: sun_sup
        email: sun@example.cn                         # default mode: digest
        webhook: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…   # default mode: immediate
        notify: {email: immediate, webhook: off}      # optional, overrides the defaults
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..store import notify as repo
from .channels import CHANNELS

MODES = ("immediate", "digest", "off")
DEFAULT_MODES = {"email": "digest", "webhook": "immediate"}
MAX_ADDRESS = 1000
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")


class PreferenceError(InvalidInput, ValueError):
    """A notification preference is not usable; the message says which and why."""


def check_email(address: str) -> str:
    address = address.strip()
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        raise PreferenceError(f"邮箱地址格式不正确：{address!r}")
    return address


def check_webhook(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_ADDRESS or any(ch.isspace() for ch in url):
        raise PreferenceError(f"webhook 地址不正确：{url!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError as err:
        raise PreferenceError(f"webhook 地址不正确：{url!r}（{err}）") from err
    if parts.scheme not in ("http", "https") or not host:
        raise PreferenceError(f"webhook 地址必须是 http:// 或 https:// 开头的完整网址：{url!r}")
    return url


def check_preference(pref: dict) -> dict:
    """One validated preference `{"channel", "mode", "address"}` (address None only when off)."""
    if not isinstance(pref, dict):
        raise PreferenceError(f"通知偏好必须是映射，得到 {pref!r}")
    channel, mode, address = pref.get("channel"), pref.get("mode"), pref.get("address")
    if channel not in CHANNELS:
        raise PreferenceError(f"未知的通知渠道 {channel!r}：可选 {', '.join(CHANNELS)}")
    if mode not in MODES:
        raise PreferenceError(f"{channel} 的通知方式 {mode!r} 无效：可选 {', '.join(MODES)}")
    if address is not None and not isinstance(address, str):
        raise PreferenceError(f"{channel} 的地址必须是文本，得到 {address!r}")
    if not address or not address.strip():
        if mode != "off":
            raise PreferenceError(f"{channel} 的通知方式为 {mode} 时必须填写地址")
        return {"channel": channel, "mode": mode, "address": None}
    address = check_email(address) if channel == "email" else check_webhook(address)
    return {"channel": channel, "mode": mode, "address": address}


def parse_preferences(entry: dict) -> list[dict]:
    """The preferences carried by a directory user entry (`email`, `webhook`, `notify`), validated.

    A channel with an address and no `notify` mode gets its default (email: digest, webhook:
    immediate). A mode without an address is an error unless it is `off`. No keys → []."""
    notify = entry.get("notify") or {}
    if not isinstance(notify, dict):
        raise PreferenceError(f"notify 必须是映射（如 {{email: digest, webhook: immediate}}），得到 {notify!r}")
    unknown = sorted(str(key) for key in notify if key not in CHANNELS)
    if unknown:
        raise PreferenceError(f"notify 中有未知的通知渠道：{', '.join(unknown)}（可选 {', '.join(CHANNELS)}）")
    prefs = []
    for channel in CHANNELS:
        address = entry.get(channel)
        if address is None and channel not in notify:
            continue
        mode = notify.get(channel, DEFAULT_MODES[channel])
        if mode is False:  # YAML reads a bare `off` as false
            mode = "off"
        prefs.append(check_preference({"channel": channel, "mode": mode,
                                       "address": None if address is None else str(address)}))
    return prefs


def set_preferences(session: Session, username: str, prefs: list[dict]) -> list[dict]:
    """Replace the user's channel preferences with `prefs` (validated; one per channel).
    Deliveries already queued keep the address and mode they were queued with."""
    checked = [check_preference(pref) for pref in prefs]
    channels = [pref["channel"] for pref in checked]
    if len(set(channels)) != len(channels):
        raise PreferenceError(f"每个通知渠道只能设置一次：{', '.join(channels)}")
    repo.replace_prefs(session, username, [(p["channel"], p["mode"], p["address"]) for p in checked])
    return checked


def get_preferences(session: Session, username: str) -> list[dict]:
    return [{"channel": p.channel, "mode": p.mode, "address": p.address}
            for p in repo.prefs_of_user(session, username)]
