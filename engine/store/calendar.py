"""SQL for imported calendar layers."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import CalendarLayerRow


def layer_rows(session: Session) -> list[CalendarLayerRow]:
    return list(session.scalars(select(CalendarLayerRow).order_by(CalendarLayerRow.id)))


def revision(session: Session) -> tuple[int, int]:
    """Changes whenever a layer is added or removed: (count, max id)."""
    count, last = session.connection().execute(_REVISION).one()
    return int(count or 0), int(last or 0)


def layer_by_sha(session: Session, sha256: str) -> CalendarLayerRow | None:
    return session.scalar(select(CalendarLayerRow).where(CalendarLayerRow.sha256 == sha256))


def add_layer(session: Session, **values) -> CalendarLayerRow:
    row = CalendarLayerRow(**values)
    session.add(row)
    session.flush()
    return row


# Built once, on the table (every deadline computed checks it): through the ORM, or made afresh
# per call, the statement costs several times what running it does.
_layers = CalendarLayerRow.__table__.c
_REVISION = select(func.count(_layers.id), func.max(_layers.id))
