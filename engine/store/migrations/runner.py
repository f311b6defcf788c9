"""Running the schema revisions (versions/): bring a database to the newest one, say where a
database stands, list the revisions, print the SQL of an upgrade instead of running it.

An upgrade is one transaction that first takes the schema lock (PostgreSQL: an advisory
transaction lock; SQLite: `BEGIN IMMEDIATE`, the database's write lock). So two processes
starting at once never both migrate: the second waits, then finds nothing to do. And a revision
that fails leaves the database as it was (both backends roll DDL back), with an error naming
the revision and the reason.

Alembic is configured here in code; no alembic.ini is read at run time.
"""
from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ...errors import CarePathError
from . import legacy

HERE = Path(__file__).resolve().parent
BASELINE = "0001_baseline"
# The advisory lock every CarePath process takes before touching the schema: b"carepath" as a bigint.
SCHEMA_LOCK = int.from_bytes(b"carepath", "big")
SQLITE_WAIT = 300          # seconds a second SQLite migrator waits for the first one's write lock


class SchemaError(CarePathError, RuntimeError):
    """The schema could not be brought to this CarePath's revision; the database is unchanged."""
    code = "schema"


@dataclass
class SchemaStatus:
    """Where a database stands. `state`: empty (no CarePath table), legacy (from before Alembic,
    `legacy_version` says which), behind (`pending` revisions to run), current, or unknown (a
    revision this CarePath does not have: written by a newer one)."""
    database: str
    revision: str | None
    head: str
    state: str
    legacy_version: int | None = None
    pending: list[str] = field(default_factory=list)


@dataclass
class UpgradeReport:
    database: str
    from_revision: str | None
    revision: str
    legacy_version: int | None        # the schema_info version a pre-Alembic database had
    applied: list[str]


# --- Alembic, configured in code ------------------------------------------------------------------

def target_metadata():
    """The models' metadata: what autogenerate compares a database with."""
    from .. import notify  # noqa: F401  (registers the notification tables)
    from .. import api  # noqa: F401  (registers the API client and idempotency tables)
    from .. import simulations  # noqa: F401  (registers the stored forecasts)
    from .. import audit  # noqa: F401  (registers the audit log and sign-in attempts)
    from ..models import Base
    return Base.metadata


def render_item(type_, obj, autogen_context):
    """Revisions spell column types in plain SQLAlchemy, never with CarePath's own classes (an old
    revision must still run after the models move on): UTCDateTime is its stored sa.DateTime()."""
    from ..types import UTCDateTime
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def configured_url() -> str:
    """CAREPATH_DATABASE_URL (for a developer's `alembic` command)."""
    from ...settings import load_settings
    return load_settings().database_url


def alembic_config(output: io.StringIO | None = None, **attributes) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("file_template", "%%(rev)s")     # versions/<revision id>.py
    config.attributes.update(attributes)
    return config


@lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    return scripts().get_current_head()


def history() -> list[dict]:
    """Every revision, oldest first: {"revision", "down_revision", "doc"}."""
    return [{"revision": script.revision, "down_revision": script.down_revision, "doc": script.doc}
            for script in reversed(list(scripts().walk_revisions()))]


def _pending(current: str | None, target: str) -> list[str]:
    """The revisions an upgrade from `current` to `target` runs, in order."""
    return [script.revision for script in
            reversed(list(scripts().iterate_revisions(target, current or "base")))]


# --- the lock and the transaction -----------------------------------------------------------------

def _sqlite_migration_pragmas(dbapi_connection, _record) -> None:
    from ..db import use_wal
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_WAIT * 1000}")
    use_wal(cursor, SQLITE_WAIT)
    # Off while a revision rebuilds a table (SQLite's ALTER TABLE); checked before commit.
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _begin_immediate(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _migration_engine(engine: Engine) -> Iterator[Engine]:
    """PostgreSQL: the database's own engine. A SQLite file: an engine whose transactions are
    real, DDL included (pysqlite would commit each CREATE as it goes), begun with the write lock."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield engine
        return
    own = create_engine(engine.url, poolclass=NullPool,
                        connect_args={"timeout": SQLITE_WAIT, "isolation_level": None})
    event.listen(own, "connect", _sqlite_migration_pragmas)
    event.listen(own, "begin", _begin_immediate)
    try:
        yield own
    finally:
        own.dispose()


@contextmanager
def locked_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the schema lock; committed if the block returns, else rolled back."""
    with _migration_engine(engine) as migrating, migrating.connect() as connection:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            yield connection
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise SchemaError(f"迁移后外键不一致，已回滚 / foreign keys broken after the "
                                      f"migration, rolled back: {broken[:5]}")


# --- where a database stands ------------------------------------------------------------------------

def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def _status(connection: Connection) -> SchemaStatus:
    newest = head()
    revision = _current(connection)
    old = legacy.legacy_version(connection)
    status = SchemaStatus(connection.dialect.name, revision, newest, "current", legacy_version=old)
    if revision is not None:
        known = {script.revision for script in scripts().walk_revisions()}
        if revision not in known:
            status.state = "unknown"
        elif revision != newest:
            status.state, status.pending = "behind", _pending(revision, newest)
    elif old is not None:
        status.state, status.pending = "legacy", _pending(None, newest)
    else:
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        status.state = "behind" if tables else "empty"
        status.pending = _pending(None, newest)
    return status


def status(db) -> SchemaStatus:
    """Where `db` (a Database) stands; a SQLite file that does not exist is not created."""
    if db.sqlite_file_missing():
        return SchemaStatus(db.dialect, None, head(), "empty", pending=_pending(None, head()))
    with db.engine.connect() as connection:
        return _status(connection)


def _refuse_unusable(status: SchemaStatus) -> None:
    if status.state == "unknown":
        raise SchemaError(
            f"数据库结构版本 {status.revision} 不是此版本 CarePath 所知的版本（本版最新为 {status.head}），"
            f"应由更新版本的 CarePath 写入；拒绝改动数据库。/ The database schema is at revision "
            f"{status.revision}, which this CarePath does not know (its newest is {status.head}): "
            f"a newer CarePath wrote it. Refusing to change the database.")
    if status.legacy_version is not None and status.legacy_version > legacy.LEGACY_VERSION:
        raise SchemaError(
            f"数据库结构 v{status.legacy_version} 比此版本 CarePath (v{legacy.LEGACY_VERSION}) 更新；"
            f"拒绝改动数据库。/ database schema v{status.legacy_version} is newer than this CarePath "
            f"(v{legacy.LEGACY_VERSION}); refusing to change the database.")


# --- running revisions ------------------------------------------------------------------------------

def _reason(err: Exception) -> str:
    cause = err.orig if isinstance(err, DBAPIError) else err
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"


def _failed(step: str, err: Exception) -> SchemaError:
    return SchemaError(f"结构迁移 {step} 失败，数据库保持原样。原因 / schema migration {step} failed, "
                       f"the database is left as it was. Reason: {_reason(err)}")


def _run(connection: Connection, direction: str, target: str, done: list[str], **attributes) -> None:
    """Alembic's upgrade or downgrade to `target` on `connection` (inside the caller's
    transaction); each revision run is appended to `done`; a failure names its revision."""
    before = _current(connection)
    if direction == "upgrade":
        steps = _pending(before, head() if target == "head" else target)
    else:
        steps = [script.revision for script in scripts().iterate_revisions(before, target)]
    ran: list[str] = []

    def record(ctx, step, heads, run_args) -> None:
        ran.append(step.up_revision_id)

    config = alembic_config(connection=connection, on_version_apply=[record], **attributes)
    try:
        getattr(command, direction)(config, target)
    except Exception as err:
        step = steps[len(ran)] if len(ran) < len(steps) else target
        raise _failed(step, err) from err
    finally:
        done.extend(ran)


def upgrade(db, target: str = "head") -> UpgradeReport:
    """Bring `db` (a Database) to `target`: a pre-Alembic database through its hand-made
    upgrades to v5 and the baseline's legacy mode first. One locked transaction."""
    with locked_transaction(db.engine) as connection:
        found = _status(connection)
        _refuse_unusable(found)
        applied: list[str] = []
        if found.state == "legacy":
            try:
                legacy.bring_to_v5(connection, found.legacy_version)
            except DBAPIError as err:
                raise _failed(f"v{found.legacy_version}→v{legacy.LEGACY_VERSION}", err) from err
            _run(connection, "upgrade", BASELINE, applied, carepath_legacy=True)
        _run(connection, "upgrade", target, applied)
        report = UpgradeReport(found.database, found.revision, _current(connection),
                               found.legacy_version if found.state == "legacy" else None, applied)
    db.reference.reset()        # the schema moved: ask again whether it has the reference token
    return report


def downgrade(db, target: str) -> list[str]:
    """Undo revisions down to `target` (for developers and tests; the baseline refuses to be
    undone). The revisions undone, newest first."""
    with locked_transaction(db.engine) as connection:
        _refuse_unusable(_status(connection))
        undone: list[str] = []
        _run(connection, "downgrade", target, undone)
    db.reference.reset()
    return undone


def upgrade_sql(db) -> str:
    """The SQL an upgrade of `db` to the newest revision would run, without running it."""
    found = status(db)
    _refuse_unusable(found)
    if found.state == "legacy":
        raise SchemaError(
            f"此数据库建于 Alembic 之前 (v{found.legacy_version})，其升级含 Python 步骤，无法只输出 SQL；"
            f"请运行 carepath db upgrade。/ This database predates Alembic (v{found.legacy_version}); "
            f"its upgrade has Python steps, so there is no SQL-only form: run `carepath db upgrade`.")
    if found.state == "current":
        return f"-- 数据库结构已是最新 ({found.revision})，无 SQL 要执行 / already at the newest revision\n"
    output = io.StringIO()
    config = alembic_config(output=output, dialect_name=db.dialect)
    command.upgrade(config, f"{found.revision or 'base'}:head", sql=True)
    return output.getvalue()
