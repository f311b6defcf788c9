"""Messages from outside systems into running pathways: a hospital reports a confirmed diagnosis,
civil affairs report a relief result. The message is delivered only within the unit it is sent
for (the caller's jurisdiction); its sender may read its status back."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.runtime import outside

from ..runtime import engine
from .common import SECURITY, api_blueprint, caller, idempotent, requires
from .schemas import Strict

messages = api_blueprint("api_messages", __name__, "消息：外部系统向等待中的路径实例发送关联消息")


class SendMessage(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "消息名称（某条已部署路径接收或由它启动的消息）"})
    org = fields.String(required=True, validate=validate.Length(1, 32), metadata={
        "description": "代表哪个机构发送（须在您的辖区内）：消息只投递到该机构及其下级的实例"})
    correlation = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "关联属性 {属性: 值}，须与路径为该消息定义的关联属性一致"})
    payload = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "消息内容（成为接收任务的数据）"})


class MessageStatus(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["pending", "delivered"]), metadata={
        "description": "delivered：已投递；pending：辖区内尚无实例等待它，等到后自动投递"})
    instance = fields.Integer(allow_none=True, metadata={"description": "接收（或由它启动）的路径实例"})
    org = fields.String(required=True, metadata={"description": "代表发送的机构代码"})
    created_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True)


@messages.route("/messages", methods=["POST"])
@messages.doc(security=SECURITY, parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                                             "schema": {"type": "string", "maxLength": 200}}])
@idempotent
@messages.arguments(SendMessage)
@messages.response(201, MessageStatus)
@requires("messages:send")
def send(body):
    """代表辖区内的机构发送关联消息：有实例等待时立即投递，否则保留待投递"""
    return outside.send_message(engine(), caller().username, body["name"], body["correlation"],
                                body["payload"], body["org"])


@messages.route("/messages/<int:message_id>")
@messages.doc(security=SECURITY)
@messages.response(200, MessageStatus)
@requires("messages:send")
def show(message_id: int):
    """您发送的一条消息的状态（已投递到哪个实例，或仍待投递）"""
    return outside.message_status(engine(), message_id, caller().username)
