"""Engine errors as pages: missing (or not yours) → 404, refused → 403, bad input → 400."""
from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def register_error_pages(app: Flask) -> None:
    def page(status: int, title: str, message: str | None):
        return render_template("error.html", status=status, title=title, message=message), status

    app.register_error_handler(NotFound, lambda err: page(404, _("未找到"), str(err)))
    app.register_error_handler(404, lambda err: page(404, _("未找到"), _("页面不存在。")))
    app.register_error_handler(PermissionDenied, lambda err: page(403, _("无权访问"), str(err)))
    app.register_error_handler(InvalidInput, lambda err: page(400, _("输入有误"), str(err)))
    app.register_error_handler(Conflict, lambda err: page(409, _("操作冲突"), str(err)))
    app.register_error_handler(CSRFError, lambda err: page(400, _("页面已过期"),
                                                           _("表单已失效，请刷新页面后重试。")))
    app.register_error_handler(413, lambda err: page(413, _("提交内容过大"), None))
