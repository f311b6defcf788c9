"""Marshmallow schemas of the API's pathway and people routes (webui/api/pathways.py,
webui/api/people.py): what a request may carry (unknown fields refused, as in schemas.py) and what
each answer holds. The FHIR routes answer FHIR R4 JSON and have no marshmallow schema."""
from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate
from werkzeug.datastructures import FileStorage

from engine.workspace import MAX_COMMENT

from .. import MAX_ROW_ID
from .schemas import ApiError, Strict, Task

# --- pathways ------------------------------------------------------------------------------------


class PathwayQuery(Strict):
    q = fields.String(validate=validate.Length(max=200), metadata={"description": "按路径 id 或名称筛选"})
    drafts = fields.Boolean(load_default=False, metadata={
        "description": "也列出尚未部署、只有草稿的路径"})


class PathwayDraft(Schema):
    revision = fields.Integer(required=True, metadata={"description": "草稿修订号（部署时须给出）"})
    saved_at = fields.DateTime()
    saved_by = fields.String()
    pending = fields.Boolean(metadata={"description": "草稿与最新版本不同（有未部署的修改）"})


class PathwayVersion(Schema):
    version = fields.Integer(required=True, metadata={"description": "版本号"})
    deployed_at = fields.DateTime(allow_none=True)
    deployed_by = fields.String(allow_none=True)
    comment = fields.String(allow_none=True, metadata={"description": "部署说明"})
    running = fields.Integer(metadata={"description": "在此版本上运行的实例数"})


class PathwaySummary(Schema):
    process_id = fields.String(required=True, metadata={"description": "路径（流程）id"})
    name = fields.String(required=True)
    latest = fields.Integer(allow_none=True, metadata={"description": "最新版本号；尚未部署为空"})
    deployed_at = fields.DateTime(allow_none=True, metadata={"description": "最新版本的部署时间"})
    deployed_by = fields.String(allow_none=True)
    running = fields.Integer(metadata={"description": "运行中的实例数（各版本合计）"})
    draft = fields.Nested(PathwayDraft, allow_none=True, metadata={"description": "工作区草稿"})


class PathwayList(Schema):
    items = fields.List(fields.Nested(PathwaySummary), required=True)


class PathwayDetail(PathwaySummary):
    versions = fields.List(fields.Nested(PathwayVersion), required=True, metadata={
        "description": "各版本，最新的在前"})


class PathwayVersionList(Schema):
    items = fields.List(fields.Nested(PathwayVersion), required=True)


class DeployDraft(Strict):
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(0, MAX_ROW_ID), metadata={
        "description": "您所见的草稿修订号；草稿已被他人保存为更新的修订号时返回 409"})
    comment = fields.String(required=True, validate=validate.Length(1, MAX_COMMENT), metadata={
        "description": "部署说明：改了什么、为什么"})


class FileUpload(Upload):
    """A file part of a multipart request (a plain text field of the same name is refused)."""
    default_error_messages = {"invalid": "Not a file upload."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise self.make_error("invalid")
        return value


class DeployFile(Strict):
    file = FileUpload(required=True, metadata={"description": "BPMN 文件（恰好一个可执行流程，其 id 即路径 id）"})
    comment = fields.String(required=True, validate=validate.Length(1, MAX_COMMENT), metadata={
        "description": "部署说明：改了什么、为什么"})


class Deployed(Schema):
    process_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "部署后的最新版本号"})
    changed = fields.Boolean(required=True, metadata={"description": "是否产生了新版本（内容与最新版本相同时为否）"})
    name = fields.String(allow_none=True)


class PathwayProblem(Schema):
    element = fields.String(metadata={"description": "BPMN 元素 id（\"-\"：整个文件）"})
    line = fields.Integer(metadata={"description": "行号（0：未知）"})
    message = fields.String()


class PathwayRefusal(ApiError):
    """422: the pathway is invalid (`problems`), or the request does not fit its schema (`errors`)."""
    problems = fields.List(fields.Nested(PathwayProblem), metadata={
        "description": "路径校验发现的每个问题及其位置（code 为 pathway_invalid 时）"})


# --- people --------------------------------------------------------------------------------------


class JourneyPerson(Schema):
    id = fields.Integer(required=True)
    ref = fields.String(required=True, metadata={"description": "人员编号"})
    name = fields.String(required=True)
    gender = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    org = fields.String(required=True, metadata={"description": "所属机构代码"})
    org_name = fields.String()
    registered_at = fields.DateTime(allow_none=True)


class JourneyInstance(Schema):
    instance = fields.Integer(required=True)
    process_id = fields.String(required=True)
    pathway_name = fields.String()
    version = fields.Integer()
    status = fields.String(required=True)
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    org = fields.String()
    org_name = fields.String()
    started_by_message = fields.Boolean()
    parent = fields.Integer(allow_none=True, metadata={"description": "以消息启动本实例的实例"})
    error = fields.Dict(allow_none=True)


class JourneyEntry(Schema):
    at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    instance = fields.Integer(allow_none=True)
    process_id = fields.String(allow_none=True)
    task = fields.Integer(allow_none=True)
    task_name = fields.String(allow_none=True)
    element = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    actor_name = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    agency = fields.String(allow_none=True)
    org = fields.String(allow_none=True)
    org_name = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    on_time = fields.Boolean(allow_none=True)
    level = fields.Integer(allow_none=True, metadata={"description": "督办级别"})
    text = fields.String(metadata={"description": "一句话说明"})


class JourneyTask(Task):
    overdue = fields.Boolean()


class JourneySummary(Schema):
    completed = fields.Integer()
    late = fields.Integer(metadata={"description": "其中超期完成"})
    open = fields.Integer()
    overdue = fields.Integer(metadata={"description": "当前超期"})


class DataReading(Schema):
    tiers = fields.List(fields.String(), metadata={"description": "您可读的数据级别"})
    basis = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "各级别的依据：role、consent:<编号> 或 break_glass:<编号>"})
    break_glass = fields.Integer(allow_none=True)


class PersonConsent(Schema):
    id = fields.Integer()
    agencies = fields.List(fields.String())
    tiers = fields.List(fields.String())
    valid_from = fields.DateTime()
    until = fields.DateTime()
    basis = fields.String()
    recorded_by = fields.String(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoked_by = fields.String(allow_none=True)
    revoke_reason = fields.String(allow_none=True)
    state = fields.String(validate=validate.OneOf(["pending", "in_force", "expired", "revoked"]))


class OpenBreakGlass(Schema):
    id = fields.Integer()
    until = fields.DateTime()
    reason = fields.String()


class PersonJourney(Schema):
    person = fields.Nested(JourneyPerson, required=True)
    instances = fields.List(fields.Nested(JourneyInstance), required=True, metadata={
        "description": "此人的路径实例，最早的在前"})
    timeline = fields.List(fields.Nested(JourneyEntry), required=True, metadata={
        "description": "各实例的事件，按时间排列"})
    current_tasks = fields.List(fields.Nested(JourneyTask), required=True, metadata={
        "description": "当前任务，期限最近的在前"})
    summary = fields.Nested(JourneySummary, required=True)
    reading = fields.Nested(DataReading, required=True)
    consents = fields.List(fields.Nested(PersonConsent))
    may_manage_consent = fields.Boolean()
    break_glass = fields.Nested(OpenBreakGlass, allow_none=True, metadata={
        "description": "您对此人开启中的紧急查看"})
