"""Where the benchmark runs: a scratch directory of SQLite files, PostgreSQL and Redis servers,
and the demo region every figure starts from.

The region (schema + `engine/demo/directory.yaml`) is loaded once into a SQLite template; each
figure gets a copy (`sqlite(name)`), or a PostgreSQL database made from a template holding the
same rows (`postgres(name)`). Without `--pg-url`/`--redis-url` the servers are throwaway ones from
`engine.devservers`, stopped by `close()`; if one cannot start (not installed) the figures that
need it are skipped with the reason, never measured on something else.
"""
from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..context import EngineContext
from ..directory import load_directory
from ..settings import Settings
from ..store.models import Base
from .progress import note

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)     # a Monday of an ordinary working week
HERE = Path(__file__).resolve().parent
ENGINE = HERE.parent
LOOP_BPMN = HERE / "followup_loop.bpmn"
LOOP_PROCESS = "bench_followup_loop"
DEMO_DIRECTORY = ENGINE / "demo" / "directory.yaml"


class Skipped(Exception):
    """A figure cannot be measured here; the message says why (shown in the results)."""


def library_dir() -> Path:
    """The pathway library: `pathways/` of the working directory, else of the source tree."""
    for candidate in (Path.cwd() / "pathways", ENGINE.parent / "pathways"):
        if any(candidate.glob("*.bpmn")):
            return candidate
    raise Skipped("找不到路径库 pathways/*.bpmn（请在仓库根目录运行 carepath bench）")


class Workbench:
    def __init__(self, pg_url: str | None = None, redis_url: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="carepath-bench-"))
        self._given_pg, self._given_redis = pg_url, redis_url
        self._region: Path | None = None
        self._contexts: list[EngineContext] = []
        self._pg = self._redis = None
        self._pg_error = self._redis_error = None
        self._pg_databases: list[str] = []
        self._pg_region: str | None = None
        self._names = itertools.count(1)
        self.postgres_version: str | None = None
        self.shared: dict = {}          # what one figure leaves for another (the loop instance)

    # --- SQLite ---------------------------------------------------------------------------

    def region_template(self) -> Path:
        if self._region is None:
            path = self.dir / "region.sqlite"
            note("载入演示区域（机构、角色、用户）……")
            ctx = EngineContext(Settings(database_url=f"sqlite:///{path}"), now=T0)
            ctx.db.create_schema()
            load_directory(ctx.db, DEMO_DIRECTORY)
            ctx.db.dispose()
            self._region = path
        return self._region

    def sqlite(self, name: str) -> EngineContext:
        """A fresh SQLite database holding the demo region, engine clock at T0."""
        path = self.dir / f"{name}.sqlite"
        shutil.copyfile(self.region_template(), path)
        return self._track(EngineContext(Settings(database_url=f"sqlite:///{path}"), now=T0))

    def _track(self, ctx: EngineContext) -> EngineContext:
        self._contexts.append(ctx)
        return ctx

    # --- PostgreSQL -----------------------------------------------------------------------

    def _pg_admin_url(self) -> str:
        if self._given_pg:
            return self._given_pg
        if self._pg is None and self._pg_error is None:
            from ..devservers import PostgresServer, ServerError
            try:
                note("启动临时 PostgreSQL……")
                self._pg = PostgresServer().start()     # its own directory, reachable by `postgres` as root
            except (ServerError, OSError) as err:
                self._pg_error = f"PostgreSQL 不可用: {err}"
        if self._pg_error:
            raise Skipped(self._pg_error)
        return self._pg.url("postgres")

    def _pg_execute(self, statement: str) -> None:
        engine = create_engine(self._pg_admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def _pg_url(self, database: str) -> str:
        return make_url(self._pg_admin_url()).set(database=database).render_as_string(hide_password=False)

    def postgres(self, name: str) -> EngineContext:
        """A fresh PostgreSQL database holding the demo region, engine clock at T0."""
        if self._pg_region is None:
            self._pg_region = self._new_pg_database("region")
            url = self._pg_url(self._pg_region)
            ctx = EngineContext(Settings(database_url=url), now=T0)
            ctx.db.create_schema()
            _copy_rows(self.region_template(), ctx.db.engine)
            with ctx.db.engine.connect() as connection:
                self.postgres_version = connection.exec_driver_sql("SHOW server_version").scalar()
            ctx.db.dispose()
        database = self._new_pg_database(name, template=self._pg_region)
        return self._track(EngineContext(Settings(database_url=self._pg_url(database)), now=T0))

    def _new_pg_database(self, name: str, template: str | None = None) -> str:
        database = f"carepath_bench_{os.getpid()}_{next(self._names)}_{name}"
        suffix = f' TEMPLATE "{template}"' if template else ""
        self._pg_execute(f'CREATE DATABASE "{database}"{suffix}')
        self._pg_databases.append(database)
        return database

    # --- Redis ----------------------------------------------------------------------------

    def redis_url(self) -> str:
        if self._given_redis:
            return self._given_redis
        if self._redis is None and self._redis_error is None:
            from ..devservers import RedisServer, ServerError
            directory = self.dir / "redis"
            directory.mkdir(exist_ok=True)
            try:
                note("启动临时 Redis……")
                self._redis = RedisServer(directory).start()
            except (ServerError, OSError) as err:
                self._redis_error = f"Redis 不可用: {err}"
        if self._redis_error:
            raise Skipped(self._redis_error)
        return self._redis.url

    # --- the end --------------------------------------------------------------------------

    def close(self) -> None:
        for ctx in self._contexts:
            ctx.db.dispose()
        if self._given_pg and self._pg_databases:
            for database in reversed(self._pg_databases):
                try:
                    self._pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                except SQLAlchemyError as err:      # cleanup goes on; say what is left behind
                    print(f"未能删除数据库 {database}: {err}", file=sys.stderr)
        if self._pg is not None:
            self._pg.stop()
        if self._redis is not None:
            self._redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _copy_rows(sqlite_path: Path, target) -> None:
    """Every row of the SQLite template's tables (the directory) into an empty schema on
    `target`, with PostgreSQL's id sequences moved past the copied ids."""
    source = create_engine(f"sqlite:///{sqlite_path}")
    try:
        with source.connect() as reading, target.begin() as writing:
            for table in Base.metadata.sorted_tables:
                if table.name in ("schema_info", "reference_token"):    # the target's own
                    continue
                rows = [dict(row) for row in reading.execute(select(table)).mappings()]
                if not rows:
                    continue
                writing.execute(insert(table), rows)
                if "id" in table.c and target.dialect.name == "postgresql":
                    writing.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"))
    finally:
        source.dispose()
