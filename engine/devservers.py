"""Throwaway PostgreSQL and Redis servers on loopback, for the test suite and `carepath bench`.

Each server lives in a directory of its own, listens on a free 127.0.0.1 port and is stopped by
`stop()`. Nothing here is meant for production: PostgreSQL runs with `fsync=off` (a crash loses
the cluster, which is thrown away anyway) and Redis without persistence.

PostgreSQL's `initdb` refuses to run as root; as root the cluster is created and run as the
`postgres` system user (which Debian's `postgresql` package creates), in a directory it owns.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """A server could not be found, started or stopped; the message says what to install or read."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


# --- Redis ---------------------------------------------------------------------------------------

def redis_command(port: int, *words: str) -> bytes | None:
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


def _redis_pid(port: int) -> int | None:
    info = redis_command(port, "INFO", "server") or b""
    for line in info.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.split(":", 1)[1])
    return None


class RedisServer:
    """A daemonized redis-server without persistence, in its own directory."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.pidfile = self.directory / "redis.pid"
        self.logfile = self.directory / "redis.log"
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServerError("redis-server is not installed; `.ci/run` installs it "
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
                if pid is not None and _redis_pid(self.port) == pid:     # ours, and answering
                    return self
                time.sleep(0.05)
            self._kill_own()
        log = self.logfile.read_text() if self.logfile.exists() else "(no log)"
        raise ServerError(f"redis-server did not answer on 127.0.0.1:{self.port}:\n{log}")

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
        if redis_command(self.port, "FLUSHALL") != b"+OK":
            raise ServerError(f"redis-server on port {self.port} did not flush")

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, then wait until the port refuses connections (else TERM its pid)."""
        redis_command(self.port, "SHUTDOWN", "NOSAVE")
        deadline = time.monotonic() + START_TIMEOUT
        while not _refuses(self.port):
            if time.monotonic() > deadline:
                if self._pid() is None:
                    raise ServerError(f"redis-server on port {self.port} did not stop")
                self._kill_own()
                deadline = time.monotonic() + START_TIMEOUT
            time.sleep(0.05)


# --- PostgreSQL ----------------------------------------------------------------------------------

def postgres_bindir() -> Path:
    """The directory of `initdb` and `pg_ctl`: CAREPATH_PG_BINDIR, else the newest
    /usr/lib/postgresql/<major>/bin (Debian), else wherever `pg_ctl` is on PATH."""
    configured = os.environ.get("CAREPATH_PG_BINDIR")
    if configured:
        return Path(configured)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise ServerError("PostgreSQL is not installed; `.ci/run` installs it (apt-get install postgresql)")


class PostgresServer:
    """A PostgreSQL cluster of its own, trust authentication on 127.0.0.1, superuser `carepath`.

    `url(database)` gives a SQLAlchemy URL (psycopg 3); `create_database(name, template=None)`
    and `drop_database(name)` manage the databases tests and benchmarks use."""

    SUPERUSER = "carepath"

    def __init__(self, directory: Path | None = None):
        # As root the cluster belongs to `postgres`, which must reach it: a fresh directory in
        # the system temp dir (pytest's own are private to root), removed again by `stop()`.
        self._own_directory = directory is None
        self.directory = Path(directory) if directory is not None else \
            Path(tempfile.mkdtemp(prefix="carepath-pg-"))
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.logfile = self.directory / "postgres.log"
        self.port = 0
        self.bindir = postgres_bindir()
        self._run_as = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError as err:
                raise ServerError("running as root needs the `postgres` system user "
                                  "(apt-get install postgresql creates it)") from err

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        if self._run_as is not None:
            args = ["runuser", "-u", self._run_as.pw_name, "--", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)

    def _chown(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def start(self) -> "PostgresServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.directory, self.socket_dir):
            self._chown(path)
        if self._run_as is not None:        # the owner must reach its directory through the tree
            os.chmod(self.directory, 0o755)
        if not (self.data / "PG_VERSION").exists():
            done = self._as_owner([str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.SUPERUSER,
                                   "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
            if done.returncode != 0:
                raise ServerError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        for _attempt in range(3):
            self.port = free_port()
            options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c max_connections=200 -c shared_buffers=256MB")
            done = self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                                   "-o", options, "-w", "-t", str(int(START_TIMEOUT)), "start"])
            if done.returncode == 0:
                return self
        log = self.logfile.read_text(errors="replace")[-4000:] if self.logfile.exists() else "(no log)"
        raise ServerError(f"PostgreSQL did not start on 127.0.0.1:{self.port}:\n{done.stderr}\n{log}")

    def execute(self, *statements: str) -> None:
        """Run statements with autocommit on the `postgres` database (CREATE/DROP DATABASE)."""
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.SUPERUSER, dbname="postgres",
                             autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of `template` when given); its URL."""
        suffix = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'CREATE DATABASE "{name}"{suffix}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if not self.port:
            return
        self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        deadline = time.monotonic() + START_TIMEOUT
        while not _refuses(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
