"""Table and SQL for stored workload forecasts (`carepath simulate`): one row per run, its
parameters and its whole result as JSON.

Importing this module registers the table on `engine.store.models.Base`, so
`Database.create_schema()` and the migration guard know it. The list reads only the few fields
it shows out of `result` (JSON paths, on SQLite and PostgreSQL alike), never the whole document.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, undefer

from .models import Base
from .types import UTCDateTime


class Simulation(Base):
    """A stored forecast: the pathway it ran (process id), when and by whom it was made, the run's
    parameters (cohort, from, days, seed, org, staff, branches), its result (the JSON-safe dict
    `carepath simulate` returns) and how many seconds it took."""
    __tablename__ = "simulations"
    id: Mapped[int] = mapped_column(primary_key=True)
    pathway: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    params: Mapped[dict] = mapped_column(JSON)
    result: Mapped[dict] = mapped_column(JSON, deferred=True)     # read only for one forecast
    seconds: Mapped[float] = mapped_column(Float)


def add_simulation(session: Session, **values) -> int:
    row = Simulation(**values)
    session.add(row)
    session.flush()
    return row.id


def simulation(session: Session, simulation_id: int) -> Simulation | None:
    """One forecast, its result included."""
    return session.get(Simulation, simulation_id, options=[undefer(Simulation.result)])


def simulation_briefs(session: Session, limit: int) -> list[tuple]:
    """(id, pathway, created_at, created_by, params, pathway_name, org_name, totals), newest
    first: the names and the totals read out of `result` by the database."""
    query = (select(Simulation.id, Simulation.pathway, Simulation.created_at, Simulation.created_by,
                    Simulation.params, Simulation.result["pathway_name"].as_string(),
                    Simulation.result["org_name"].as_string(), Simulation.result["totals"])
             .order_by(Simulation.created_at.desc(), Simulation.id.desc()).limit(limit))
    return [tuple(row) for row in session.execute(query)]


def delete_simulation(session: Session, simulation_id: int) -> bool:
    """Delete one forecast; False when there was none."""
    return session.execute(delete(Simulation).where(Simulation.id == simulation_id)
                           .execution_options(synchronize_session=False)).rowcount > 0
