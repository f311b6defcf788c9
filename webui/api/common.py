"""What every /api/v1 blueprint shares: who is calling (a client's bearer token, or the browser's
signed-in session), scopes, errors as JSON, cursors and idempotency keys.

- **Authentication.** `Authorization: Bearer cp_…` names an API client (engine/apiclients.py): a
  service account whose memberships are its roles × org units, and whose token carries scopes. A
  browser already signed in to the web UI may call the API with its session instead; it then has
  every scope (the same as its pages), and a request that changes something must carry the
  session's CSRF token in `X-CSRFToken`. Either way the engine's services apply the same role ×
  jurisdiction × tier rules as the pages, because they are given the caller's username.
- **Errors** are `{"code": "…", "message": "…", "status": 4xx}` (plus `errors` for field-level
  problems); the message says what was wrong and where.
- **Cursors** are opaque to clients: the position after the last item of a page.
- **Idempotency keys** (`Idempotency-Key` header) on the POSTs that start or complete: the same key
  with the same request gives the first answer again without doing it twice.
"""
from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from flask_wtf.csrf import CSRFError, validate_csrf
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from wtforms.validators import ValidationError as CsrfInvalid

from engine import apiclients, idempotency
from engine.errors import CarePathError, Conflict, FormInvalid, InvalidInput, NotFound, PermissionDenied

from ..runtime import engine

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER = "bearerAuth"
SECURITY = [{BEARER: []}, {"sessionCookie": []}]


@dataclass(frozen=True)
class Caller:
    username: str
    scopes: frozenset[str]
    client: str | None        # the API client's name; None for a browser session

    @property
    def owner(self) -> str:
        """Whose idempotency keys these are."""
        return f"client:{self.client}" if self.client else f"user:{self.username}"


class Unauthenticated(CarePathError):
    code = "unauthenticated"


_STATUS = ((Unauthenticated, 401), (NotFound, 404), (PermissionDenied, 403), (FormInvalid, 422),
           (InvalidInput, 400), (Conflict, 409))


def error_response(status: int, code: str, message: str, errors: dict | None = None, headers=None):
    body = {"code": code, "message": message, "status": status}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def engine_error(err: CarePathError):
    status = next((code for kind, code in _STATUS if isinstance(err, kind)), 400)
    errors = getattr(err, "fields", None) if isinstance(err, FormInvalid) else None
    headers = {"WWW-Authenticate": 'Bearer realm="carepath"'} if status == 401 else None
    return error_response(status, err.code, err.message, errors, headers)


def http_error(err: HTTPException):
    """Werkzeug's and webargs' errors (404 route, 405, 413, 422 from schema validation) as JSON."""
    data = getattr(err, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if err.code == 422 and errors:
        where = "; ".join(f"{location}.{field}" for location, fields in errors.items()
                          for field in (fields if isinstance(fields, dict) else {"": fields}))
        message = _("请求内容不符合要求: %(where)s", where=where)
        return error_response(422, "invalid_request", message, errors)
    return error_response(err.code or 500, (err.name or "error").lower().replace(" ", "_"),
                          data.get("message") or err.description or err.name)


def csrf_error(_err: CSRFError):
    return error_response(400, "csrf", _("会话请求缺少有效的 X-CSRFToken 请求头（令牌客户端请用 Authorization: Bearer）。"))


def api_blueprint(name: str, import_name: str, description: str) -> Blueprint:
    """A blueprint of the API: every request authenticated first, every engine error as JSON."""
    blueprint = Blueprint(name, import_name, url_prefix="/api/v1", description=description)
    blueprint.before_request(authenticate)
    blueprint.before_request(refuse_nul)
    blueprint.register_error_handler(CarePathError, engine_error)
    blueprint.register_error_handler(CSRFError, csrf_error)
    blueprint.register_error_handler(HTTPException, http_error)
    blueprint.register_error_handler(ValidationError, lambda err: error_response(
        422, "invalid_request", _("请求内容不符合要求"), {"json": err.messages}))
    return blueprint


def _nul_at(value, where: str) -> str | None:
    """Where in `value` (nested dicts and lists) a string holds a NUL character, else None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items()]
        return next((found for k, v in items
                     if (found := _nul_at(k, f"{where}.{k!r}") or _nul_at(v, f"{where}.{k}"))), None)
    if isinstance(value, list):
        return next((found for i, v in enumerate(value) if (found := _nul_at(v, f"{where}[{i}]"))), None)
    return None


def refuse_nul() -> None:
    """No text the API stores or looks up may hold a NUL character (PostgreSQL's text cannot): a
    request with one anywhere — path, query, JSON body, form — is refused, naming where."""
    where = (_nul_at(request.view_args or {}, "path") or _nul_at(request.args.to_dict(flat=False), "query")
             or _nul_at(request.get_json(silent=True), "json") or _nul_at(request.form.to_dict(flat=False), "form"))
    if where:
        raise InvalidInput(_("请求中含有 NUL 字符（位于 %(where)s）。", where=where))


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    if header:
        kind, _sep, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Unauthenticated(_("Authorization 请求头应为 “Bearer <令牌>”。"))
        try:
            principal = apiclients.authenticate(engine(), token.strip())
        except PermissionDenied as err:
            raise Unauthenticated(err.message) from None
        g.caller = Caller(principal.username, frozenset(principal.scopes), principal.name)
        return
    profile = g.get("user")          # the signed-in session, as `auth.load_user` found it
    if profile is None:
        raise Unauthenticated(_("需要身份验证：请提供 API 令牌（Authorization: Bearer …）或先登录。"))
    if request.method not in SAFE_METHODS:
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except CsrfInvalid as err:
            raise CSRFError(str(err)) from None
    g.caller = Caller(profile["username"], frozenset(apiclients.SCOPES), None)


def caller() -> Caller:
    return g.caller


def requires(scope: str):
    """The view needs `scope` (a token without it gets 403 naming it)."""
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            apiclients.require_scope(caller(), scope)
            return view(*args, **kwargs)
        wrapped._carepath_scope = scope
        return wrapped
    return decorate


# --- cursors -------------------------------------------------------------------------------------

def encode_cursor(position: dict) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, keys: tuple[str, ...], convert=lambda position: position):
    """The position a cursor holds (a dict of `keys`), passed through `convert`; None without a
    cursor. Anything else — garbage, other keys, values `convert` refuses — is InvalidInput."""
    if not text:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(position, dict) and set(position) == set(keys):
            return convert(position)
    except (ValueError, TypeError, UnicodeDecodeError):
        pass
    raise InvalidInput(_("cursor 参数无效：请使用上一页返回的 next_cursor。"))


# --- idempotency ---------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_PARAMETER = {"in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
                         "description": "重试同一请求时带同一个键：只执行一次，重复请求得到第一次的应答（24 小时内）",
                         "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN, "maxLength": 200}}


def idempotent(view):
    """Put it above the schema decorators (`arguments`, `response`), so that it keeps the
    finished response with its status. With an `Idempotency-Key` header, a successful answer is kept for 24 hours and given again
    for a repeat of the same request, which then does nothing; the same key with a different
    request is refused (400), and one still being worked on answers 409. A refused request (4xx)
    keeps nothing: it may be corrected and sent again with the same key."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return view(*args, **kwargs)
        ctx = engine()
        held = idempotency.reserve(ctx, caller().owner, key, request.method, request.path,
                                   request.get_data(cache=True))
        if isinstance(held, idempotency.Replay):
            response = jsonify(held.response)
            response.status_code = held.status_code
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            idempotency.release(ctx, held)
            raise
        if response.status_code < 400:
            idempotency.complete(ctx, held, response.status_code, response.get_json(silent=True))
        else:
            idempotency.release(ctx, held)
        return response
    return wrapped
