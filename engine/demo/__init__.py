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
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from ..directory import load_directory
from ..errors import CarePathError, InvalidInput
from ..escalation.actions import list_escalations
from ..pathways import deploy_files
from ..people import register_person
from ..runtime import services
from ..runtime.sweep import next_due
from ..store import people as people_repo
from ..store.models import Event
from ..store.runtime import record_event

HERE = Path(__file__).resolve().parent
DIRECTORY = HERE / "directory.yaml"
COHORT = HERE / "cohort.yaml"
PASSWORD = "carepath-demo"
_OFFSET = re.compile(r"^\s*(-?)\s*(\d+(?:\.\d+)?)\s*(d|h|m)\s*$")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
LOADED = "demo_loaded"            # the event kind that marks a complete load
MAX_SWEEPS = 100_000              # a replay that needs more sweeps than this has a runaway timer


@dataclass
class DemoReport:
    users: int = 0
    pathways: list[str] = field(default_factory=list)
    people: int = 0
    instances: int = 0
    open_tasks: int = 0
    escalations: int = 0
    sweeps: int = 0
    skipped: bool = False


def ago(text: str | int | float, now: datetime) -> datetime:
    """`"12d"`, `"3h"`, `"90m"`: that long before `now` (a plain number means days)."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise InvalidInput(f"演示数据时间 {text!r} 无效：应为 12d、3h 或 90m（表示多久以前）")
    if isinstance(text, (int, float)):
        text = f"{text}d"
    found = _OFFSET.match(text)
    if not found:
        raise InvalidInput(f"演示数据时间 {text!r} 无效：应为 12d、3h 或 90m（表示多久以前）")
    if found.group(1):
        raise InvalidInput(f"演示数据时间 {text!r} 在“现在”之后：演示数据只能回放过去发生的事")
    return now - float(found.group(2)) * _UNITS[found.group(3)]


def load_cohort(path: Path = COHORT) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    people = data.get("people") or []
    for index, entry in enumerate(people):
        for key in ("ref", "name", "org", "pathway", "started"):
            if key not in entry:
                raise InvalidInput(f"{path.name}: people[{index}] 缺少 {key}")
    return people


@dataclass(frozen=True)
class Step:
    """One moment of the replay: a person's registration and start, or one task they completed."""
    at: datetime
    entry: dict
    index: int                    # 0 = start; n = the n-th step of the person
    task: str | None = None
    user: str | None = None
    data: dict = field(default_factory=dict)

    def where(self) -> str:
        what = "启动" if self.index == 0 else f"第 {self.index} 步 {self.task}（{self.user}）"
        return f"演示数据 {self.entry['ref']} {what}"


def _form_value(value):
    """YAML reads an unquoted 2026-11-02 as a date; a form field holds the ISO string."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_form_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _form_value(v) for k, v in value.items()}
    return value


def plan(cohort: list[dict], now: datetime) -> list[Step]:
    """Every start and step of the cohort in the order they happened, checked before anything is
    written: each person's steps in time order, between their start and now."""
    moments: list[Step] = []
    for entry in cohort:
        started = ago(entry["started"], now)
        moments.append(Step(started, entry, 0, data=_form_value(entry.get("data") or {})))
        previous = started
        for number, step in enumerate(entry.get("steps") or [], start=1):
            where = f"演示数据 {entry['ref']} 第 {number} 步"
            if not isinstance(step, dict) or not step.get("task") or not step.get("user"):
                raise InvalidInput(f"{where}：需要 task、user 和 at")
            at = ago(step.get("at", ""), now)
            if at < previous:
                raise InvalidInput(f"{where} {step['task']}：时间 {step['at']} 早于上一步"
                                   f"（每人的步骤须按时间先后排列）")
            data = step.get("data") or {}
            if not isinstance(data, dict):
                raise InvalidInput(f"{where} {step['task']}：data 应为键值表")
            moments.append(Step(at, entry, number, step["task"], step["user"], _form_value(data)))
            previous = at
    return sorted(moments, key=lambda s: s.at)      # stable: same moment keeps cohort order


def catch_up(ctx, until: datetime, report: DemoReport) -> None:
    """Sweep at every moment something fell due up to `until`, as a running engine would have:
    timers fire and escalations are raised at their own moments, not at the next step's."""
    last = None
    while True:
        due = next_due(ctx)
        if due is None or due > until:
            break
        if last is not None and due <= last:
            raise InvalidInput(f"演示数据回放：{due.isoformat()} 到期的工作扫描后仍未处理")
        if report.sweeps >= MAX_SWEEPS:
            raise InvalidInput(f"演示数据回放：扫描超过 {MAX_SWEEPS} 次，可能有失控的循环定时器")
        services.tick(ctx.at(due))
        report.sweeps += 1
        last = due
    services.tick(ctx.at(until))
    report.sweeps += 1


def _take(ctx, step: Step, report: DemoReport) -> None:
    entry = step.entry
    if step.index == 0:
        register_person(ctx, entry["ref"], entry["name"], entry["org"],
                        gender=entry.get("gender"), birth_date=entry.get("birth_date"))
        services.start_instance(ctx, entry["pathway"], entry["org"], step.data, person=entry["ref"])
        report.people += 1
        return
    task = _active_task(ctx, _instances_of(ctx, entry["ref"]), step.task)
    services.claim(ctx, task["id"], step.user)
    services.complete(ctx, task["id"], step.user, step.data)


def _active_task(ctx, instance_ids: list[int], element: str) -> dict:
    for instance_id in instance_ids:
        for task in services.list_tasks(ctx, instance_id=instance_id):
            if task["element"] == element and task["status"] in ("open", "claimed"):
                return task
    open_now = sorted({t["element"] for i in instance_ids for t in services.list_tasks(ctx, instance_id=i)
                       if t["status"] in ("open", "claimed")})
    raise InvalidInput(f"此时没有待办的 {element}（待办：{'、'.join(open_now) or '无'}）")


def _instances_of(ctx, ref: str) -> list[int]:
    with ctx.db.unit_of_work() as session:
        person = people_repo.person_by_ref(session, ref)
        return [row.id for row in people_repo.instances_of_person(session, person.id)]


def demo_state(ctx, cohort: list[dict]) -> str:
    """"loaded", "empty" or "partial" (an earlier load stopped half-way)."""
    with ctx.db.unit_of_work() as session:
        if session.scalar(select(Event.id).where(Event.kind == LOADED).limit(1)) is not None:
            return "loaded"
        present = any(people_repo.person_by_ref(session, e["ref"]) is not None for e in cohort)
    return "partial" if present else "empty"


def demo_loaded(ctx) -> bool:
    return demo_state(ctx, load_cohort()) == "loaded"


def load_demo(ctx, pathways_dir: Path, cohort_path: Path = COHORT) -> DemoReport:
    """Load everything the demo needs into ctx's database. Running it again changes nothing.

    The whole cohort is checked first, then replayed as one time line: people's steps interleave
    in the order they happened, and before each one the engine sweeps at every moment a timer or
    escalation fell due, so the history looks as if the engine had run all along. A step that
    fails names the person and the step; the database then holds a partial cohort, which a later
    run reports instead of skipping or loading twice.
    """
    ctx.db.create_schema()
    now = ctx.clock.now()
    cohort = load_cohort(cohort_path)
    steps = plan(cohort, now)
    state = demo_state(ctx, cohort)
    if state == "partial":
        raise InvalidInput("数据库中有上次未载入完成的演示数据：请删除该数据库（或换一个空数据库）"
                           "后重新运行 carepath demo (an earlier demo load stopped half-way)")
    report = DemoReport()
    report.users = load_directory(ctx.db, DIRECTORY).users
    first = steps[0].at if steps and state == "empty" else now
    files = sorted(pathways_dir.glob("*.bpmn"))
    report.pathways = [r.process_id for r in deploy_files(ctx.at(first), files, comment="演示数据")]
    if state == "loaded":
        report.skipped = True
        return report
    for step in steps:
        catch_up(ctx, step.at, report)
        try:
            _take(ctx.at(step.at), step, report)
        except CarePathError as err:
            raise InvalidInput(f"{step.where()} 于 {step.at.isoformat()} 失败：{err}") from err
    catch_up(ctx, now, report)
    with ctx.db.unit_of_work() as session:
        record_event(session, now, LOADED, people=report.people)
    report.instances = sum(len(_instances_of(ctx, entry["ref"])) for entry in cohort)
    report.open_tasks = len(services.list_tasks(ctx, status="open"))
    report.escalations = len(list_escalations(ctx))
    return report
