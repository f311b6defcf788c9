"""Inserting one new row at once, without the ORM's unit-of-work flush.

A pathway start writes an instance and its first task in the transaction that creates them. Through
`session.add` + `flush` each costs the ORM's whole flush machinery (dependency sort, state
bookkeeping, a freshly generated statement); here each is one prebuilt INSERT sent through the
driver on the session's connection (`direct.DirectInsert`). The object then joins the session as
though it had just been loaded (at once, or later with `join` when it changes again), so the rest
of the unit of work (a later change to its status, `session.get`, the version check on an
instance) sees it exactly as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import Column, inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

from .direct import DirectInsert


@dataclass(frozen=True)
class _Plan:
    """How to insert one mapped class: its prebuilt INSERT; for each column its attribute, its key
    and what makes its Python-side default (None: no default); its autoincrement key and its
    version counter."""
    statement: DirectInsert
    columns: tuple[tuple[str, str, Callable[[], Any] | None], ...]
    key: str
    version: str | None


_PLANS: dict[Mapper, _Plan] = {}
_MISSING = object()


def _plan(mapper: Mapper) -> _Plan:
    plan = _PLANS.get(mapper)
    if plan is None:
        table = mapper.local_table
        (key_column,) = table.primary_key.columns
        version = mapper.version_id_col
        plan = _PLANS[mapper] = _Plan(
            statement=DirectInsert(table),
            columns=tuple((mapper.get_property_by_column(c).key, c.key, _default(c)) for c in table.columns
                          if c is not key_column),
            key=mapper.get_property_by_column(key_column).key,
            version=mapper.get_property_by_column(version).key if version is not None else None)
    return plan


def _default(column: Column) -> Callable[[], Any] | None:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return lambda value=default.arg: value
    if default.is_callable:
        return lambda make=default.arg: make(None)    # SQLAlchemy wraps a plain callable to take the context
    raise TypeError(f"{column}: only scalar or callable defaults can be inserted at once")


def new_row(cls, **values):
    """An object of the mapped class `cls` holding `values`, made the way loading makes one:
    without `__init__` and its attribute events (the history the ORM keeps of each change, which
    a row about to be inserted has no use for). For `insert_now`."""
    obj = inspect(cls).class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def insert_now(session: Session, obj, attach: bool = True) -> None:
    """INSERT the new (transient) mapped object `obj` now, with one prebuilt statement on the
    session's connection: every column is set on it (defaults applied as the ORM would), its key
    is the one the database gave, its version counter (if it has one) starts at 1.

    `attach`: it then joins the session as persistent, so later changes to it are flushed. Without,
    it stays a value to read (a row nothing in this unit of work changes through this object):
    joining costs more than the INSERT."""
    plan = _plan(inspect(obj).mapper)
    given = obj.__dict__
    if plan.version is not None and given.get(plan.version) is None:
        given[plan.version] = 1
    values = {}
    for attribute, key, default in plan.columns:
        value = given.get(attribute, _MISSING)
        if value is _MISSING:
            value = given[attribute] = default() if default is not None else None
        values[key] = value
    given[plan.key] = plan.statement.one(session, values)
    if attach:
        join(session, obj)


def join(session: Session, obj) -> None:
    """Attach `obj`, inserted by `insert_now(attach=False)`, to the session as persistent (as
    though just loaded), so changes made to it from now on are flushed. Once is enough."""
    if obj not in session:
        make_transient_to_detached(obj)
        session.add(obj)
