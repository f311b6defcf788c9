"""Real servers for tests, one of each per test session: redis-server and PostgreSQL on free
loopback ports (engine.devservers starts them; `.ci/run` installs them).

Use them from a test module with `from servers import redis_server, redis_url  # noqa: F401` or
`from servers import pg_server, pg_url  # noqa: F401`. `redis_url` gives each test an emptied
database on the session's Redis; `pg_url` a new empty PostgreSQL database, dropped afterwards.
"""
from __future__ import annotations

import itertools
import os

import pytest

from engine.devservers import PostgresServer, RedisServer, ServerError

_names = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    except ServerError as err:
        pytest.fail(str(err))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = PostgresServer().start()
    except ServerError as err:
        pytest.fail(str(err))
    yield server
    server.stop()


def new_database_name(prefix: str = "t") -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture
def pg_url(pg_server):
    """A new, empty PostgreSQL database for this test (dropped afterwards)."""
    name = new_database_name()
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (the rq work horse runs in its own process group)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree
