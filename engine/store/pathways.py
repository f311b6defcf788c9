"""SQL for deployed pathway versions."""
from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from .models import BpmnSource, Instance, PathwayVersion


def latest_version(session: Session, process_id: str) -> PathwayVersion | None:
    return session.scalar(
        select(PathwayVersion).where(PathwayVersion.process_id == process_id)
        .order_by(PathwayVersion.version.desc()).limit(1))


def latest_version_brief(session: Session, process_id: str):
    """(id, version, message_starts) of the newest version, or None: what starting an instance
    needs, without loading the serialized spec and forms the full row carries."""
    return session.connection().execute(_LATEST_BRIEF, {"process_id": process_id}).first()


# Built once, on the table (every start runs it): through the ORM, or made afresh per call, the
# statement costs several times what running it does.
_versions = PathwayVersion.__table__.c
_LATEST_BRIEF = (
    select(_versions.id, _versions.version, _versions.message_starts)
    .where(_versions.process_id == bindparam("process_id"))
    .order_by(_versions.version.desc()).limit(1))


def version_by_id(session: Session, version_id: int) -> PathwayVersion | None:
    return session.get(PathwayVersion, version_id)


def version_by_number(session: Session, process_id: str, number: int) -> PathwayVersion | None:
    return session.scalar(select(PathwayVersion).where(PathwayVersion.process_id == process_id,
                                                       PathwayVersion.version == number))


def store_source(session: Session, sha256: str, filename: str, content: bytes) -> None:
    if session.get(BpmnSource, sha256) is None:
        session.add(BpmnSource(sha256=sha256, filename=filename, content=content))
        session.flush()


def source_content(session: Session, sha256: str) -> BpmnSource | None:
    return session.get(BpmnSource, sha256)


def latest_versions(session: Session) -> list[PathwayVersion]:
    newest = (select(PathwayVersion.process_id, func.max(PathwayVersion.version).label("v"))
              .group_by(PathwayVersion.process_id).subquery())
    return list(session.scalars(
        select(PathwayVersion).join(newest, (PathwayVersion.process_id == newest.c.process_id)
                                    & (PathwayVersion.version == newest.c.v))
        .order_by(PathwayVersion.process_id)))


def running_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Instance.version_id, func.count()).where(Instance.status.in_(("running", "error")))
        .group_by(Instance.version_id))
    return {version_id: count for version_id, count in rows}


def add_version(session: Session, **values) -> PathwayVersion:
    version = PathwayVersion(**values)
    session.add(version)
    session.flush()
    return version
