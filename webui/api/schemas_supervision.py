"""Schemas of the supervisors' API (webui/api/supervision.py): the escalation queue and what a
supervisor does with it, and the indicators. Moments in requests are read on the engine's clock:
an ISO date or date-time, in the deployment's time zone unless it carries its own."""
from __future__ import annotations

from datetime import date, datetime, time

from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from engine.indicators import UNSTAGED
from engine.stages import STAGES
from engine.store.indicators import STATES

from ..runtime import engine
from .. import MAX_ROW_ID
from .schemas import Strict, Task

CURSOR = fields.String(metadata={"description": "上一页返回的 next_cursor"})
LIMIT = fields.Integer(load_default=50, validate=validate.Range(1, 200))


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError(_("不能只有空白。"))


class LocalMoment(fields.String):
    """An ISO date (`YYYY-MM-DD`) or date-time (`YYYY-MM-DDTHH:MM[:SS][±HH:MM]`) on the engine's
    clock. Without a zone it is in the deployment's time zone; a bare date is that day's start
    (00:00) or, with `close_of_day`, its close of business (what the escalation page does)."""

    PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"

    def __init__(self, *, close_of_day: bool = False, **kwargs):
        kwargs["metadata"] = {"pattern": self.PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.close_of_day = close_of_day

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        settings = engine().settings
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text),
                                          settings.workday_close if self.close_of_day else time(0))
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(_("应为 ISO 日期（YYYY-MM-DD）或日期时间（YYYY-MM-DDTHH:MM:SS，可带时区）。")) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=settings.timezone)


# --- escalations ---------------------------------------------------------------------------------

class QueueQuery(Strict):
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "acknowledged", "resolved", "all"]),
                           metadata={"description": "open（含已确认）、acknowledged、resolved 或 all"})
    level = fields.Integer(validate=validate.Range(1, MAX_ROW_ID), metadata={"description": "只看该级别的督办"})
    agency = fields.String(validate=validate.Length(1, 50), metadata={"description": "部门，如 health"})
    org = fields.String(validate=validate.Length(1, 32), metadata={"description": "只看该机构及其下级的督办"})
    sort = fields.String(load_default="level", validate=validate.OneOf(["level", "age", "-age"]),
                         metadata={"description": "level：级别高的在前；age：早的在前；-age：新的在前"})
    cursor = CURSOR
    limit = LIMIT


class Person(Schema):
    id = fields.Integer(required=True)
    name = fields.String()
    ref = fields.String()


class QueueTask(Task):
    assignee_name = fields.String(allow_none=True)
    role_name = fields.String(allow_none=True)


class StaffMember(Schema):
    username = fields.String(required=True)
    name = fields.String()
    org_name = fields.String(metadata={"description": "所在机构"})


class Unit(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class EscalationFields(Schema):
    id = fields.Integer(required=True)
    instance = fields.Integer(required=True)
    level = fields.Integer(required=True, metadata={"description": "督办级别（1 为到期提醒）"})
    role = fields.String(required=True, metadata={"description": "负责处理的角色"})
    org = fields.String(required=True, metadata={"description": "负责处理的机构"})
    agency = fields.String(required=True)
    raised_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True, metadata={"description": "督办时任务的期限"})
    status = fields.String(required=True, metadata={"description": "open、acknowledged 或 resolved"})
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)


class Escalation(EscalationFields):
    task = fields.Integer(required=True, metadata={"description": "被督办的任务"})


class QueueItem(EscalationFields):
    org_name = fields.String()
    task = fields.Nested(QueueTask, required=True, metadata={"description": "被督办的任务（此刻的状态）"})
    person = fields.Nested(Person, allow_none=True)
    age_hours = fields.Float(metadata={"description": "督办至今的小时数"})
    may_supervise = fields.Boolean(metadata={"description": "您可改派、延期该任务"})
    reassign_users = fields.List(fields.Nested(StaffMember), metadata={
        "description": "可改派给的人员（may_supervise 为否时为空）"})


class QueuePage(Schema):
    items = fields.List(fields.Nested(QueueItem), required=True)
    next_cursor = fields.String(allow_none=True, metadata={"description": "下一页的 cursor 参数；为空表示已到末尾"})
    total = fields.Integer(required=True, metadata={"description": "符合条件的督办总数"})
    reassign_units = fields.List(fields.Nested(Unit), metadata={"description": "可改派到的机构（您督导的辖区）"})


class Acknowledge(Strict):
    note = fields.String(validate=validate.Length(max=2000), metadata={"description": "可选的备注"})


class Note(Strict):
    note = fields.String(required=True, validate=[validate.Length(1, 2000), _not_blank])


REASON = fields.String(required=True, validate=[validate.Length(1, 500), _not_blank],
                       metadata={"description": "原因（必填，留痕）"})


class Reassign(Strict):
    to_user = fields.String(validate=validate.Length(1, 100), metadata={"description": "改派给此用户（任务归其所有）"})
    to_org = fields.String(validate=validate.Length(1, 32), metadata={"description": "或移到此机构（重新待认领）"})
    reason = REASON

    @validates_schema
    def _one_target(self, data, **_kwargs):
        if ("to_user" in data) == ("to_org" in data):
            message = _("请给出 to_user 或 to_org 之一。")
            raise ValidationError({"to_user": [message], "to_org": [message]})


class Extend(Strict):
    until = LocalMoment(close_of_day=True, metadata={
        "description": "新的截止时间：日期（当天下班时间）或日期时间，须晚于当前时间"})
    workdays = fields.Integer(validate=validate.Range(1, 60), metadata={"description": "或：延长的工作日数"})
    reason = REASON

    @validates("until")
    def _in_future(self, value: datetime, **_kwargs):
        if value <= engine().clock.now():
            raise ValidationError(_("新的截止时间必须晚于当前时间。"))

    @validates_schema
    def _one_way(self, data, **_kwargs):
        if ("until" in data) == ("workdays" in data):
            message = _("请给出 until 或 workdays 之一。")
            raise ValidationError({"until": [message], "workdays": [message]})


# --- indicators ------------------------------------------------------------------------------------

class Window(Strict):
    org = fields.String(validate=validate.Length(1, 32), metadata={
        "description": "机构代码；缺省为您督导的第一个机构"})
    since = LocalMoment(metadata={"description": "统计区间开始（含）；缺省为 until 前 30 天；日期指当天 0 时"})
    until = LocalMoment(metadata={"description": "统计区间结束（不含）；缺省为当前时间，不能晚于当前时间；日期指当天 0 时"})

    @validates("until")
    def _not_ahead(self, value: datetime, **_kwargs):
        if value > engine().clock.now():
            raise ValidationError(_("不能晚于当前时间。"))

    @validates_schema
    def _ordered(self, data, **_kwargs):
        if "since" in data and data["since"] >= data.get("until", engine().clock.now()):
            raise ValidationError({"since": [_("统计区间的开始必须早于结束。")]})


class IndicatorTasksQuery(Window):
    state = fields.String(load_default="overdue", validate=validate.OneOf(STATES), metadata={
        "description": "open、overdue（在 until 时点）或 completed、late、on_time（区间内办结）"})
    agency = fields.String(validate=validate.Length(1, 50), metadata={"description": "部门，如 health"})
    stage = fields.String(validate=validate.OneOf([*STAGES, UNSTAGED]), metadata={
        "description": f"服务阶段；{UNSTAGED} 为无阶段的任务"})
    own = fields.Boolean(load_default=False, metadata={"description": "只看该机构本级的任务"})
    cursor = CURSOR
    limit = LIMIT


class Counters(Schema):
    open = fields.Integer(required=True, metadata={"description": "统计截止时点在办"})
    overdue = fields.Integer(required=True, metadata={"description": "统计截止时点在办且逾期"})
    completed = fields.Integer(required=True, metadata={"description": "区间内办结"})
    completed_with_due = fields.Integer(required=True)
    completed_on_time = fields.Integer(required=True)
    late = fields.Integer(required=True)
    on_time_rate = fields.Float(allow_none=True, metadata={"description": "按时率（0–1）；无可计的为空"})


class AgencyCounters(Counters):
    agency = fields.String(allow_none=True)
    label = fields.String()


class OrgCounters(Counters):
    org = fields.String(required=True)
    name = fields.String()
    own = fields.Boolean(metadata={"description": "该机构本级（其余为各直属下级及其下级）"})


class StageCounters(Counters):
    stage = fields.String(allow_none=True)
    label = fields.String()
    median_hours = fields.Float(allow_none=True, metadata={"description": "中位用时（小时）"})


class Programme(Schema):
    value = fields.Float(allow_none=True)
    numerator = fields.Integer()
    denominator = fields.Integer()
    approved = fields.Integer()
    label = fields.String()
    agency = fields.String()
    definition = fields.String()


class Indicators(Schema):
    org = fields.String(required=True)
    org_name = fields.String()
    since = fields.DateTime(required=True)
    until = fields.DateTime(required=True)
    totals = fields.Nested(Counters, required=True)
    by_agency = fields.List(fields.Nested(AgencyCounters))
    by_org = fields.List(fields.Nested(OrgCounters))
    by_stage = fields.List(fields.Nested(StageCounters))
    programmes = fields.Dict(keys=fields.String(), values=fields.Nested(Programme), metadata={
        "description": "screening_rate、severe_followup_on_time、relief_coverage"})


class WatchedUnit(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String()
