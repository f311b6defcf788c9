"""SQL for the read pages: a person's journey (instances, events, tasks) and one instance's
diagram (its deployed BPMN, its task rows, its fired timers). A fixed handful of indexed queries
per page, whatever the number of events: instances by `person_id`, events and tasks by
`instance_id`, names by primary key."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from .models import BpmnSource, Escalation, Event, HumanTask, Instance, OrgUnit, PathwayVersion, Person


def person_with_unit(session: Session, person_id: int) -> tuple[Person, OrgUnit] | None:
    row = session.execute(select(Person, OrgUnit).join(OrgUnit, OrgUnit.code == Person.org_code)
                          .where(Person.id == person_id)).first()
    return (row[0], row[1]) if row is not None else None


def person_instances(session: Session, person_id: int) -> list[tuple[Instance, PathwayVersion, OrgUnit]]:
    """The person's instances, oldest first, with their version and unit (never the state blob)."""
    rows = session.execute(
        select(Instance, PathwayVersion, OrgUnit)
        .join(PathwayVersion, PathwayVersion.id == Instance.version_id)
        .join(OrgUnit, OrgUnit.code == Instance.org_code)
        .where(Instance.person_id == person_id)
        .options(defer(Instance.state), defer(Instance.variables), defer(PathwayVersion.spec_json),
                 defer(PathwayVersion.forms))
        .order_by(Instance.started_at, Instance.id))
    return [(i, v, u) for i, v, u in rows]


def events_of_instances(session: Session, instance_ids: list[int]) -> list[Event]:
    """Every event of these instances in the order it happened (time, then insertion)."""
    if not instance_ids:
        return []
    return list(session.scalars(select(Event).where(Event.instance_id.in_(instance_ids))
                                .order_by(Event.at, Event.id)))


def timer_events(session: Session, instance_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.instance_id == instance_id,
                                                    Event.kind == "timer_fired")
                                .order_by(Event.at, Event.id)))


def tasks_of_instances(session: Session, instance_ids: list[int]) -> list[HumanTask]:
    """All task rows (any status) of these instances, in creation order."""
    if not instance_ids:
        return []
    return list(session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(instance_ids))
                                .order_by(HumanTask.id)))


def escalations_by_id(session: Session, ids) -> dict[int, Escalation]:
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(select(Escalation).where(Escalation.id.in_(ids)))}


def instance_with_unit(session: Session, instance_id: int) -> tuple[Instance, OrgUnit] | None:
    """The instance row (state included: the diagram page may need it) and its unit."""
    row = session.execute(select(Instance, OrgUnit).join(OrgUnit, OrgUnit.code == Instance.org_code)
                          .where(Instance.id == instance_id)).first()
    return (row[0], row[1]) if row is not None else None


def version_with_source(session: Session, version_id: int) -> tuple[PathwayVersion, BpmnSource] | None:
    row = session.execute(select(PathwayVersion, BpmnSource)
                          .join(BpmnSource, BpmnSource.sha256 == PathwayVersion.source_sha256)
                          .where(PathwayVersion.id == version_id)
                          .options(defer(PathwayVersion.spec_json))).first()
    return (row[0], row[1]) if row is not None else None


def called_version_with_source(session: Session, process_id: str,
                               caller: PathwayVersion) -> tuple[PathwayVersion, BpmnSource] | None:
    """The version of a called pathway that `caller` was built with: the one its `depends_on`
    names, else (deployed in the same batch) the newest one deployed no later than the caller."""
    pinned = (caller.depends_on or {}).get(process_id)
    if pinned:
        return version_with_source(session, pinned)
    row = session.execute(
        select(PathwayVersion, BpmnSource)
        .join(BpmnSource, BpmnSource.sha256 == PathwayVersion.source_sha256)
        .where(PathwayVersion.process_id == process_id, PathwayVersion.deployed_at <= caller.deployed_at)
        .options(defer(PathwayVersion.spec_json))
        .order_by(PathwayVersion.version.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else None


def child_instance_ids(session: Session, instance_id: int, person_id: int | None) -> list[int]:
    """Instances started by a message this instance threw (`parent_instance_id`). Such an
    instance carries its sender's person, so for a person's instance the person index serves
    the lookup; otherwise the partial index on `parent_instance_id` does."""
    query = select(Instance.id).where(Instance.parent_instance_id == instance_id)
    if person_id is not None:
        query = query.where(Instance.person_id == person_id)
    return list(session.scalars(query.order_by(Instance.id)))
