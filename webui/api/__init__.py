"""CarePath's REST API at /api/v1 (flask-smorest on marshmallow schemas): pathways, instances,
tasks, people, escalations, indicators and messages, and FHIR R4 export. The OpenAPI document is
at /api/v1/openapi.json and an interactive page at /api/v1/docs. See webui/api/common.py for
authentication, errors, cursors and idempotency keys."""
from __future__ import annotations

from flask import Flask, render_template, request
from flask_smorest import Api
from flask_smorest.spec.plugins import integerconverter2paramschema

from .common import BEARER, http_error
from .schemas import ApiError

API_PREFIX = "/api/"


class CarePathApi(Api):
    """flask-smorest's Api, whose catch-all HTTP error handler answers JSON only under /api/:
    the pages keep their own error pages. Its documented error body is CarePath's own
    `{code, message, status[, errors]}`."""

    ERROR_SCHEMA = ApiError

    def handle_http_exception(self, error):
        if request.path.startswith(API_PREFIX):
            return http_error(error)
        return error


def init_app(app: Flask) -> Api:
    from .. import RowId, auth
    from . import messages, pathways, people, supervision, work
    app.config.update(
        API_TITLE="CarePath API", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": (
                "CarePath 跨部门心理健康服务路径的接口。系统客户端用 `Authorization: Bearer <令牌>`"
                "（令牌由管理员用 `carepath api-client create` 签发，带权限范围与辖区）；已登录的浏览器"
                "可用会话，写操作需带 `X-CSRFToken`。错误为 JSON：`{code, message, status}`。"
                "请求中的任何文本都不得含 NUL 字符（\\u0000），否则返回 400。")},
            "components": {"securitySchemes": {
                BEARER: {"type": "http", "scheme": "bearer", "description": "API 客户端令牌 cp_…"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": app.config["SESSION_COOKIE_NAME"]},
            }},
        })
    api = CarePathApi(app)
    api.register_converter(RowId, integerconverter2paramschema)      # documents its maximum
    for blueprint in (work.tasks, work.instances, pathways.pathways, people.people, people.fhir,
                      supervision.escalations, supervision.indicators, messages.messages):
        api.register_blueprint(blueprint)
        auth.csrf.exempt(blueprint)      # a session caller's CSRF token is checked in `authenticate`
    app.add_url_rule("/api/v1/docs", "api_docs", lambda: render_template("api/docs.html"))
    return api
