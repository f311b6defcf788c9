"""The audit log as supervisors and operators read it: who read or did what to whose record, when
and from where.

Operators at the console read every row (`carepath audit`). A supervisor (`*.supervisor`) reads
the rows about people living at or below the units where they supervise, and the rows about no
one (sign-ins, deploys...) whose actor holds a membership at or below those units — the pure rule
is `can_read_audit`; the same rule narrows the SQL itself (engine.store.audit.in_scope), so
nothing out of scope is ever loaded. Reading the supervisors' screen and every export are
themselves audited (`audit_viewed`, `audit_exported`).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime, time, timedelta

from .directory import covers
from .errors import InvalidInput, NotFound, PermissionDenied
from .store import audit as repo
from .store import directory as directory_repo
from .store import people as people_repo
from .store import privacy as privacy_repo
from .store.models import Person
from .store.worklist import user_names

SUPERVISOR_SUFFIX = ".supervisor"
PAGE_SIZE = 50
BREAK_GLASS_DAYS = 30
VIEWED, EXPORTED = "audit_viewed", "audit_exported"

# Every action the log holds: (Chinese, English). An action missing here is shown as its code.
ACTION_LABELS: dict[str, tuple[str, str]] = {
    # reads of person records, consent and break-glass
    "read": ("查看记录", "Record read"),
    "share_refused": ("拒绝共享", "Share refused"),
    "consent_recorded": ("登记授权", "Consent recorded"),
    "consent_revoked": ("撤回授权", "Consent revoked"),
    "break_glass": ("紧急查看", "Break-glass"),
    "break_glass_refused": ("紧急查看被拒", "Break-glass refused"),
    # sign-in and accounts
    "login": ("登录", "Sign-in"),
    "login_failed": ("登录失败", "Sign-in failed"),
    "login_locked": ("登录锁定", "Sign-in locked"),
    "logout": ("退出登录", "Sign-out"),
    "password_changed": ("修改密码", "Password changed"),
    "user_disabled": ("停用用户", "User disabled"),
    "user_enabled": ("启用用户", "User enabled"),
    "api_client_created": ("创建接口客户端", "API client created"),
    "api_client_revoked": ("吊销接口客户端", "API client revoked"),
    "api_client_token_rotated": ("更换接口令牌", "API token rotated"),
    # people and instances
    "person_registered": ("登记服务对象", "Person registered"),
    "instance_started": ("启动路径", "Pathway started"),
    "instance_completed": ("路径结束", "Pathway ended"),
    "instance_error": ("实例出错", "Instance error"),
    "instance_retried": ("重试实例", "Instance retried"),
    "instance_cancelled": ("取消路径实例", "Instance cancelled"),
    "instance_migrated": ("迁移实例", "Instance migrated"),
    "message_thrown": ("发送消息", "Message sent"),
    "message_delivered": ("投递消息", "Message delivered"),
    "message_received": ("接收外部系统消息", "Message received from an outside system"),
    "timer_fired": ("定时触发", "Timer fired"),
    # tasks and assignments
    "task_created": ("任务下达", "Task created"),
    "task_claimed": ("认领任务", "Task claimed"),
    "task_released": ("退回任务", "Task released"),
    "task_completed": ("完成任务", "Task completed"),
    "task_cancelled": ("任务取消", "Task cancelled"),
    "task_reassigned": ("改派任务", "Task reassigned"),
    # deadlines and escalations
    "deadline_extended": ("延长期限", "Deadline extended"),
    "deadline_recomputed": ("重算期限", "Deadline recomputed"),
    "sla_paused": ("暂停计时", "SLA paused"),
    "sla_resumed": ("恢复计时", "SLA resumed"),
    "escalation_raised": ("督办升级", "Escalation raised"),
    "escalation_acknowledged": ("确认督办", "Escalation acknowledged"),
    "escalation_note": ("督办备注", "Escalation note"),
    # pathways, forms, calendars
    "pathway_deployed": ("部署路径", "Pathway deployed"),
    "pathway_draft_saved": ("保存路径草稿", "Pathway draft saved"),
    "pathway_imported": ("导入路径", "Pathway imported"),
    "pathway_created": ("新建路径", "Pathway created"),
    "form_draft_saved": ("保存表单草稿", "Form draft saved"),
    "form_created": ("新建表单", "Form created"),
    "calendar_imported": ("导入日历", "Calendar imported"),
    "demo_loaded": ("加载演示数据", "Demo data loaded"),
    "simulation_deleted": ("删除工作量预测", "Workload forecast deleted"),
    # the audit log itself
    VIEWED: ("查看审计日志", "Audit log viewed"),
    EXPORTED: ("导出审计日志", "Audit log exported"),
}


def action_label(action: str, english: bool = False) -> str:
    labels = ACTION_LABELS.get(action)
    return labels[1 if english else 0] if labels else action


# --- who reads which rows: pure predicates ---------------------------------------------------------

def audit_paths(grants: Iterable[tuple[str, str]]) -> list[str]:
    """The org paths where the user supervises (any agency): the roots of what they audit."""
    return sorted({path for role, path in grants if role.endswith(SUPERVISOR_SUFFIX)})


def can_read_audit(grants: Iterable[tuple[str, str]], person_org_path: str | None,
                   actor_paths: Iterable[str]) -> bool:
    """A supervisor reads a row about a person living at or below a unit where they supervise;
    a row about no one, if its actor holds a membership at or below such a unit."""
    paths = audit_paths(grants)
    if person_org_path is not None:
        return any(covers(path, person_org_path) for path in paths)
    return any(covers(path, actor_path) for path in paths for actor_path in actor_paths)


# --- reading the log -------------------------------------------------------------------------------

def _person(session, person: int | str) -> Person:
    """A person by id (an int), or by ref (a string; a string of digits that is no ref is an id)."""
    found = None
    if isinstance(person, int):
        found = session.get(Person, person)
    else:
        text = str(person).strip()
        found = people_repo.person_by_ref(session, text)
        if found is None and text.isdigit():
            found = session.get(Person, int(text))
    if found is None:
        raise NotFound(f"服务对象 {person} 未登记 (unknown person)")
    return found


def _scope(session, username: str) -> list[str]:
    paths = audit_paths(directory_repo.user_grants(session, username))
    if not paths:
        raise PermissionDenied("审计日志仅对督导开放")
    return paths


def _entry(ctx, row, person: Person | None, actor_name: str | None) -> dict:
    return {"id": row.id, "at": ctx.clock.local(row.at), "actor": row.actor, "actor_name": actor_name,
            "action": row.action, "action_label": action_label(row.action),
            "person_id": row.person_id, "person_ref": person.ref if person else None,
            "person_name": person.name if person else None, "target": row.target,
            "origin": row.origin, "detail": dict(row.detail or {})}


def _read(ctx, session, *, person=None, user=None, actions=None, since=None, until=None,
          scope_username=None, scope_paths=None, after_id=None, before_id=None, newest_first=False,
          limit=None, unknown_person_is_empty=False) -> list[dict]:
    if scope_paths is None and scope_username is not None:
        scope_paths = _scope(session, scope_username)
    person_id = None
    if person is not None:
        try:
            person_id = _person(session, person).id
        except NotFound:
            if unknown_person_is_empty:
                return []
            raise
    rows = repo.entries_with_names(session, person_id=person_id, actor=user or None,
                                   actions=list(actions) if actions else None, since=since, until=until,
                                   after_id=after_id, before_id=before_id, scope_paths=scope_paths,
                                   newest_first=newest_first, limit=limit)
    return [_entry(ctx, row, found, name) for row, found, name in rows]


def audit_entries(ctx, *, person: int | str | None = None, user: str | None = None,
                  actions: Iterable[str] | None = None, since: datetime | None = None,
                  until: datetime | None = None, scope_username: str | None = None,
                  after_id: int | None = None, before_id: int | None = None,
                  newest_first: bool = False, limit: int | None = None) -> list[dict]:
    """Audit rows, oldest first (newest first on request), as dicts: id, at (aware, in the
    deployment time zone), actor, actor_name, action, action_label (Chinese), person_id,
    person_ref, person_name (None when the row is about no one), target, origin, detail.
    `since` is inclusive, `until` exclusive. With `scope_username`, only the rows that
    supervisor reads (PermissionDenied for someone who supervises nowhere). An unknown `person`
    is NotFound."""
    with ctx.db.unit_of_work() as session:
        return _read(ctx, session, person=person, user=user, actions=actions, since=since, until=until,
                     scope_username=scope_username, after_id=after_id, before_id=before_id,
                     newest_first=newest_first, limit=limit)


def _log_access(ctx, session, access: str, actor: str | None, query: dict, count: int, **more) -> None:
    """The audit row of a reading of the audit log: the filters used and how many rows it gave."""
    given = {"person": None if query.get("person") is None else str(query["person"]),
             "user": query.get("user") or None,
             "actions": sorted(query["actions"]) if query.get("actions") else None,
             "since": query["since"].isoformat() if query.get("since") else None,
             "until": query["until"].isoformat() if query.get("until") else None,
             "before_id": query.get("before_id"), "limit": query.get("limit")}
    filters = {key: value for key, value in given.items() if value is not None}
    repo.append(session, ctx.clock.now(), actor, access, filters=filters, count=count,
                **{key: value for key, value in more.items() if value is not None})


def audited_entries(ctx, access: str, actor: str | None, *, fmt: str | None = None,
                    max_rows: int | None = None, **query) -> list[dict]:
    """`audit_entries(**query)` read and logged in one transaction: `access` is VIEWED or
    EXPORTED; the row records the filters, the count and the format. With `max_rows`, more
    matching rows than that is refused (InvalidInput) rather than cut short."""
    if access not in (VIEWED, EXPORTED):
        raise ValueError(f"not an audit access: {access!r}")
    limit = query.get("limit")
    fetch = limit if max_rows is None else (max_rows + 1 if limit is None else min(limit, max_rows + 1))
    with ctx.db.unit_of_work() as session:
        found = _read(ctx, session, **{**query, "limit": fetch})
        if max_rows is not None and len(found) > max_rows:
            raise InvalidInput(f"符合条件的审计记录超过 {max_rows} 条，请缩小日期范围或增加筛选条件")
        _log_access(ctx, session, access, actor, query, len(found), format=fmt)
        return found


# --- exports ---------------------------------------------------------------------------------------

CSV_COLUMNS = ("id", "时间", "操作人", "操作", "服务对象", "对象", "来源", "详情")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def labelled(name: str | None, code: str | None) -> str:
    """A display name with its code, as in 王老师（teacher_a）; the code alone without a name."""
    if not code:
        return ""
    return f"{name}（{code}）" if name else code


def export_csv(entries: Iterable[dict]) -> str:
    """CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads the Chinese), times in
    the deployment time zone, details as JSON."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([entry["id"], entry["at"].strftime("%Y-%m-%d %H:%M:%S"),
                         spreadsheet_text(labelled(entry["actor_name"], entry["actor"])), spreadsheet_text(entry["action_label"]),
                         spreadsheet_text(labelled(entry["person_name"], entry["person_ref"])), spreadsheet_text(entry["target"]),
                         spreadsheet_text(entry["origin"]),
                         spreadsheet_text(json.dumps(entry["detail"], ensure_ascii=False, sort_keys=True)
                               if entry["detail"] else "")])
    return out.getvalue()


def entry_json(entry: dict) -> dict:
    """One entry as JSON-ready values (the time in ISO 8601 with its offset)."""
    return {**entry, "at": entry["at"].isoformat()}


def export_json(entries: Iterable[dict]) -> str:
    """A JSON array of entries, one per line."""
    lines = [json.dumps(entry_json(entry), ensure_ascii=False) for entry in entries]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


EXPORTERS = {"csv": export_csv, "json": export_json}


def export_entries(ctx, fmt: str, *, actor: str | None = None, max_rows: int | None = None,
                   **filters) -> str:
    """The matching rows as a CSV or JSON document, the export itself audited."""
    if fmt not in EXPORTERS:
        raise InvalidInput(f"导出格式应为 {'/'.join(EXPORTERS)}")
    return EXPORTERS[fmt](audited_entries(ctx, EXPORTED, actor, fmt=fmt, max_rows=max_rows, **filters))


# --- the supervisors' screen -----------------------------------------------------------------------

def day_bounds(ctx, since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """A date range typed as local dates, both days included: [since 00:00, the day after until
    00:00). A full ISO 8601 date-time is taken as the instant itself."""
    def parse(text: str | None, next_day: bool) -> datetime | None:
        text = (text or "").strip()
        if not text:
            return None
        try:
            if len(text) == 10:
                day = datetime.fromisoformat(text).date() + timedelta(days=1 if next_day else 0)
                return datetime.combine(day, time(0), ctx.clock.tz)
            value = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"日期格式应为 YYYY-MM-DD：{text}") from None
        return value if value.tzinfo else value.replace(tzinfo=ctx.clock.tz)
    return parse(since, False), parse(until, True)


def break_glass_panel(ctx, session, paths: list[str], days: int = BREAK_GLASS_DAYS) -> list[dict]:
    """Break-glass openings of the last `days` days on people living under `paths`, newest first."""
    now = ctx.clock.now()
    rows = privacy_repo.break_glass_under(session, paths, now - timedelta(days=days))
    names = user_names(session, {opening.username for opening, _ in rows})
    return [{"id": opening.id, "username": opening.username, "user_name": names.get(opening.username),
             "person_id": person.id, "person_ref": person.ref, "person_name": person.name,
             "reason": opening.reason, "origin": opening.origin, "opened_at": ctx.clock.local(opening.opened_at),
             "until": ctx.clock.local(opening.until), "open": opening.until > now}
            for opening, person in rows]


def audit_screen(ctx, username: str, *, person: str | None = None, user: str | None = None,
                 actions: Iterable[str] | None = None, since: datetime | None = None,
                 until: datetime | None = None, before_id: int | None = None,
                 page_size: int = PAGE_SIZE) -> dict:
    """What a supervisor's /audit shows, its reading audited (`audit_viewed`): {"entries":
    newest first, at most `page_size`, "earlier": the cursor (before_id) of the next page or
    None, "break_glass": `break_glass_panel`}. An unknown person gives no entries, exactly as a
    person out of the supervisor's scope does. PermissionDenied for non-supervisors."""
    query = {"person": person or None, "user": user, "actions": actions, "since": since, "until": until,
             "before_id": before_id}
    with ctx.db.unit_of_work() as session:
        paths = _scope(session, username)
        found = _read(ctx, session, **query, scope_paths=paths, newest_first=True, limit=page_size + 1,
                      unknown_person_is_empty=True)
        shown = found[:page_size]
        _log_access(ctx, session, VIEWED, username, query, len(shown))
        panel = break_glass_panel(ctx, session, paths)
    earlier = shown[-1]["id"] if len(found) > page_size else None
    return {"entries": shown, "earlier": earlier, "break_glass": panel}
