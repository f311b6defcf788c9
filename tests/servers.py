"""Real servers for tests: a redis-server on a free loopback port, one per test session.

Use it from a test module with `from servers import redis_server, redis_url  # noqa: F401`.
`redis_url` gives each test an emptied database on the session's server.
"""
from __future__ import annotations

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
    """Send one RESP command and return the first reply line; None if nothing listens."""
    request = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(request)
            return sock.recv(512).split(b"\r\n", 1)[0]
    except OSError:          # refused, reset or timed out: nothing (healthy) listens there
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
                if _command(self.port, "PING") == b"+PONG":
                    return self
                time.sleep(0.05)
            self.stop()
        log = self.logfile.read_text() if self.logfile.exists() else "(no log)"
        pytest.fail(f"redis-server did not answer PING on 127.0.0.1:{self.port}:\n{log}")

    def flush(self) -> None:
        assert _command(self.port, "FLUSHALL") == b"+OK"

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, then wait until the port refuses connections (TERM via pidfile if not)."""
        _command(self.port, "SHUTDOWN", "NOSAVE")
        deadline = time.monotonic() + START_TIMEOUT
        while not _refuses(self.port):
            if time.monotonic() > deadline:
                if self.pidfile.exists():
                    os.kill(int(self.pidfile.read_text().strip()), signal.SIGTERM)
                    deadline = time.monotonic() + START_TIMEOUT
                    self.pidfile.unlink()
                    continue
                raise RuntimeError(f"redis-server on port {self.port} did not stop")
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
