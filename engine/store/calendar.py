"""SQL for imported calendar layers."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import CalendarLayerRow


def layer_rows(session: Session) -> list[CalendarLayerRow]:
    return list(session.scalars(select(CalendarLayerRow).order_by(CalendarLayerRow.id)))


def revision(session: Session) -> tuple[int, int]:
    """Changes whenever a layer is added or removed: (count, max id)."""
    count, last = session.execute(
        select(func.count(CalendarLayerRow.id), func.max(CalendarLayerRow.id))).one()
    return int(count or 0), int(last or 0)


def layer_by_sha(session: Session, sha256: str) -> CalendarLayerRow | None:
    return session.scalar(select(CalendarLayerRow).where(CalendarLayerRow.sha256 == sha256))


def add_layer(session: Session, **values) -> CalendarLayerRow:
    row = CalendarLayerRow(**values)
    session.add(row)
    session.flush()
    return row
