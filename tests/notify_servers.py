"""Real local receivers for notification tests: an HTTP webhook endpoint and an SMTP sink."""
from __future__ import annotations

import json
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from engine.devservers import free_port  # noqa: F401  (tests import it from here too)


class WebhookReceiver:
    """Records every POST (path, headers, JSON body). The first `fail_first` requests are answered
    with `fail_status`; the others with a group robot's success reply."""

    def __init__(self, fail_first: int = 0, fail_status: int = 500):
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "json": json.loads(raw.decode("utf-8"))})
                    failing = len(receiver.requests) <= receiver.fail_first
                if failing:
                    self._answer(receiver.fail_status, {"errcode": -1, "errmsg": "system busy"})
                else:
                    self._answer(200, {"errcode": 0, "errmsg": "ok"})

            def _answer(self, status: int, reply: dict) -> None:
                body = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str = "/cgi-bin/webhook/send?key=test") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def contents(self) -> list[str]:
        """The markdown content of every request received."""
        with self._lock:
            return [r["json"]["markdown"]["content"] for r in self.requests]


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message, parsed with the `email` package."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's naming
        self.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
