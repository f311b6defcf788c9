"""The Alembic environment of the CarePath schema (how to add a revision: README.md beside this file).

Two callers run it:

- CarePath itself (`Database.create_schema()`, `carepath db ...`, through `runner.py`): the
  configuration is built in code and carries the connection, already inside the one transaction
  that holds the schema lock, in `config.attributes["connection"]`.
- A developer's `alembic` command with the `alembic.ini` at the repository root (for
  `alembic revision --autogenerate`): the database is `CAREPATH_DATABASE_URL`, and the run takes
  the same transaction and lock.

`render_as_batch` makes autogenerate write SQLite-safe `batch_alter_table` blocks; `compare_type`
makes it see a changed column type. Offline (`--sql`) mode prints the SQL instead of running it.
"""
from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from engine.store.migrations import runner

config = context.config
if config.config_file_name is not None:         # a developer's alembic.ini: its logging section
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(**options) -> None:
    context.configure(
        target_metadata=runner.target_metadata(),
        render_as_batch=True,
        compare_type=True,
        transactional_ddl=True,        # true of SQLite too, on the connection runner.py gives it
        render_item=runner.render_item,
        on_version_apply=config.attributes.get("on_version_apply", ()),
        **options,
    )


def run_offline() -> None:
    dialect = config.attributes.get("dialect_name")
    target = {"dialect_name": dialect} if dialect else {"url": runner.configured_url()}
    _configure(literal_binds=True, dialect_opts={"paramstyle": "named"}, **target)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        context.run_migrations()       # the caller's transaction: committed or rolled back by it
        return
    from engine.store.db import Database
    database = Database(runner.configured_url())
    try:
        with runner.locked_transaction(database.engine) as connection:
            _configure(connection=connection)
            context.run_migrations()
    finally:
        database.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
