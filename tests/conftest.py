"""Shared fixtures: a real database per test, the test directory, the engine clock.

The database is a SQLite file, or with CAREPATH_TEST_BACKEND=postgresql a PostgreSQL database on
the session's own server (tests/servers.py); `make test` runs the suite once on each. On
PostgreSQL only the tests that use a database fixture run: the others would repeat the SQLite pass.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytest_plugins = ["web", "servers"]   # the browser and live server; real PostgreSQL and Redis servers

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BPMN = DATA / "bpmn"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 2 November 2026, 09:00 in Shanghai: an ordinary working week.
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


BACKEND = os.environ.get("CAREPATH_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"CAREPATH_TEST_BACKEND={BACKEND!r}: sqlite or postgresql")
DATABASE_FIXTURES = {"db_url", "ctx", "region", "cli", "pg_url", "databases"}


def pytest_report_header(config):
    return f"database backend: {BACKEND}"


def pytest_collection_modifyitems(config, items):
    if BACKEND != "postgresql":
        return
    kept = [item for item in items if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))]
    deselected = [item for item in items if item not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


class Databases:
    """Fresh databases for tests on the session's backend, and templates built once per session
    and copied for each test (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL)."""

    def __init__(self, root: Path, request):
        self.root = root
        self.request = request
        self.templates: dict[str, str] = {}

    @property
    def _pg(self):
        return self.request.getfixturevalue("pg_server")

    def fresh(self, directory: Path, template: str | None = None) -> tuple[str, callable]:
        """(URL of a new database, a function that removes it) — empty, or a copy of a template."""
        if BACKEND == "sqlite":
            import shutil
            path = directory / "carepath.sqlite"
            if template is not None:
                shutil.copyfile(self.templates[template], path)
            return f"sqlite:///{path}", lambda: None
        from servers import new_database_name
        name = new_database_name()
        url = self._pg.create_database(name, template=self.templates.get(template))
        return url, lambda: self._pg.drop_database(name)

    def template(self, key: str, build) -> None:
        """Build template `key` once: `build(url)` fills a new database at `url`."""
        if key in self.templates:
            return
        if BACKEND == "sqlite":
            path = self.root / f"{key}.sqlite"
            build(f"sqlite:///{path}")
            self.templates[key] = str(path)
        else:
            name = f"template_{key}"
            build(self._pg.create_database(name))
            self.templates[key] = name


@pytest.fixture(scope="session")
def databases(tmp_path_factory, request) -> Databases:
    return Databases(tmp_path_factory.mktemp("templates"), request)


@pytest.fixture
def db_url(databases, tmp_path):
    """A new empty database on the session's backend."""
    url, drop = databases.fresh(tmp_path)
    yield url
    drop()


def _build_test_directory(url: str) -> None:
    from engine.context import EngineContext
    from engine.directory import load_directory
    from engine.settings import Settings

    engine = EngineContext(Settings(database_url=url), now=T0)
    engine.db.create_schema()
    load_directory(engine.db, DATA / "directory.yaml")
    engine.db.dispose()


@pytest.fixture
def ctx(databases, tmp_path):
    """An engine on a fresh database with the schema and the test directory loaded."""
    from engine.context import EngineContext
    from engine.settings import Settings

    databases.template("directory", _build_test_directory)
    url, drop = databases.fresh(tmp_path, "directory")
    engine = EngineContext(Settings(database_url=url), now=T0)
    yield engine
    engine.db.dispose()
    drop()


PATHWAYS = ROOT / "pathways"
FORMS = ROOT / "forms"
DEMO_DIRECTORY = ROOT / "engine" / "demo" / "directory.yaml"


def build_region(url: str) -> None:
    from engine.context import EngineContext
    from engine.directory import load_directory
    from engine.settings import Settings

    engine = EngineContext(Settings(database_url=url), now=T0)
    engine.db.create_schema()
    load_directory(engine.db, DEMO_DIRECTORY)
    engine.db.dispose()


@pytest.fixture
def region(databases, tmp_path):
    """An engine on a fresh copy of the demo region (users of every role, supervisors included),
    clock at T0, no pathway deployed yet: see `deploy_pathways`. The region is built once per
    session (hashing 50 demo passwords takes seconds) and copied for each test."""
    from engine.context import EngineContext
    from engine.settings import Settings

    databases.template("region", build_region)
    url, drop = databases.fresh(tmp_path, "region")
    engine = EngineContext(Settings(database_url=url), now=T0)
    yield engine
    engine.db.dispose()
    drop()


def deploy_pathways(ctx, *process_ids: str):
    """Deploy `pathways/<id>.bpmn` files (with their forms and decision tables) into ctx."""
    from engine.pathways import deploy_files
    return deploy_files(ctx, [PATHWAYS / f"{pid}.bpmn" for pid in process_ids])


class Cli:
    """Runs the real `carepath` console script against one database."""

    def __init__(self, db_url: str):
        self.env = {**os.environ, "CAREPATH_DATABASE_URL": db_url}
        self.env.pop("CAREPATH_NOW", None)
        self.exe = str(Path(sys.executable).with_name("carepath"))

    def run(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([self.exe, *args], capture_output=True, text=True,
                                env={**self.env, **(env or {})}, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"carepath {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def json(self, *args: str, **kwargs):
        return json.loads(self.run(*args, "--json", **kwargs).stdout)


@pytest.fixture
def cli(db_url) -> Cli:
    runner = Cli(db_url)
    runner.run("init")
    runner.run("directory", "load", str(DATA / "directory.yaml"))
    return runner


def at(ctx, moment: datetime):
    """The engine with its clock at `moment`."""
    return ctx.at(moment)


def task_by_element(rows: list[dict], element: str) -> dict:
    found = [r for r in rows if r["element"] == element]
    assert len(found) == 1, f"expected one active {element!r} task, got {[r['element'] for r in rows]}"
    return found[0]
