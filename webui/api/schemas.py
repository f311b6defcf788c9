"""The API's marshmallow schemas: what each request may carry (unknown fields are refused, with
their names) and what each answer holds. The OpenAPI document is generated from these."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from engine.stages import STAGES


class Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


ID = fields.Integer(required=True, metadata={"description": "编号"})


class Remaining(Schema):
    workdays = fields.Integer()
    overdue = fields.Boolean()
    text = fields.String()


class Task(Schema):
    id = fields.Integer(required=True)
    instance = fields.Integer(required=True, metadata={"description": "所属路径实例"})
    name = fields.String(required=True)
    element = fields.String(required=True, metadata={"description": "BPMN 元素 id"})
    process = fields.String(required=True, metadata={"description": "路径（流程）id"})
    role = fields.String(allow_none=True, metadata={"description": "负责角色"})
    org = fields.String(required=True, metadata={"description": "机构代码"})
    org_name = fields.String()
    status = fields.String(required=True, validate=validate.OneOf(["open", "claimed", "completed", "cancelled"]))
    assignee = fields.String(allow_none=True)
    form_key = fields.String(allow_none=True)
    stage = fields.String(allow_none=True, metadata={"description": "服务阶段"})
    due_at = fields.DateTime(allow_none=True, metadata={"description": "期限"})
    due_provisional = fields.Boolean()
    due_source = fields.String(allow_none=True)
    follow_up_at = fields.DateTime(allow_none=True)
    paused = fields.Boolean()
    escalation_level = fields.Integer()
    candidate_roles = fields.List(fields.String())
    candidate_users = fields.List(fields.String())
    created_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    remaining = fields.Nested(Remaining, allow_none=True)


class TaskPage(Schema):
    items = fields.List(fields.Nested(Task), required=True)
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "下一页的 cursor 参数；为空表示已到末尾"})


class InboxQuery(Strict):
    cursor = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]+$"),
                           metadata={"description": "上一页返回的 next_cursor"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    pathway = fields.String(metadata={"description": "只看这条路径的任务"})
    org = fields.String(metadata={"description": "只看该机构及其下级的任务"})
    stage = fields.String(validate=validate.OneOf(STAGES), metadata={"description": "只看这个服务阶段的任务"})
    overdue = fields.Boolean(load_default=False)


class TaskDetail(Schema):
    task = fields.Nested(Task, required=True)
    may = fields.Dict(keys=fields.String(), values=fields.Boolean())
    form = fields.Dict(allow_none=True, metadata={"description": "form-js 表单定义"})
    form_values = fields.Dict()
    hidden = fields.Dict(metadata={"description": "因数据分级未显示的字段数（按级别）"})
    pathway_name = fields.String()
    person = fields.Dict(allow_none=True)


class Completion(Strict):
    data = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "表单数据（按任务表单校验）"})


class Outcome(Schema):
    instance = fields.Integer(required=True)
    status = fields.String(required=True)
    error = fields.Dict(allow_none=True)
    tasks = fields.List(fields.Nested(Task), required=True, metadata={
        "description": "实例此刻的待办任务"})


class StartInstance(Strict):
    pathway = fields.String(required=True, validate=validate.Length(1, 200), metadata={"description": "路径 id"})
    org = fields.String(required=True, validate=validate.Length(1, 32), metadata={"description": "机构代码"})
    person = fields.String(validate=validate.Length(1, 64), metadata={"description": "人员编号（已登记）"})
    data = fields.Dict(keys=fields.String(), load_default=dict)


class CancelInstance(Strict):
    reason = fields.String(required=True, validate=validate.Length(2, 500))


class ApiError(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    status = fields.Integer(required=True)
    errors = fields.Dict()


class InstanceEvent(Schema):
    at = fields.DateTime()
    kind = fields.String()
    task = fields.Integer(allow_none=True)
    actor = fields.String(allow_none=True)
    element = fields.String(allow_none=True)


class InstanceDetail(Schema):
    instance = fields.Integer(required=True)
    process_id = fields.String(required=True)
    status = fields.String(required=True)
    error = fields.Dict(allow_none=True)
    data = fields.Dict(metadata={"description": "您可读级别的数据"})
    hidden = fields.Dict(metadata={"description": "未显示的数据项数（按级别）"})
    reading = fields.Dict()
    person = fields.Dict(allow_none=True)
    tasks = fields.List(fields.Nested(Task))
    events = fields.List(fields.Nested(InstanceEvent))
