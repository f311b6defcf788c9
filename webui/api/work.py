"""Tasks (inbox, one task, claim, release, complete with form validation) and instances (start,
read, cancel): what frontline systems need to do their part of a pathway without the pages."""
from __future__ import annotations

from datetime import datetime

from engine import records, worklist
from engine.errors import NotFound, PermissionDenied
from engine.runtime import control, services

from ..runtime import engine
from . import schemas
from .common import (IDEMPOTENCY_PARAMETER, SECURITY, api_blueprint, caller, decode_cursor, encode_cursor,
                     idempotent, requires)

tasks = api_blueprint("api_tasks", __name__, "任务：待办、查看、认领、退回、完成（按表单校验）")
instances = api_blueprint("api_instances", __name__, "路径实例：启动、查看、取消")


def _position(cursor: str | None):
    return decode_cursor(cursor, ("due", "id"),
                         lambda position: (datetime.fromisoformat(position["due"]), int(position["id"])))


@tasks.route("/tasks")
@tasks.doc(security=SECURITY)
@tasks.arguments(schemas.InboxQuery, location="query")
@tasks.response(200, schemas.TaskPage)
@requires("tasks:read")
def inbox(query):
    """我的待办（按期限排序，无期限的在最后），按 cursor 分页"""
    items, last = worklist.inbox_after(
        engine(), caller().username, after=_position(query.get("cursor")), limit=query["limit"],
        process=query.get("pathway"), org=query.get("org"), stage=query.get("stage"),
        overdue=query["overdue"])
    cursor = encode_cursor({"due": last[0].isoformat(), "id": last[1]}) if last else None
    return {"items": items, "next_cursor": cursor}


@tasks.route("/tasks/<int:task_id>")
@tasks.doc(security=SECURITY)
@tasks.response(200, schemas.TaskDetail)
@requires("tasks:read")
def show(task_id: int):
    """一个任务：可做的操作、表单与其初值（按数据分级）"""
    return worklist.task_page(engine(), task_id, caller().username)


@tasks.route("/tasks/<int:task_id>/claim", methods=["POST"])
@tasks.doc(security=SECURITY)
@tasks.response(200, schemas.Task)
@requires("tasks:write")
def claim(task_id: int):
    """认领任务（只能认领提供给您的角色或您本人的任务）"""
    worklist.require_visible(engine(), task_id, caller().username)
    return services.claim(engine(), task_id, caller().username)


@tasks.route("/tasks/<int:task_id>/release", methods=["POST"])
@tasks.doc(security=SECURITY)
@tasks.response(200, schemas.Task)
@requires("tasks:write")
def release(task_id: int):
    """退回已认领的任务"""
    worklist.require_visible(engine(), task_id, caller().username)
    return services.release(engine(), task_id, caller().username)


@tasks.route("/tasks/<int:task_id>/complete", methods=["POST"])
@tasks.doc(security=SECURITY, parameters=[IDEMPOTENCY_PARAMETER])
@idempotent
@tasks.arguments(schemas.Completion)
@tasks.response(200, schemas.Outcome)
@tasks.alt_response(422, schema=schemas.ApiError, description="表单数据不符合任务表单（errors 按字段列出）")
@requires("tasks:write")
def complete(body, task_id: int):
    """完成任务：数据按任务表单校验，不符合时返回 422 与各字段的问题"""
    worklist.require_visible(engine(), task_id, caller().username)
    return services.complete(engine(), task_id, caller().username, body["data"]).__dict__


@instances.route("/instances", methods=["POST"])
@instances.doc(security=SECURITY, parameters=[IDEMPOTENCY_PARAMETER])
@idempotent
@instances.arguments(schemas.StartInstance)
@instances.response(201, schemas.Outcome)
@requires("instances:write")
def start(body):
    """在辖区内的机构启动一条路径（可指定已登记的服务对象）"""
    outcome = control.start_for_user(engine(), caller().username, body["pathway"], body["org"],
                                     body["data"], body.get("person"))
    return outcome.__dict__


@instances.route("/instances/<int:instance_id>")
@instances.doc(security=SECURITY)
@instances.response(200, schemas.InstanceDetail)
@requires("instances:read")
def show_instance(instance_id: int):
    """一个路径实例：状态、按数据分级可见的数据、任务与事件（读取留痕）"""
    try:
        return records.instance_page_for_user(engine(), instance_id, caller().username)["detail"]
    except (NotFound, PermissionDenied):
        raise NotFound(f"实例 {instance_id} 不存在或不在您的辖区内") from None


@instances.route("/instances/<int:instance_id>/cancel", methods=["POST"])
@instances.doc(security=SECURITY)
@instances.arguments(schemas.CancelInstance)
@instances.response(200, schemas.Outcome)
@requires("instances:write")
def cancel(body, instance_id: int):
    """取消路径实例（督导或分析员，需填写原因）：待办任务随之取消"""
    return control.cancel_instance(engine(), instance_id, caller().username, body["reason"]).__dict__
