"""The deployment's working-day calendar: imported layers stored in the database, stacked on the
national base, chosen by the task's org unit.

`import_calendar` stores a YAML/ICS layer (docs/calendar-format.md), then recomputes the open
deadlines that were counted in working days, and records each change.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path
from threading import Lock

from .calendar import Calendar, CalendarLayer, DayRule, load_layer, missing_official_year_warning
from .store import calendar as repo
from .store import reference


def _to_layer(row) -> CalendarLayer:
    rules = {date.fromisoformat(r["date"]): DayRule(date.fromisoformat(r["date"]), r["kind"], r["name"])
             for r in row.rules}
    return CalendarLayer(row.region, row.source, row.official, rules, set(row.years or []))


class CalendarCache:
    """The calendar built from stored layers, rebuilt only when the stored revision changes; not
    even that is read while the reference token it was checked under stands."""

    def __init__(self, settings):
        self._settings = settings
        self._lock = Lock()
        self._revision: tuple[int, int] | None = None
        self._token: str | None = None      # the reference token the calendar is known good under
        self._calendar: Calendar | None = None

    def current(self, db, session=None) -> Calendar:
        """The calendar as stored now: read in `session` when given, else in a unit of work of
        its own."""
        if session is None:
            if db.sqlite_file_missing():
                return self._build([])
            with db.unit_of_work() as own:
                return self.current(db, own)
        snapshot = reference.snapshot(session)
        with self._lock:
            if snapshot is not None and snapshot.token == self._token and self._calendar is not None:
                return self._calendar
        revision = repo.revision(session)
        with self._lock:
            if revision == self._revision and self._calendar is not None:
                self._token = snapshot.token if snapshot is not None else None
                return self._calendar
        calendar = self._build([_to_layer(row) for row in repo.layer_rows(session)])
        with self._lock:
            self._revision, self._calendar = revision, calendar
            self._token = snapshot.token if snapshot is not None else None
        return calendar

    def _build(self, layers) -> Calendar:
        return Calendar(layers, tz=self._settings.timezone, close_time=self._settings.workday_close)


def chain_of(org_path: str | None) -> list[str]:
    return [code for code in (org_path or "").split("/") if code]


def import_calendar(ctx, path: str | Path, actor: str | None = None) -> dict:
    """Store a calendar layer file and recompute the deadlines it changes (one unit of work)."""
    from .runtime.sla import recompute_open_deadlines
    path = Path(path)
    layer = load_layer(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        if repo.layer_by_sha(session, sha) is not None:
            return {"imported": False, "source": layer.source, "region": layer.region, "recomputed": []}
        row = repo.add_layer(
            session, region=layer.region, source=layer.source, official=layer.official,
            years=sorted(layer.years),
            rules=[{"date": d.isoformat(), "kind": r.kind, "name": r.name} for d, r in sorted(layer.rules.items())],
            filename=path.name, sha256=sha, imported_at=now, imported_by=actor)
        from .store.runtime import record_event
        record_event(session, now, "calendar_imported", actor=actor, source=layer.source,
                     region=layer.region, official=layer.official, years=sorted(layer.years),
                     days=len(layer.rules), layer_id=row.id)
    recomputed = recompute_open_deadlines(ctx, reason=f"日历导入: {layer.source}", actor=actor)
    return {"imported": True, "source": layer.source, "region": layer.region,
            "official": layer.official, "days": len(layer.rules), "recomputed": recomputed}


def workdays_answer(ctx, start: datetime, n: int, region: str | None = None) -> dict:
    """`carepath calendar workdays`: the date the Nth working day falls on, and on what data."""
    from .store import directory as directory_repo
    chain: list[str] = []
    if region:
        with ctx.db.unit_of_work() as session:
            unit = directory_repo.org_unit(session, region)
            chain = chain_of(unit.path) if unit is not None else [region]
    deadline = ctx.calendar(chain).add_workdays(start, n)
    return {"date": deadline.date.isoformat(), "at": deadline.at, "provisional": deadline.provisional,
            "source": deadline.source}


def next_year_warning(ctx, today: date | None = None) -> str | None:
    """From 1 December, a warning when next year has no official schedule."""
    return missing_official_year_warning(today or ctx.clock.local().date(), ctx.calendar())
