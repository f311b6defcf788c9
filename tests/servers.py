"""Real servers for tests: a redis-server on a free loopback port, one per test session.

Use it from a test module with `from servers import redis_server, redis_url  # noqa: F401`.
`redis_url` gives each test an emptied database on the session's server.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(port: int, *words: str) -> bytes | None:
    """Send one RESP command; the reply (a bulk string's payload, else its first line), or None
    if nothing answers on the port."""
    request = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(request)
            reply = sock.recv(65536)
            if not reply.startswith(b"$"):
                return reply.split(b"\r\n", 1)[0]
            header, _, body = reply.partition(b"\r\n")
            while len(body) < int(header[1:]):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            return body[:int(header[1:])]
    except OSError:          # refused, reset or timed out: nothing (healthy) listens there
        return None


def _server_pid(port: int) -> int | None:
    info = _command(port, "INFO", "server") or b""
    for line in info.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    return None


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


class RedisServer:
    """A daemonized redis-server without persistence, in its own directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.pidfile = directory / "redis.pid"
        self.logfile = directory / "redis.log"
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed; `.ci/run` installs it "
                        "(apt-get install redis-server)")
        for _attempt in range(3):     # another process may take the free port before we bind it
            self.port = free_port()
            subprocess.run([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--daemonize", "yes",
                            "--pidfile", str(self.pidfile), "--logfile", str(self.logfile),
                            "--dir", str(self.directory)], check=True, timeout=30)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                pid = self._pid()
                if pid is not None and _server_pid(self.port) == pid:     # ours, and answering
                    return self
                time.sleep(0.05)
            self._kill_own()
        log = self.logfile.read_text() if self.logfile.exists() else "(no log)"
        pytest.fail(f"redis-server did not answer on 127.0.0.1:{self.port}:\n{log}")

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _kill_own(self) -> None:
        pid = self._pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            self.pidfile.unlink(missing_ok=True)

    def flush(self) -> None:
        assert _command(self.port, "FLUSHALL") == b"+OK"

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, then wait until the port refuses connections (else TERM its pid)."""
        _command(self.port, "SHUTDOWN", "NOSAVE")
        deadline = time.monotonic() + START_TIMEOUT
        while not _refuses(self.port):
            if time.monotonic() > deadline:
                if self._pid() is None:
                    raise RuntimeError(f"redis-server on port {self.port} did not stop")
                self._kill_own()
                deadline = time.monotonic() + START_TIMEOUT
            time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
