"""API clients: outside systems (a hospital HIS, a school system, civil-affairs relief) calling the
REST API with a bearer token.

An API client is a service account. It acts as its own user, `api:<name>`, which holds
memberships (role × org unit) like any user: they are its jurisdiction, and the role × jurisdiction
× tier rules apply to it unchanged. Its user has no usable password, so it can never sign in at
/login. On top of that, the token's scopes (SCOPES) limit which API operations it may call.

A token is `cp_<prefix>_<secret>`: an 8-character public prefix that finds the client's row and
43 characters of secret (256 random bits). Only the sha256 of the whole token is stored (a fast
hash is right for a random 256-bit secret); the token is shown once, when made.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import Conflict, InvalidInput, NotFound, PermissionDenied
from .store import api as repo
from .store import audit
from .store import directory as directory_repo
from .directory import SERVICE_PREFIX as USER_PREFIX
from .store.models import OrgUnit, Role

# Scope → (Chinese, English) description.
SCOPES: dict[str, tuple[str, str]] = {
    "pathways:read": ("查看路径及其版本", "Read pathways and their versions"),
    "pathways:deploy": ("部署路径", "Deploy pathways"),
    "instances:read": ("查看路径实例", "Read pathway instances"),
    "instances:write": ("启动、取消路径实例", "Start and cancel pathway instances"),
    "tasks:read": ("查看任务", "Read tasks"),
    "tasks:write": ("认领、退回、完成任务", "Claim, release and complete tasks"),
    "people:read": ("查看服务对象及其服务历程", "Read people and their journeys"),
    "escalations:read": ("查看督办", "Read escalations"),
    "escalations:write": ("处理督办（确认、备注、改派、延期）",
                          "Work escalations (acknowledge, note, reassign, extend)"),
    "indicators:read": ("查看指标", "Read indicators"),
    "messages:send": ("发送路径间消息", "Send messages between pathways"),
    "fhir:read": ("以 FHIR 格式读取数据", "Read data as FHIR resources"),
}

NO_PASSWORD = "!"                    # not an argon2 hash: no password ever verifies against it
PREFIX_LENGTH = 8
SECRET_LENGTH = 43                   # secrets.token_urlsafe(32)
TOUCH_EVERY = timedelta(minutes=1)   # last_used_at is written at most this often
INVALID_TOKEN = "令牌无效或已失效 (invalid or expired token)"

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{1,62}")
_TOKEN = re.compile(rf"cp_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{{SECRET_LENGTH}}})")
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class ApiPrincipal:
    """Who an accepted token speaks for: the client, its service user and its scopes."""
    client_id: int
    name: str
    username: str
    scopes: frozenset[str]


def username_of(name: str) -> str:
    """The service user of an API client."""
    return f"{USER_PREFIX}{name}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_token() -> tuple[str, str]:
    """(prefix, token) of a fresh random token."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"cp_{prefix}_{secrets.token_urlsafe(32)}"


# --- checks ------------------------------------------------------------------------------------------

def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"接口客户端名称 {name!r} 无效：须为 2–63 个小写字母、数字、- 或 _，"
                           f"以字母或数字开头 (invalid client name)")
    return name


def _check_scopes(scopes) -> list[str]:
    wanted = [str(scope).strip() for scope in (scopes or []) if str(scope).strip()]
    unknown = sorted({scope for scope in wanted if scope not in SCOPES})
    if unknown:
        raise InvalidInput(f"未知的权限范围: {', '.join(unknown)}；可用的有: {', '.join(SCOPES)} "
                           f"(unknown scope)")
    if not wanted:
        raise InvalidInput(f"请至少指定一个权限范围；可用的有: {', '.join(SCOPES)} (no scope given)")
    return [scope for scope in SCOPES if scope in wanted]        # SCOPES order, no duplicates


def _check_memberships(session, memberships) -> list[tuple[str, str]]:
    pairs = sorted({(str(role).strip(), str(org).strip()) for role, org in (memberships or [])})
    if not pairs:
        raise InvalidInput("请至少指定一个成员身份（角色@机构），它决定客户端的辖区 (no membership given)")
    for role, org in pairs:
        if session.get(Role, role) is None:
            raise InvalidInput(f"角色 {role} 不存在 (unknown role)")
        if session.get(OrgUnit, org) is None:
            raise InvalidInput(f"机构 {org} 不存在 (unknown org unit)")
    return pairs


def _check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput("有效期须带时区 (expiry needs a time zone)")
    if expires_at <= now:
        raise InvalidInput(f"有效期 {expires_at.isoformat()} 已过 (expiry is in the past)")
    return expires_at


def require_scope(principal: ApiPrincipal, scope: str) -> None:
    """Refuse a call the token's scopes do not allow, naming the missing scope."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")        # a programming error, not a caller's
    if scope not in principal.scopes:
        raise PermissionDenied(f"令牌缺少权限范围 {scope}（{SCOPES[scope][0]}）(missing scope {scope})")


# --- what a client looks like --------------------------------------------------------------------------

def _status(client, user, now: datetime) -> str:
    if client.revoked_at is not None:
        return "revoked"
    if client.expires_at is not None and client.expires_at <= now:
        return "expired"
    if not user.active:
        return "disabled"
    return "active"


def _client_dict(client, user, memberships: list[tuple[str, str]], now: datetime) -> dict:
    """A client as callers see it: never its token or hash."""
    return {"name": client.name, "username": user.username, "scopes": list(client.scopes or []),
            "memberships": [{"role": role, "org": org} for role, org in memberships],
            "token_prefix": client.token_prefix, "status": _status(client, user, now),
            "created_at": client.created_at, "created_by": client.created_by,
            "expires_at": client.expires_at, "revoked_at": client.revoked_at,
            "revoked_by": client.revoked_by, "last_used_at": client.last_used_at}


def _one(session, name: str, now: datetime) -> dict:
    client = repo.client_by_name(session, name)
    user = directory_repo.get_user(session, username_of(name))
    return _client_dict(client, user, repo.memberships_by_user(session, [user.id])[user.id], now)


def _client_or_fail(session, name: str):
    client = repo.client_by_name(session, (name or "").strip())
    if client is None:
        raise NotFound(f"接口客户端 {name} 不存在 (no such API client)")
    return client


# --- services ------------------------------------------------------------------------------------------

def create_client(ctx, name: str, memberships: list[tuple[str, str]], scopes: list[str],
                  actor: str | None, expires_at: datetime | None = None) -> tuple[dict, str]:
    """Make an API client: its service user `api:<name>` (no usable password) with these
    memberships, its scopes and a new token. Returns (the client, the token); the token is not
    stored and cannot be shown again. Audited as `api_client_created`."""
    now = ctx.clock.now()
    name = _check_name(name)
    wanted_scopes = _check_scopes(scopes)
    expires_at = _check_expiry(expires_at, now)
    with ctx.db.unit_of_work() as session:
        pairs = _check_memberships(session, memberships)
        username = username_of(name)
        if repo.client_by_name(session, name) is not None or directory_repo.get_user(session, username):
            raise Conflict(f"接口客户端 {name} 已存在 (an API client or user {username} exists)")
        user = directory_repo.upsert_user(session, username, f"接口客户端 {name}", NO_PASSWORD)
        directory_repo.replace_memberships(session, user, pairs)
        prefix, token = _new_token()
        repo.add_client(session, name=name, user_id=user.id, scopes=wanted_scopes, token_prefix=prefix,
                        token_hash=token_hash(token), created_at=now, created_by=actor,
                        expires_at=expires_at)
        audit.append(session, now, actor, "api_client_created", target=f"api_client:{name}",
                     username=username, scopes=wanted_scopes,
                     memberships=[f"{role}@{org}" for role, org in pairs],
                     expires_at=expires_at.isoformat() if expires_at else None)
        return _one(session, name, now), token


def authenticate(ctx, token: str) -> ApiPrincipal:
    """The client a bearer token belongs to. Unknown, malformed, revoked, expired (engine clock)
    tokens, and those of a client whose service user was disabled, are all refused with the same
    PermissionDenied, which does not say which. `last_used_at` is written at most once a minute."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise PermissionDenied(INVALID_TOKEN)
    digest, now = token_hash(token), ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        found = None
        for client, user in repo.clients_with_user(session, prefix=match.group(1)):
            if hmac.compare_digest(client.token_hash, digest):
                found = (client, user)
        if found is None or _status(*found, now) != "active":
            raise PermissionDenied(INVALID_TOKEN)
        client, user = found
        if client.last_used_at is None or now - client.last_used_at >= TOUCH_EVERY:
            repo.touch_client(session, client.id, now, now - TOUCH_EVERY)
        return ApiPrincipal(client.id, client.name, user.username, frozenset(client.scopes or ()))


def revoke_client(ctx, name: str, actor: str | None) -> dict:
    """Revoke a client for good: its token stops working at once, its service user is disabled
    and the tasks it holds go back to their candidates (as disabling a user does). Revoking a
    revoked client changes nothing (`changed` False). Audited as `api_client_revoked`."""
    from .runtime.services import release_claims_of
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        client = _client_or_fail(session, name)
        if client.revoked_at is not None:
            return {**_one(session, client.name, now), "changed": False, "released": [], "kept": []}
        username = username_of(client.name)
        repo.set_revoked(session, client, now, actor)
        directory_repo.set_active(session, directory_repo.get_user(session, username), False)
        claims = release_claims_of(ctx, session, username, actor, "api_client_revoked")
        audit.append(session, now, actor, "api_client_revoked", target=f"api_client:{client.name}",
                     username=username, released=claims["released"], kept=claims["kept"])
        return {**_one(session, client.name, now), "changed": True, **claims}


def rotate_token(ctx, name: str, actor: str | None) -> tuple[dict, str]:
    """Give a client a new token; the old one stops working at once. A revoked client is
    refused. Returns (the client, the new token). Audited as `api_client_token_rotated`."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        client = _client_or_fail(session, name)
        if client.revoked_at is not None:
            raise Conflict(f"接口客户端 {client.name} 已吊销，不能更换令牌 (client revoked)")
        old_prefix = client.token_prefix
        prefix, token = _new_token()
        repo.set_token(session, client, prefix, token_hash(token))
        audit.append(session, now, actor, "api_client_token_rotated", target=f"api_client:{client.name}",
                     old_prefix=old_prefix, new_prefix=prefix)
        return _one(session, client.name, now), token


def list_clients(ctx) -> list[dict]:
    """Every client, revoked ones included, by name: memberships, scopes, the token's public
    prefix, status (active, expired, revoked, disabled) and when it was made, last used, revoked."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        pairs = repo.clients_with_user(session)
        memberships = repo.memberships_by_user(session, [user.id for _, user in pairs])
        return [_client_dict(client, user, memberships[user.id], now) for client, user in pairs]
