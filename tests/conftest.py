"""Shared fixtures: a real SQLite database per test, the test directory, the engine clock."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

pytest_plugins = ["web"]      # the browser fixtures (Chromium via Playwright) and the live server

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BPMN = DATA / "bpmn"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 2 November 2026, 09:00 in Shanghai: an ordinary working week.
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'carepath.sqlite'}"


@pytest.fixture
def ctx(db_url):
    """An engine on a fresh SQLite file with the schema and the test directory loaded."""
    from engine.context import EngineContext
    from engine.directory import load_directory
    from engine.settings import Settings

    engine = EngineContext(Settings(database_url=db_url), now=T0)
    engine.db.create_schema()
    load_directory(engine.db, DATA / "directory.yaml")
    yield engine
    engine.db.dispose()


PATHWAYS = ROOT / "pathways"
FORMS = ROOT / "forms"
DEMO_DIRECTORY = ROOT / "engine" / "demo" / "directory.yaml"


@pytest.fixture(scope="session")
def region_template(tmp_path_factory) -> Path:
    """A database file with the schema and the demo region's directory, built once per session
    (hashing 50 demo passwords takes seconds) and copied for each test that uses it."""
    from engine.context import EngineContext
    from engine.directory import load_directory
    from engine.settings import Settings

    path = tmp_path_factory.mktemp("region") / "template.sqlite"
    engine = EngineContext(Settings(database_url=f"sqlite:///{path}"), now=T0)
    engine.db.create_schema()
    load_directory(engine.db, DEMO_DIRECTORY)
    engine.db.dispose()
    return path


@pytest.fixture
def region(tmp_path, region_template):
    """An engine on a fresh copy of the demo region (users of every role, supervisors included),
    clock at T0, no pathway deployed yet: see `deploy_pathways`."""
    import shutil

    from engine.context import EngineContext
    from engine.settings import Settings

    path = tmp_path / "carepath.sqlite"
    shutil.copyfile(region_template, path)
    engine = EngineContext(Settings(database_url=f"sqlite:///{path}"), now=T0)
    yield engine
    engine.db.dispose()


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
