"""Engine errors as pages: missing (or not yours) → 404, refused → 403, bad input → 400, too large
→ 413. A JSON client (the modeler and form editor islands ask for JSON, and send XML or JSON
bodies) gets the same answer as `{"error": message, "code": code}` instead of a page."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied

_JSON_BODIES = ("application/json", "application/xml", "text/xml")


def wants_json() -> bool:
    """Whether the request came from a JSON client rather than a browser page."""
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"] or request.mimetype in _JSON_BODIES


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def too_large_message() -> str:
    """What was too large, where it was sent and that nothing was kept."""
    limit = _megabytes(request.max_content_length or 0)
    if request.content_length:
        return _("提交到 %(path)s 的内容有 %(size)s，超过上限 %(limit)s，未保存任何内容。",
                 path=request.path, size=_megabytes(request.content_length), limit=limit)
    return _("提交到 %(path)s 的内容超过上限 %(limit)s，未保存任何内容。", path=request.path, limit=limit)


def register_error_pages(app: Flask) -> None:
    def page(status: int, code: str, title: str, message: str | None):
        if request.path.startswith("/api/"):
            from .api.common import error_response       # the API's own error shape
            return error_response(status, code, message or title)
        if wants_json():
            return jsonify({"error": message or title, "code": code}), status
        return render_template("error.html", status=status, title=title, message=message), status

    app.register_error_handler(NotFound, lambda err: page(404, err.code, _("未找到"), str(err)))
    app.register_error_handler(404, lambda err: page(404, "not_found", _("未找到"), _("页面不存在。")))
    app.register_error_handler(PermissionDenied, lambda err: page(403, err.code, _("无权访问"), str(err)))
    app.register_error_handler(InvalidInput, lambda err: page(400, err.code, _("输入有误"), str(err)))
    app.register_error_handler(Conflict, lambda err: page(409, err.code, _("操作冲突"), str(err)))
    app.register_error_handler(CSRFError, lambda err: page(400, "csrf", _("页面已过期"),
                                                           _("表单已失效，请刷新页面后重试。")))
    app.register_error_handler(413, lambda err: page(413, "too_large", _("提交内容过大"), too_large_message()))
