"""The one place that reads the environment.

Every value is parsed with its type and a bad value fails loudly with the variable's name, so a
typo in a deployment never turns into a silent default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SettingsError(ValueError):
    """An environment variable holds a value CarePath cannot use."""


DEFAULT_DATABASE_URL = "sqlite:///carepath.sqlite"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    timezone: ZoneInfo = ZoneInfo("Asia/Shanghai")
    now: datetime | None = None
    script_time_limit: float = 1.0
    max_bpmn_bytes: int = 5 * 1024 * 1024
    redis_url: str | None = None
    workday_close: time = time(18, 0)
    escalation_policy: str | None = None
    sweep_interval: float = 30.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "carepath@localhost"
    digest_time: time = time(8, 30)
    forms_dir: str | None = None
    secret_key: str | None = None
    secure_cookies: bool = False
    break_glass_minutes: int = 60
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    session_hours: int = 8

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def parse_instant(text: str, tz: ZoneInfo, what: str = "time") -> datetime:
    """Parse an ISO 8601 instant; a value without an offset is read in the deployment time zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise SettingsError(f"{what}: not an ISO 8601 date-time: {text!r}") from err
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as err:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from err
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {raw!r}")
    return value


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as err:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from err
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {raw!r}")
    return value


def _clock_time(name: str, raw: str) -> time:
    try:
        return time.fromisoformat(raw)
    except ValueError as err:
        raise SettingsError(f"{name}: expected HH:MM, got {raw!r}") from err


def _secret_key(value: str | None) -> str | None:
    if value is not None and len(value) < 32:
        raise SettingsError("CAREPATH_SECRET_KEY: at least 32 characters (signs session cookies)")
    return value or None


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("0", "1", "true", "false", "yes", "no", ""):
        raise SettingsError(f"{name}: expected 1/0, true/false or yes/no, got {value!r}")
    return lowered in ("1", "true", "yes")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read CAREPATH_* variables into a Settings value."""
    env = os.environ if environ is None else environ
    tz_name = env.get("CAREPATH_TZ", "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise SettingsError(f"CAREPATH_TZ: unknown time zone {tz_name!r}") from err
    now_raw = env.get("CAREPATH_NOW")
    return Settings(
        database_url=env.get("CAREPATH_DATABASE_URL", DEFAULT_DATABASE_URL),
        timezone=tz,
        now=parse_instant(now_raw, tz, "CAREPATH_NOW") if now_raw else None,
        script_time_limit=_positive_float(
            "CAREPATH_SCRIPT_TIME_LIMIT", env.get("CAREPATH_SCRIPT_TIME_LIMIT", "1.0")),
        max_bpmn_bytes=_positive_int(
            "CAREPATH_MAX_BPMN_BYTES", env.get("CAREPATH_MAX_BPMN_BYTES", str(5 * 1024 * 1024))),
        redis_url=env.get("CAREPATH_REDIS_URL") or None,
        workday_close=_clock_time("CAREPATH_WORKDAY_CLOSE", env.get("CAREPATH_WORKDAY_CLOSE", "18:00")),
        escalation_policy=env.get("CAREPATH_ESCALATION_POLICY") or None,
        sweep_interval=_positive_float("CAREPATH_SWEEP_INTERVAL", env.get("CAREPATH_SWEEP_INTERVAL", "30")),
        smtp_host=env.get("CAREPATH_SMTP_HOST") or None,
        smtp_port=_positive_int("CAREPATH_SMTP_PORT", env.get("CAREPATH_SMTP_PORT", "25")),
        smtp_from=env.get("CAREPATH_SMTP_FROM", "carepath@localhost"),
        digest_time=_clock_time("CAREPATH_DIGEST_TIME", env.get("CAREPATH_DIGEST_TIME", "08:30")),
        forms_dir=env.get("CAREPATH_FORMS_DIR") or None,
        secret_key=_secret_key(env.get("CAREPATH_SECRET_KEY")),
        secure_cookies=_flag("CAREPATH_SECURE_COOKIES", env.get("CAREPATH_SECURE_COOKIES", "0")),
        break_glass_minutes=_positive_int("CAREPATH_BREAK_GLASS_MINUTES",
                                          env.get("CAREPATH_BREAK_GLASS_MINUTES", "60")),
        login_max_failures=_positive_int("CAREPATH_LOGIN_MAX_FAILURES", env.get("CAREPATH_LOGIN_MAX_FAILURES", "5")),
        login_lockout_minutes=_positive_int("CAREPATH_LOGIN_LOCKOUT_MINUTES",
                                            env.get("CAREPATH_LOGIN_LOCKOUT_MINUTES", "15")),
        session_hours=_positive_int("CAREPATH_SESSION_HOURS", env.get("CAREPATH_SESSION_HOURS", "8")),
    )
