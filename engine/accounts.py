"""Accounts: signing in (throttled, with a temporary lockout), sessions bound to the password,
password changes under a policy, and users disabled — never deleted.

Throttling. `login_max_failures` failed attempts for one username within `login_lockout_minutes`
lock that username until the last of them + `login_lockout_minutes`; an origin (client address)
with four times as many failures in such a span is locked the same way, whatever names it tries.
While locked even the right password is refused, and the refused attempt is recorded as a
failure too, so guessing on keeps the lock. Unknown usernames are throttled exactly like known
ones (no account enumeration). A success ends the username's run of failures.

Sessions carry a stamp derived from the password hash: a new password (or a hash renewed with
new parameters) ends every session signed in with the old one.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .directory import authenticate, hash_password, is_service_account, profile, verify_password
from .errors import InvalidInput, NotFound
from .store import audit
from .store import directory as repo

ORIGIN_FACTOR = 4            # an origin may fail this many times more than one username
MIN_LENGTH = 10
# Passwords of ten characters or more that appear on every list of leaked passwords, and this
# project's published demo password.
COMMON_PASSWORDS = frozenset({
    "0123456789", "1234567890", "12345678910", "123456789a", "a123456789", "1234567890a",
    "aa123456789", "abc1234567", "abcd123456", "abcd1234567", "qwertyuiop", "qwerty123456",
    "1qaz2wsx3edc", "1q2w3e4r5t", "1q2w3e4r5t6y", "zxcvbnm123", "asdfghjkl1", "password12",
    "password123", "password1234", "passw0rd123", "p@ssw0rd123", "iloveyou123", "woaini1314",
    "5201314520", "1314520520", "admin12345", "admin123456", "administrator", "changeme123",
    "welcome123", "letmein123", "carepath-demo", "carepath123",
})
# Problems with a new password, in Chinese for the command line (the web UI has its own
# translatable texts for the same codes).
POLICY_MESSAGES = {
    "required": "请输入新密码。",
    "too_short": f"新密码至少需要 {MIN_LENGTH} 个字符。",
    "contains_username": "新密码不能包含用户名。",
    "one_character": "新密码不能由同一个字符重复组成。",
    "common": "这个密码太常见，容易被猜中，请换一个。",
    "same_as_current": "新密码不能与当前密码相同。",
    "mismatch": "两次输入的新密码不一致。",
    "current_required": "请输入当前密码。",
    "current_wrong": "当前密码不正确。",
}


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: the user's profile and session stamp, or neither; when the
    username or the origin is locked, until when."""
    user: dict | None
    stamp: str | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class PasswordChange:
    """The outcome of a password change: problems per field ("current", "new", "confirm") as
    codes of POLICY_MESSAGES, or the new session stamp; `locked_until` when throttled."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    stamp: str | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.stamp is not None


def password_stamp(password_hash: str) -> str:
    """What a session remembers of the password it was opened with."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _clip(username: str | None) -> str:
    return (username or "").strip()[:100]


# --- throttling --------------------------------------------------------------------------------

def _lock_end(failures: list[datetime], now: datetime, window: timedelta, limit: int) -> datetime | None:
    """Given failure times newest first, the end of the lock: the latest failure that closes
    `limit` failures within `window`, plus `window`; None when that is not after now."""
    for index, last in enumerate(failures):
        if last + window <= now:
            break
        first = index + limit - 1
        if first < len(failures) and failures[first] >= last - window:
            return last + window
    return None


def locked_until(session, settings, now: datetime, username: str,
                 origin: str | None = None) -> datetime | None:
    """Until when sign-ins for this username (or from this origin) are refused; None if they
    are not. Only the latest 2×limit−1 failures of the last two windows can matter."""
    window = timedelta(minutes=settings.login_lockout_minutes)
    checks = [(settings.login_max_failures, {"username": username})]
    if origin:
        checks.append((settings.login_max_failures * ORIGIN_FACTOR, {"origin": origin}))
    ends = []
    for limit, who in checks:
        failures = audit.recent_failures(session, now, now - 2 * window, 2 * limit - 1, **who)
        end = _lock_end(failures, now, window, limit)
        if end is not None:
            ends.append(end)
    return max(ends, default=None)


def _refuse_locked(session, settings, now, typed: str, origin: str | None, via: str) -> datetime | None:
    """If the username or origin is locked: record the refused attempt (a failure) and say
    until when, counting that attempt."""
    if locked_until(session, settings, now, typed, origin) is None:
        return None
    audit.add_login_attempt(session, now, typed, origin, False)
    until = locked_until(session, settings, now, typed, origin)
    audit.append(session, now, typed, "login_locked", until=until.isoformat(), via=via)
    return until


# --- signing in and out, sessions --------------------------------------------------------------

def sign_in(ctx, username: str, password: str, origin: str | None) -> SignIn:
    """Check a sign-in at the engine clock: record the attempt, audit `login`, `login_failed`
    or `login_locked` (actor: the username as typed, clipped to 100 characters)."""
    now, typed = ctx.clock.now(), _clip(username)
    with ctx.db.unit_of_work() as session:
        until = _refuse_locked(session, ctx.settings, now, typed, origin, "login")
        if until is not None:
            return SignIn(None, locked_until=until)
        user = authenticate(session, typed, password)
        audit.add_login_attempt(session, now, typed, origin, user is not None)
        if user is None:
            audit.append(session, now, typed, "login_failed")
            return SignIn(None, locked_until=locked_until(session, ctx.settings, now, typed, origin))
        audit.append(session, now, user.username, "login")
        return SignIn(profile(session, user.username), password_stamp(user.password_hash))


def sign_out(ctx, username: str) -> None:
    with ctx.db.unit_of_work() as session:
        audit.append(session, ctx.clock.now(), username, "logout")


def session_user(ctx, username: str, stamp: str | None, signed_in_at: datetime | None) -> dict | None:
    """The profile behind a session, or None when the session has ended: the user is gone or
    disabled, the password changed since (the stamp differs), or `session_hours` have passed
    since sign-in on the engine clock."""
    if not stamp or signed_in_at is None:
        return None
    if ctx.clock.now() >= signed_in_at + timedelta(hours=ctx.settings.session_hours):
        return None
    with ctx.db.unit_of_work() as session:
        user = repo.get_user(session, username)
        if user is None or not user.active or not hmac.compare_digest(stamp, password_stamp(user.password_hash)):
            return None
        return profile(session, username)


# --- passwords ---------------------------------------------------------------------------------

def password_problems(password: str, username: str) -> list[str]:
    """What is wrong with a new password (codes of POLICY_MESSAGES); empty when it is fine."""
    if not password:
        return ["required"]
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append("too_short")
    if username and username.lower() in password.lower():
        problems.append("contains_username")
    if len(set(password)) == 1:
        problems.append("one_character")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("common")
    return problems


def change_password(ctx, username: str, current: str, new: str, confirm: str,
                    origin: str | None) -> PasswordChange:
    """A signed-in user changes their own password. A wrong current password counts as a
    failed sign-in (recorded, audited, throttled); success audits `password_changed` and gives
    the new session stamp, which ends every other session."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        until = _refuse_locked(session, ctx.settings, now, username, origin, "password_change")
        if until is not None:
            return PasswordChange(locked_until=until)
        user = repo.get_user(session, username)
        if user is None or not user.active:
            raise NotFound(f"用户 {username} 不存在或已停用")
        problems: dict[str, list[str]] = {}
        if not current:
            problems["current"] = ["current_required"]
        elif not verify_password(user.password_hash, current):
            problems["current"] = ["current_wrong"]
            audit.add_login_attempt(session, now, username, origin, False)
            audit.append(session, now, username, "login_failed", via="password_change")
            until = locked_until(session, ctx.settings, now, username, origin)
            if until is not None:
                return PasswordChange(locked_until=until)
        new_problems = password_problems(new or "", username)
        if new and "current" not in problems and verify_password(user.password_hash, new):
            new_problems.append("same_as_current")
        if new_problems:
            problems["new"] = new_problems
        if (new or "") != (confirm or ""):
            problems["confirm"] = ["mismatch"]
        if problems:
            return PasswordChange(problems=problems)
        repo.set_password_hash(session, user, hash_password(new))
        audit.append(session, now, username, "password_changed", target=f"user:{username}")
        return PasswordChange(stamp=password_stamp(user.password_hash))


def _user_or_fail(session, username: str):
    user = repo.get_user(session, username)
    if user is None:
        raise NotFound(f"用户 {username} 不存在 (no such user)")
    return user


def set_password(ctx, username: str, new: str, actor: str | None = None) -> dict:
    """An administrator sets a user's password (same policy as the user's own change); every
    session of that user ends."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        user = _user_or_fail(session, username)
        if is_service_account(user.username):
            raise InvalidInput(f"{username} 是接口客户端的服务账号，不能设置密码 (an API client's service account has no password)")
        problems = password_problems(new or "", user.username)
        if new and verify_password(user.password_hash, new):
            problems.append("same_as_current")
        if problems:
            raise InvalidInput("".join(POLICY_MESSAGES[code] for code in problems))
        repo.set_password_hash(session, user, hash_password(new))
        audit.append(session, now, actor, "password_changed", target=f"user:{username}")
        return user_dict(session, ctx.settings, now, user)


# --- disabled, never deleted -------------------------------------------------------------------

def user_dict(session, settings, now: datetime, user) -> dict:
    return {"username": user.username, "name": user.name, "active": bool(user.active),
            "locked_until": locked_until(session, settings, now, user.username)}


def list_users(ctx) -> list[dict]:
    """Every user, disabled ones included: username, name, active, locked until (or None)."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        return [user_dict(session, ctx.settings, now, user) for user in repo.all_users(session)]


def disable_user(ctx, username: str, reason: str, actor: str | None = None) -> dict:
    """Disable a user (their sessions end at their next request) and give the tasks they hold
    back to their candidates, in one unit of work. The user row, memberships and history stay.
    Returns the user with `released` (task ids reopened) and `kept` (tasks assigned to them by
    name with no other candidate: a supervisor reassigns those)."""
    from .runtime.services import release_claims_of
    if not reason or not reason.strip():
        raise InvalidInput("请填写停用原因 (a reason is required)")
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        user = _user_or_fail(session, username)
        changed = bool(user.active)
        repo.set_active(session, user, False)
        claims = release_claims_of(ctx, session, username, actor, "user_disabled")
        if changed:
            audit.append(session, now, actor, "user_disabled", target=f"user:{username}",
                         reason=reason.strip(), released=claims["released"], kept=claims["kept"])
        return {**user_dict(session, ctx.settings, now, user), "changed": changed, **claims}


def enable_user(ctx, username: str, actor: str | None = None) -> dict:
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        user = _user_or_fail(session, username)
        changed = not user.active
        if changed:
            repo.set_active(session, user, True)
            audit.append(session, now, actor, "user_enabled", target=f"user:{username}")
        return {**user_dict(session, ctx.settings, now, user), "changed": changed}
