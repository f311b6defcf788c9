"""Demo data: the demo region and its staff, the pathways in `pathways/`, and a cohort of people
at various stages of their pathways — some of them overdue, so that inboxes, escalation queues
and indicators have content from the first login.

The cohort is data (`cohort.yaml`): each person's pathway and the steps people took, each at a
moment relative to "now". The loader replays those steps through the same services users call,
moving the engine clock (timers fire, deadlines fall due and escalate exactly as they would have).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from ..directory import load_directory
from ..errors import InvalidInput
from ..pathways import deploy_files
from ..people import register_person
from ..runtime import services
from ..store import people as people_repo

HERE = Path(__file__).resolve().parent
DIRECTORY = HERE / "directory.yaml"
COHORT = HERE / "cohort.yaml"
PASSWORD = "carepath-demo"
_OFFSET = re.compile(r"^\s*-?\s*(\d+(?:\.\d+)?)\s*(d|h|m)\s*$")


@dataclass
class DemoReport:
    users: int = 0
    pathways: list[str] = field(default_factory=list)
    people: int = 0
    instances: int = 0
    open_tasks: int = 0
    escalations: int = 0
    skipped: bool = False


def ago(text: str | int | float, now: datetime) -> datetime:
    """`"12d"`, `"3h"`, `"90m"`: that long before `now` (a plain number means days)."""
    if isinstance(text, (int, float)):
        return now - timedelta(days=float(text))
    found = _OFFSET.match(str(text))
    if not found:
        raise InvalidInput(f"演示数据时间 {text!r} 无效：应为 12d、3h 或 90m（表示多久以前）")
    amount, unit = float(found.group(1)), found.group(2)
    return now - {"d": timedelta(days=amount), "h": timedelta(hours=amount),
                  "m": timedelta(minutes=amount)}[unit]


def load_cohort(path: Path = COHORT) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    people = data.get("people") or []
    for index, entry in enumerate(people):
        for key in ("ref", "name", "org", "pathway", "started"):
            if key not in entry:
                raise InvalidInput(f"{path.name}: people[{index}] 缺少 {key}")
    return people


def _active_task(ctx, instance_ids: list[int], element: str) -> dict:
    for instance_id in instance_ids:
        for task in services.list_tasks(ctx, instance_id=instance_id):
            if task["element"] == element and task["status"] in ("open", "claimed"):
                return task
    raise InvalidInput(f"演示数据：实例 {instance_ids} 中没有待办的 {element}")


def _replay(ctx, entry: dict, now: datetime) -> list[int]:
    """Start the person's pathway and take their steps in time order."""
    started = ago(entry["started"], now)
    outcome = services.start_instance(ctx.at(started), entry["pathway"], entry["org"],
                                      entry.get("data") or {}, person=entry["ref"])
    instance_ids = [outcome.instance]
    for step in entry.get("steps") or []:
        moment = ago(step["at"], now)
        if moment < started or moment > now:
            raise InvalidInput(f"演示数据 {entry['ref']}: 步骤 {step['task']} 的时间不在启动与现在之间")
        at = ctx.at(moment)
        services.tick(at)
        instance_ids = _instances_of(ctx, entry["ref"])
        task = _active_task(at, instance_ids, step["task"])
        services.claim(at, task["id"], step["user"])
        services.complete(at, task["id"], step["user"], step.get("data") or {})
    return _instances_of(ctx, entry["ref"])


def _instances_of(ctx, ref: str) -> list[int]:
    with ctx.db.unit_of_work() as session:
        person = people_repo.person_by_ref(session, ref)
        return [row.id for row in people_repo.instances_of_person(session, person.id)]


def demo_loaded(ctx) -> bool:
    with ctx.db.unit_of_work() as session:
        return people_repo.person_by_ref(session, "DEMO-0001") is not None


def load_demo(ctx, pathways_dir: Path, cohort_path: Path = COHORT) -> DemoReport:
    """Load everything the demo needs into ctx's database. Running it again changes nothing."""
    ctx.db.create_schema()
    report = DemoReport()
    report.users = load_directory(ctx.db, DIRECTORY).users
    files = sorted(pathways_dir.glob("*.bpmn"))
    report.pathways = [r.process_id for r in deploy_files(ctx, files, comment="演示数据")]
    if demo_loaded(ctx):
        report.skipped = True
        return report
    now = ctx.clock.now()
    cohort = load_cohort(cohort_path)
    for entry in cohort:
        started = ago(entry["started"], now)
        register_person(ctx.at(started), entry["ref"], entry["name"], entry["org"],
                        gender=entry.get("gender"), birth_date=entry.get("birth_date"))
        report.instances += len(_replay(ctx, entry, now))
        report.people += 1
    services.tick(ctx)
    report.open_tasks = len(services.list_tasks(ctx, status="open"))
    from ..escalation.actions import list_escalations
    report.escalations = len(list_escalations(ctx))
    return report
