"""Inserting one new row at once, without the ORM's unit-of-work flush.

A pathway start writes an instance and its first task in the transaction that creates them. Through
`session.add` + `flush` each costs the ORM's whole flush machinery (dependency sort, state
bookkeeping, a freshly generated statement); here each is one prebuilt INSERT on the session's
connection, and the object then joins the session as though it had just been loaded, so the rest
of the unit of work (a later change to its status, `session.get`, the version check on an
instance) sees it exactly as before.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Insert, insert, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached


@dataclass(frozen=True)
class _Plan:
    """How to insert one mapped class: its prebuilt INSERT, the attribute of each column with its
    Python-side default, its autoincrement key and its version counter."""
    statement: Insert
    columns: tuple[tuple[str, Column], ...]
    key: str
    version: str | None


_PLANS: dict[Mapper, _Plan] = {}


def _plan(mapper: Mapper) -> _Plan:
    plan = _PLANS.get(mapper)
    if plan is None:
        table = mapper.local_table
        (key_column,) = table.primary_key.columns
        version = mapper.version_id_col
        plan = _PLANS[mapper] = _Plan(
            statement=insert(table),
            columns=tuple((mapper.get_property_by_column(c).key, c) for c in table.columns
                          if c is not key_column),
            key=mapper.get_property_by_column(key_column).key,
            version=mapper.get_property_by_column(version).key if version is not None else None)
    return plan


def _default(column: Column):
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)      # SQLAlchemy wraps a plain callable to take the context
    raise TypeError(f"{column}: only scalar or callable defaults can be inserted at once")


def insert_now(session: Session, obj) -> None:
    """INSERT the new (transient) mapped object `obj` now, with one prebuilt statement on the
    session's connection, and attach it to the session as persistent: every column is set on it
    (defaults applied as the ORM would), its key is the one the database gave, its version
    counter (if it has one) starts at 1."""
    plan = _plan(inspect(obj).mapper)
    given = obj.__dict__
    if plan.version is not None and given.get(plan.version) is None:
        setattr(obj, plan.version, 1)
    values = {}
    for attribute, column in plan.columns:
        if attribute not in given:
            setattr(obj, attribute, _default(column))
        values[column.key] = given[attribute]
    result = session.connection().execute(plan.statement, values)
    setattr(obj, plan.key, result.inserted_primary_key[0])
    make_transient_to_detached(obj)
    session.add(obj)
