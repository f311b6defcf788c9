"""SQL for the modeler's workspace: what analysts saved, per pathway and per form."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, defer

from .models import Instance, OrgUnit, PathwayVersion, Person, WorkspaceFile
from .runtime import _prefix_pattern


def saved(session: Session, kind: str, key: str) -> WorkspaceFile | None:
    return session.scalar(select(WorkspaceFile).where(WorkspaceFile.kind == kind, WorkspaceFile.key == key))


def all_saved(session: Session, kind: str) -> list[WorkspaceFile]:
    return list(session.scalars(select(WorkspaceFile).where(WorkspaceFile.kind == kind)
                                .order_by(WorkspaceFile.key)))


def versions_of(session: Session, process_id: str) -> list[PathwayVersion]:
    """Every deployed version of a pathway, newest first (without loading the specs' text)."""
    return list(session.scalars(
        select(PathwayVersion).where(PathwayVersion.process_id == process_id)
        .order_by(PathwayVersion.version.desc()).options(defer(PathwayVersion.spec_json))))


def all_versions(session: Session) -> list[PathwayVersion]:
    return list(session.scalars(select(PathwayVersion).order_by(PathwayVersion.process_id,
                                                               PathwayVersion.version.desc())
                                .options(defer(PathwayVersion.spec_json))))


def instances_off_version(session: Session, process_id: str, version_id: int, org_paths: list[str],
                          limit: int) -> list[tuple]:
    """Running (or failed) instances of a pathway on another version than `version_id`, in units
    under any of `org_paths`, oldest first: (instance, version number, unit name, person name)."""
    if not org_paths:
        return []
    under = or_(*[OrgUnit.path.like(_prefix_pattern(path), escape="\\") for path in org_paths])
    return [tuple(row) for row in session.execute(
        select(Instance, PathwayVersion.version, OrgUnit.name, Person.name)
        .join(PathwayVersion, PathwayVersion.id == Instance.version_id)
        .join(OrgUnit, OrgUnit.code == Instance.org_code)
        .outerjoin(Person, Person.id == Instance.person_id)
        .where(Instance.process_id == process_id, Instance.version_id != version_id,
               Instance.status.in_(("running", "error")), under)
        .options(defer(Instance.state), defer(Instance.variables))
        .order_by(Instance.started_at, Instance.id).limit(limit))]
