"""Email through the deployment's SMTP relay (`CAREPATH_SMTP_HOST`, `CAREPATH_SMTP_PORT`).

Messages are UTF-8 plain text (base64 body, RFC 2047 subject) from `CAREPATH_SMTP_FROM`. The
Message-ID is derived from the delivery, so a retried message carries the same id and mail
clients can fold a duplicate.
"""
from __future__ import annotations

import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from ...settings import Settings
from . import DeliveryFailed

SMTP_TIMEOUT = 10.0


def message_id(settings: Settings, local_part: str) -> str:
    domain = settings.smtp_from.rpartition("@")[2] or "carepath.localhost"
    return f"<{local_part}@{domain}>"


def build_message(settings: Settings, to: str, subject: str, text: str, *, msg_id: str,
                  date: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date.astimezone(settings.timezone))
    message["Message-ID"] = msg_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, charset="utf-8", cte="base64")
    return message


def send_message(settings: Settings, message: EmailMessage, timeout: float = SMTP_TIMEOUT) -> None:
    """Hand one message to the relay; returns only when the relay accepted it."""
    if not settings.smtp_host:
        raise DeliveryFailed("未配置 SMTP 服务器（CAREPATH_SMTP_HOST）", unreachable=True)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPServerDisconnected as err:
        raise DeliveryFailed(f"SMTP 服务器断开了连接：{err}", unreachable=True) from err
    except smtplib.SMTPException as err:
        raise DeliveryFailed(f"SMTP 拒绝了邮件：{err}") from err
    except TimeoutError as err:
        raise DeliveryFailed(f"SMTP 服务器在 {timeout:g} 秒内没有应答", unreachable=True) from err
    except OSError as err:
        raise DeliveryFailed(
            f"无法连接 SMTP 服务器 {settings.smtp_host}:{settings.smtp_port}：{err}", unreachable=True) from err
