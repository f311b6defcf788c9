"""What a person reads: the Chinese text of webhook posts and emails, for one notification or a
daily digest. Pure functions of the items and the deployment time zone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

# Group robots (WeCom) refuse markdown content over 4096 bytes.
WEBHOOK_MAX_BYTES = 4096
SIGNATURE = "此消息由 CarePath 自动发送，请勿直接回复。如需更改通知方式，请联系管理员。"

KIND_LABELS = {
    "escalation": "升级",
    "reminder": "提醒",
    "overdue": "逾期",
    "task": "任务",
    "assignment": "新任务",
    "message": "消息",
}
LINK_LABELS = {"task": "任务", "escalation": "升级", "instance": "实例"}


@dataclass(frozen=True)
class Item:
    """One notification as the channels see it."""
    notification_id: int
    kind: str
    title: str
    body: str
    link: dict | None
    created_at: datetime


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def link_text(link: dict | None) -> str | None:
    """`{"task": 12}` → `任务 #12`; several keys are joined."""
    if not link:
        return None
    return "，".join(f"{LINK_LABELS.get(key, key)} #{value}" for key, value in link.items())


def local_time(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def one_line(text: str) -> str:
    """Header-safe: no line breaks, runs of whitespace collapsed."""
    return " ".join(text.split())


def _fit_bytes(text: str, limit: int, tail: str) -> str:
    """`text` cut (on a character boundary) so that it plus `tail` fits in `limit` UTF-8 bytes."""
    if len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len(tail.encode("utf-8"))
    cut = text.encode("utf-8")[:max(room, 0)].decode("utf-8", errors="ignore")
    return cut + tail


# --- webhook (markdown) ----------------------------------------------------------------------------

def webhook_markdown(item: Item, tz: ZoneInfo) -> str:
    """One notification as group-robot markdown:

        **【CarePath·升级】任务已逾期：复核转介**
        王小明的复核转介任务已超过期限 2 个工作日，请尽快处理。
        > 时间：2026-11-02 09:00
        > 关联：任务 #12
    """
    lines = [f"**【CarePath·{kind_label(item.kind)}】{one_line(item.title)}**", item.body.strip(),
             f"> 时间：{local_time(item.created_at, tz)}"]
    link = link_text(item.link)
    if link:
        lines.append(f"> 关联：{link}")
    tail = "\n……（内容过长，已截断，请登录 CarePath 查看）"
    return _fit_bytes("\n".join(lines), WEBHOOK_MAX_BYTES, tail)


def webhook_digest_markdown(items: list[Item], day: date, tz: ZoneInfo) -> str:
    """A day's digest as group-robot markdown: a heading, then one numbered entry per item. Items
    that do not fit in the robot's size limit are counted at the end instead."""
    head = f"**【CarePath】每日通知摘要（{day.isoformat()}，共 {len(items)} 条）**"
    parts = [head]
    used = len(head.encode("utf-8"))
    reserve = 120  # room for the "还有 N 条" line
    for index, item in enumerate(items, start=1):
        entry = (f"{index}. 【{kind_label(item.kind)}】{one_line(item.title)}"
                 f"（{local_time(item.created_at, tz)}）\n   {one_line(item.body)}")
        size = len(entry.encode("utf-8")) + 1
        if used + size > WEBHOOK_MAX_BYTES - reserve:
            parts.append(f"……还有 {len(items) - index + 1} 条，请登录 CarePath 查看。")
            break
        parts.append(entry)
        used += size
    return "\n".join(parts)


# --- email (plain text) ------------------------------------------------------------------------------

def email_subject(item: Item) -> str:
    return f"【CarePath·{kind_label(item.kind)}】{one_line(item.title)}"


def email_text(item: Item, tz: ZoneInfo) -> str:
    lines = [item.title.strip(), "", item.body.strip(), "",
             f"类型：{kind_label(item.kind)}",
             f"时间：{local_time(item.created_at, tz)}（{tz.key}）"]
    link = link_text(item.link)
    if link:
        lines.append(f"关联：{link}")
    lines += ["", "——", SIGNATURE]
    return "\n".join(lines) + "\n"


def digest_subject(items: list[Item], day: date) -> str:
    return f"【CarePath】每日通知摘要 {day.isoformat()}（{len(items)} 条）"


def digest_text(items: list[Item], day: date, tz: ZoneInfo) -> str:
    lines = [f"{day.isoformat()} 通知摘要，共 {len(items)} 条：", ""]
    for index, item in enumerate(items, start=1):
        lines.append(f"{index}. 【{kind_label(item.kind)}】{one_line(item.title)}")
        lines.append(f"   时间：{local_time(item.created_at, tz)}")
        link = link_text(item.link)
        if link:
            lines.append(f"   关联：{link}")
        lines += [f"   {line}" for line in item.body.strip().splitlines()]
        lines.append("")
    lines += ["——", SIGNATURE]
    return "\n".join(lines) + "\n"
