"""Group-robot webhooks (WeCom / 企业微信 群机器人 format).

The body of every POST is UTF-8 JSON:

    {"msgtype": "markdown", "markdown": {"content": "**【CarePath·升级】…**\\n…"}}

with `Content-Type: application/json; charset=utf-8`. The remote accepted the message when it
answers 2xx and, if its reply is a JSON object with `errcode` (as the robots' replies are),
`errcode` is 0. DingTalk robots expect `{"markdown": {"title", "text"}}` instead; point them at a
relay, or add that shape here when a deployment needs it.
"""
from __future__ import annotations

import http.client
import json
import urllib.request
from urllib.error import HTTPError, URLError

from . import DeliveryFailed

WEBHOOK_TIMEOUT = 5.0
_MAX_REPLY_BYTES = 64 * 1024


def markdown_payload(content: str) -> bytes:
    return json.dumps({"msgtype": "markdown", "markdown": {"content": content}},
                      ensure_ascii=False).encode("utf-8")


def _check_reply(raw: bytes) -> None:
    try:
        reply = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return  # a plain receiver that answers 2xx with any body has accepted the message
    if isinstance(reply, dict) and "errcode" in reply and reply["errcode"] not in (0, "0"):
        raise DeliveryFailed(f"机器人拒绝了消息：errcode={reply['errcode']} {reply.get('errmsg', '')}".strip())


def post_markdown(url: str, content: str, timeout: float = WEBHOOK_TIMEOUT) -> None:
    """POST one markdown message; returns only when the remote accepted it."""
    request = urllib.request.Request(
        url, data=markdown_payload(content), method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "CarePath-notify/1"})
    # A fresh opener per call reads the proxy environment as it is now.
    opener = urllib.request.build_opener()
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = response.read(_MAX_REPLY_BYTES)
    except HTTPError as err:
        raise DeliveryFailed(f"HTTP {err.code} {err.reason}") from err
    except URLError as err:
        raise DeliveryFailed(f"无法连接 webhook：{err.reason}", unreachable=True) from err
    except TimeoutError as err:
        raise DeliveryFailed(f"webhook 在 {timeout:g} 秒内没有应答", unreachable=True) from err
    except (OSError, http.client.HTTPException) as err:
        raise DeliveryFailed(f"webhook 连接出错：{type(err).__name__}: {err}") from err
    _check_reply(raw)
