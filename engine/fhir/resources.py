"""FHIR R4 resources made from CarePath rows: a Patient, a CarePlan per pathway instance, a Task per
human task, and the Bundle that holds them. Pure: no I/O. The caller (engine.fhir.services) has
already decided what the reader may see and passes only that (`Patient` details only with the
basic tier).

How CarePath maps onto R4:
- Instance status → CarePlan.status: running → active, completed → completed, cancelled → revoked,
  suspended/paused → on-hold, error → on-hold. An instance in error stopped at a failing script or
  expression and waits for a supervisor's retry, which resumes it where it stopped: R4's on-hold
  ("temporarily stopped but expected to resume"). It is not entered-in-error (the record itself
  was a mistake) nor revoked (the plan was ended). Anything else → unknown.
- Human task status → Task.status: open → ready, claimed → in-progress, completed → completed,
  cancelled → cancelled.
- Task.owner is a logical reference (type + identifier + display, no literal reference: CarePath
  exports no Practitioner or PractitionerRole resources). The assignee (who claimed or completed
  the task) is a `Practitioner` with identifier system USER_SYSTEM; a task nobody holds is owned by
  the role it waits for at its unit, a `PractitionerRole` with identifier system ROLE_SYSTEM and
  value "<role>@<org unit code>", displayed as "角色（机构）".
- Care stage: CarePlan.category holds one concept per stage of its tasks, in chain order; a Task
  carries its stage in the extension STAGE_EXTENSION. Both are coded in STAGE_SYSTEM with the
  Chinese label as display. Task.code.text is the task's BPMN element id.
- Task.restriction.period: created → deadline (due_at). Task.executionPeriod (completed tasks):
  created → completed. Task.businessStatus: overdue, escalated (ladder level), paused, completed
  late — coded in BUSINESS_STATUS_SYSTEM, with a Chinese text.
- Times are FHIR instants in the deployment time zone with their offset
  ("2026-11-04T18:00:00+08:00"). Dates (birthDate) are plain dates.
- Resource ids are the database ids as strings. Inside a bundle every entry's fullUrl is a
  `urn:uuid:` (a name-based UUID of resource type and id), and references use it, so they resolve
  inside the bundle; outside a bundle references are relative ("CarePlan/12").
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..stages import STAGES, stage_label

PERSON_SYSTEM = "urn:carepath:person"
INSTANCE_SYSTEM = "urn:carepath:instance"
TASK_SYSTEM = "urn:carepath:task"
USER_SYSTEM = "urn:carepath:user"
ROLE_SYSTEM = "urn:carepath:role"
ORG_SYSTEM = "urn:carepath:org"
STAGE_SYSTEM = "urn:carepath:care-stage"
STAGE_EXTENSION = "urn:carepath:fhir:extension:care-stage"
BUSINESS_STATUS_SYSTEM = "urn:carepath:task-business-status"
_UUIDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:carepath:fhir")

CAREPLAN_STATUS = {"running": "active", "completed": "completed", "cancelled": "revoked",
                   "error": "on-hold", "suspended": "on-hold", "paused": "on-hold"}
TASK_STATUS = {"open": "ready", "claimed": "in-progress", "completed": "completed", "cancelled": "cancelled"}
GENDER = {"男": "male", "女": "female", "未说明": "unknown"}


def careplan_status(instance_status: str) -> str:
    return CAREPLAN_STATUS.get(instance_status, "unknown")


def task_status(status: str) -> str:
    try:
        return TASK_STATUS[status]
    except KeyError:
        raise ValueError(f"unknown human task status {status!r}") from None


def full_url(resource_type: str, ident: int | str) -> str:
    return f"urn:uuid:{uuid.uuid5(_UUIDS, f'{resource_type}/{ident}')}"


@dataclass(frozen=True)
class Refs:
    """References to exported resources: urn:uuid inside a bundle, relative outside one."""
    in_bundle: bool

    def to(self, resource_type: str, ident: int | str, display: str | None = None) -> dict:
        target = full_url(resource_type, ident) if self.in_bundle else f"{resource_type}/{ident}"
        return {"reference": target, **({"display": display} if display else {})}


@dataclass(frozen=True)
class Names:
    """Display names of the users, roles and org units the resources mention."""
    users: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)
    orgs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """The person a resource is about, as far as the reader may see them: `person` (the row)
    only when the reader reads the basic tier, else None and only the id is used."""
    id: int
    person: object | None = None
    org_name: str | None = None

    @property
    def display(self) -> str | None:
        return self.person.name if self.person is not None else None


def instant(clock, moment: datetime | None) -> str | None:
    """A FHIR instant in the deployment time zone, with its offset."""
    return clock.local(moment).isoformat() if moment is not None else None


def _period(clock, start: datetime | None, end: datetime | None) -> dict:
    return {key: value for key, value in (("start", instant(clock, start)), ("end", instant(clock, end)))
            if value is not None}


def _stage_concept(code: str) -> dict:
    label = stage_label(code)
    return {"coding": [{"system": STAGE_SYSTEM, "code": code, "display": label}], "text": label}


def _chain_order(stages: Iterable[str | None]) -> list[str]:
    order = {code: index for index, code in enumerate(STAGES)}
    return sorted({s for s in stages if s}, key=lambda code: (order.get(code, len(order)), code))


# --- resources -------------------------------------------------------------------------------------

def patient(subject: Subject) -> dict:
    """The Patient: always its id; identifier, name, gender, birth date and home unit only when
    the reader reads the person's basic information (`subject.person`)."""
    resource = {"resourceType": "Patient", "id": str(subject.id)}
    person = subject.person
    if person is None:
        return resource
    resource["identifier"] = [{"system": PERSON_SYSTEM, "value": person.ref}]
    resource["name"] = [{"text": person.name}]
    if person.gender in GENDER:
        resource["gender"] = GENDER[person.gender]
    if person.birth_date is not None:
        resource["birthDate"] = person.birth_date.isoformat()
    resource["managingOrganization"] = {
        "type": "Organization", "identifier": {"system": ORG_SYSTEM, "value": person.org_code},
        **({"display": subject.org_name} if subject.org_name else {})}
    return resource


def careplan(row, pathway_name: str, tasks: list, subject: Subject | None, refs: Refs, clock,
             part_of: int | None = None) -> dict:
    """One pathway instance as a CarePlan: its status, title, period, stages and one activity
    per human task (referring to its Task). Without a subject (an instance about no one) the
    subject is a display-only reference."""
    resource = {
        "resourceType": "CarePlan", "id": str(row.id),
        "meta": {"lastUpdated": instant(clock, row.updated_at or row.started_at)},
        "identifier": [{"system": INSTANCE_SYSTEM, "value": str(row.id)}],
        "status": careplan_status(row.status), "intent": "plan",
        "title": pathway_name,
        "subject": (refs.to("Patient", subject.id, subject.display) if subject is not None
                    else {"display": "未关联服务对象"}),
        "period": _period(clock, row.started_at, row.ended_at),
        "created": instant(clock, row.started_at),
    }
    stages = _chain_order(t.stage for t in tasks)
    if stages:
        resource["category"] = [_stage_concept(code) for code in stages]
    if part_of is not None:
        resource["partOf"] = [refs.to("CarePlan", part_of)]
    if tasks:
        resource["activity"] = [{"reference": refs.to("Task", t.id, t.name)} for t in tasks]
    return resource


@dataclass(frozen=True)
class TaskTiming:
    """What the clock says of a task now: overdue (engine.journeys.is_overdue) and its last change."""
    overdue: bool
    last_modified: datetime | None


def _owner(task, names: Names) -> dict | None:
    if task.assignee:
        return {"type": "Practitioner", "identifier": {"system": USER_SYSTEM, "value": task.assignee},
                "display": names.users.get(task.assignee, task.assignee)}
    if task.role_code:
        role = names.roles.get(task.role_code, task.role_code)
        org = names.orgs.get(task.org_code, task.org_code)
        return {"type": "PractitionerRole",
                "identifier": {"system": ROLE_SYSTEM, "value": f"{task.role_code}@{task.org_code}"},
                "display": f"{role}（{org}）"}
    return None


def business_status(task, overdue: bool) -> dict | None:
    """Overdue, escalated, paused or completed late, as codes and one Chinese sentence."""
    found: list[tuple[str, str]] = []
    level = task.escalation_level or 0
    if overdue:
        found.append(("overdue", "已超期"))
    if task.status == "completed" and task.due_at is not None and task.completed_at is not None \
            and task.completed_at > task.due_at:
        found.append(("completed-late", "超期完成"))
    if level == 1:
        found.append(("escalated", "已到期提醒（1 级）"))
    elif level > 1:
        found.append(("escalated", f"已督办（{level} 级）"))
    if task.paused_at is not None and task.status in ("open", "claimed"):
        found.append(("paused", "计时已暂停"))
    if not found:
        return None
    return {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": code} for code, _ in found],
            "text": "；".join(text for _, text in found)}


def task(row, timing: TaskTiming, pathway_name: str, subject: Subject | None, names: Names, refs: Refs,
         clock) -> dict:
    """One human task as a Task, based on its instance's CarePlan, for the person."""
    resource = {
        "resourceType": "Task", "id": str(row.id),
        "identifier": [{"system": TASK_SYSTEM, "value": str(row.id)}],
        "basedOn": [refs.to("CarePlan", row.instance_id, pathway_name)],
        "status": task_status(row.status), "intent": "order",
        "code": {"text": row.element},
        "description": row.name,
        "authoredOn": instant(clock, row.created_at),
        "lastModified": instant(clock, max(m for m in (timing.last_modified, row.created_at, row.completed_at)
                                           if m is not None)),
        "restriction": {"period": _period(clock, row.created_at, row.due_at)},
    }
    if row.stage:
        resource["extension"] = [{"url": STAGE_EXTENSION, "valueCodeableConcept": _stage_concept(row.stage)}]
    if row.status == "cancelled":
        resource["statusReason"] = {"text": "流程已转向，任务取消"}
    found = business_status(row, timing.overdue)
    if found is not None:
        resource["businessStatus"] = found
    if subject is not None:
        resource["for"] = refs.to("Patient", subject.id, subject.display)
    if row.status == "completed" and row.completed_at is not None:
        resource["executionPeriod"] = _period(clock, row.created_at, row.completed_at)
    owner = _owner(row, names)
    if owner is not None:
        resource["owner"] = owner
    return resource


def bundle(resources: Iterable[dict], clock) -> dict:
    """A `collection` Bundle stamped with the engine clock, each entry under its urn:uuid."""
    return {"resourceType": "Bundle", "type": "collection", "timestamp": instant(clock, clock.now()),
            "entry": [{"fullUrl": full_url(r["resourceType"], r["id"]), "resource": r} for r in resources]}
