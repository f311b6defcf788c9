"""Indicators for the supervisors' dashboard: how the hand-offs of one org unit and everything
below it are going, per agency, per child unit and per care stage, over a time window; and the
three programme rates the source documents name per agency (003). Computed with SQL aggregates
over the task and instance rows (engine/store/indicators.py), never by loading workflows.

Definitions (shown to supervisors):
- 在办 open: tasks open or claimed at the end of the window (`until`).
- 逾期 overdue: open tasks whose deadline (due_at) is before `until`.
- 办结 completed: tasks completed within [since, until).
- 按时率 on-time rate: of the tasks completed in the window that have a deadline, the share
  completed at or before it (completed_at <= due_at); tasks without a deadline are left out;
  None when no such task was completed.
- 中位用时 median hours (per stage): the median of (completed_at − created_at), in hours
  rounded to 0.01, over the stage's tasks completed in the window. Computed in the database with
  a window function (ROW_NUMBER over each stage's durations, the middle row or the mean of the
  middle two), since SQLite has no percentile function.
- 学生筛查率 screening rate (education): of the school_screening instances started in the window
  at units in scope (students enrolled into screening), the share whose `screening` task was
  completed by `until`.
- 严重精神障碍规范管理率 (health): of the township doctor's follow-ups (`doctor_followup` of
  severe_followup, the follow-up whose interval the 2018 specification sets) due in the window at
  units in scope and not cancelled, the share completed by their deadline. The county's
  telephone check (`county_check`, the second track) counts in the stage and agency figures.
- 救助覆盖率 relief coverage (civil affairs): of the confirmed diagnoses of low-income patients
  (低保/特困: `diagnose` of the diagnosis pathway completed in the window with a confirmed
  result), counted where the patient lives, the share for whom civil-affairs relief started
  (a relief instance started by the 确诊低收入患者 message) by `until`. A patient who did not
  consent to sharing is in the denominator and not the numerator: that gap is what a civil-affairs
  supervisor must see. `approved` counts those whose relief was approved (approve_relief done).
"""
from __future__ import annotations

from datetime import datetime, timezone

from .agencies import agency_label, agency_of, agency_order
from .access import can_watch_indicators
from .errors import InvalidInput, NotFound, PermissionDenied
from .runtime.services import actor_for, task_dict
from .stages import STAGES, stage_label
from .store import directory as directory_repo
from .store import indicators as repo

SCREENING = {"process": "school_screening", "element": "screening"}
SEVERE_FOLLOWUP = {"process": "severe_followup", "elements": ("doctor_followup",)}
RELIEF = {"process": "diagnosis", "element": "diagnose",
          "variables": {"diagnosis_result": ("confirmed",), "household_type": ("dibao", "tekun")},
          "follow_process": "relief", "follow_element": "approve_relief"}
# The counters' definitions as supervisors read them (the programmes carry their own).
DEFINITIONS = {
    "open": "统计截止时点仍在办（待认领或已认领）的任务数",
    "overdue": "统计截止时点仍在办且已超过办理期限的任务数",
    "completed": "统计区间内办结的任务数",
    "on_time_rate": "统计区间内办结且有办理期限的任务中，在期限内办结的比例（无期限的任务不计）",
    "median_hours": "统计区间内办结的任务从创建到办结所用时间的中位数（小时）",
}
UNSTAGED = "none"   # indicator_tasks(stage=UNSTAGED): the tasks whose pathway states no stage
MAX_TASKS = 500


def _instant(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{name} 必须是带时区的时间 (an aware datetime)")
    return value.astimezone(timezone.utc)


def _window(ctx, since: datetime, until: datetime | None) -> tuple[datetime, datetime]:
    until = _instant(until if until is not None else ctx.clock.now(), "until")
    since = _instant(since, "since")
    if since >= until:
        raise InvalidInput("统计区间的开始时间必须早于结束时间 (since must be before until)")
    return since, until


def _counters() -> dict:
    return {"open": 0, "overdue": 0, "completed": 0, "completed_with_due": 0, "completed_on_time": 0}


def _finish(counters: dict) -> dict:
    rated, on_time = counters["completed_with_due"], counters["completed_on_time"]
    return {**counters, "late": rated - on_time, "on_time_rate": on_time / rated if rated else None}


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _child_of(path: str, task_path: str) -> str | None:
    """The direct child of the unit at `path` whose subtree holds `task_path`; None for the unit itself."""
    rest = task_path[len(path):].strip("/")
    return rest.split("/", 1)[0] if rest else None


def indicators(ctx, org: str, since: datetime, until: datetime | None = None, *,
               locale: str = "zh") -> dict:
    """The indicators of org unit `org` and everything below it over [since, until) (until
    defaults to the engine clock's now). Definitions: see this module's docstring.

    Returns
    {"org": code, "org_name": name, "since": dt, "until": dt,
     "totals": COUNTERS,
     "by_agency": [{"agency": "health", "label": "卫生健康", **COUNTERS}],   # agencies with any count
     "by_org": [{"org": code, "name": name, "own": bool, **COUNTERS}],       # the unit's own tasks
                                                  # ("own": True, first), then each direct child's subtree
     "by_stage": [{"stage": "referral", "label": "转介", **COUNTERS, "median_hours": float|None}],
                                                  # every stage in chain order; stage None last if any
     "programmes": {key: {"value": float|None, "numerator": n, "denominator": n, "label": ...,
                          "agency": ..., "definition": ...}}}        # screening_rate,
                                                  # severe_followup_on_time, relief_coverage (+ "approved")
    where COUNTERS = {"open", "overdue", "completed", "completed_with_due", "completed_on_time",
                      "late", "on_time_rate": float|None}. Sums over by_agency, by_org and by_stage
    equal the totals."""
    since, until = _window(ctx, since, until)
    with ctx.db.unit_of_work() as session:
        unit, children = repo.unit_and_children(session, org)
        if unit is None:
            raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
        path = unit.path
        open_rows = repo.open_counts(session, path, until)
        completed_rows = repo.completed_counts(session, path, since, until)
        medians = repo.median_hours_by_stage(session, path, since, until)
        programmes = _programmes(session, path, since, until)

    totals = _counters()
    by_agency: dict[str | None, dict] = {}
    by_child: dict[str | None, dict] = {None: _counters(), **{c.code: _counters() for c in children}}
    by_stage: dict[str | None, dict] = {code: _counters() for code in STAGES}
    keys = ("open", "overdue", "completed", "completed_with_due", "completed_on_time")
    for rows, fields in ((open_rows, keys[:2]), (completed_rows, keys[2:])):
        for role, task_path, stage, *values in rows:
            targets = (totals, by_agency.setdefault(agency_of(role), _counters()),
                       by_child.setdefault(_child_of(path, task_path), _counters()),
                       by_stage.setdefault(stage, _counters()))
            for target in targets:
                for field, value in zip(fields, values):
                    target[field] += int(value or 0)

    names = {c.code: c.name for c in children}
    stage_rows = [{"stage": code, "label": stage_label(code, locale), **_finish(counters),
                   "median_hours": round(medians[code], 2) if code in medians else None}
                  for code, counters in by_stage.items() if code in STAGES or any(counters.values())]
    return {
        "org": unit.code, "org_name": unit.name, "since": since, "until": until,
        "totals": _finish(totals),
        "by_agency": [{"agency": code, "label": agency_label(code, locale), **_finish(counters)}
                      for code, counters in sorted(by_agency.items(), key=lambda kv: agency_order(kv[0]))],
        "by_org": [{"org": unit.code if code is None else code,
                    "name": unit.name if code is None else names.get(code, code),
                    "own": code is None, **_finish(counters)}
                   for code, counters in by_child.items()],
        "by_stage": stage_rows,
        "programmes": programmes,
    }


def _programmes(session, path: str, since: datetime, until: datetime) -> dict:
    started, screened = repo.started_with_task_completed(
        session, path, SCREENING["process"], SCREENING["element"], since, until)
    due, on_time = repo.due_and_on_time(
        session, path, SEVERE_FOLLOWUP["process"], SEVERE_FOLLOWUP["elements"], since, until)
    diagnosed, relieved, approved = repo.followed_on(
        session, path, process_id=RELIEF["process"], element=RELIEF["element"],
        variables=RELIEF["variables"], follow_process=RELIEF["follow_process"],
        follow_element=RELIEF["follow_element"], since=since, until=until)
    return {
        "screening_rate": {
            "value": _rate(screened, started), "numerator": screened, "denominator": started,
            "label": "学生筛查率", "agency": "education",
            "definition": "区间内纳入筛查（启动学生心理筛查）的学生中，截至统计时点已完成筛查的比例"},
        "severe_followup_on_time": {
            "value": _rate(on_time, due), "numerator": on_time, "denominator": due,
            "label": "严重精神障碍规范管理率", "agency": "health",
            "definition": "区间内到期的精防医生随访（未取消）中，在期限内完成的比例"},
        "relief_coverage": {
            "value": _rate(relieved, diagnosed), "numerator": relieved, "denominator": diagnosed,
            "approved": approved, "label": "救助覆盖率", "agency": "civil",
            "definition": "区间内确诊的低保、特困患者中，已启动民政医疗救助的比例（approved 为救助已审批的人数）"},
    }


def indicator_tasks(ctx, org: str, *, agency: str | None = None, stage: str | None = None,
                    state: str = "open", since: datetime | None = None,
                    until: datetime | None = None, own_only: bool = False, limit: int = 50,
                    offset: int = 0) -> list[dict]:
    """The tasks behind one bar of the dashboard, as task dicts (services.task_dict):
    state "open" / "overdue" at `until` (soonest deadline first), or "completed" / "late" /
    "on_time" in [since, until) (earliest completion first; `since` required). Narrowed to one
    agency (role prefix), one stage (UNSTAGED for tasks without one) and, with `own_only`, to
    the unit's own tasks (the by_org row marked "own")."""
    if state not in repo.STATES:
        raise InvalidInput(f"状态无效: {state!r}（可选 {', '.join(repo.STATES)}）")
    if stage is not None and stage != UNSTAGED and stage not in STAGES:
        raise InvalidInput(f"服务阶段无效: {stage!r}（可选 {', '.join(STAGES)}、{UNSTAGED}）")
    if state in ("open", "overdue"):
        until = _instant(until if until is not None else ctx.clock.now(), "until")
        since = None
    elif since is None:
        raise InvalidInput(f"状态 {state} 需要统计区间的开始时间 (since)")
    else:
        since, until = _window(ctx, since, until)
    limit = max(1, min(int(limit), MAX_TASKS))
    with ctx.db.unit_of_work() as session:
        unit = directory_repo.org_unit(session, org)
        if unit is None:
            raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
        rows = repo.task_rows(session, unit.path, state=state, since=since, until=until,
                              own_only=own_only, agency=agency, stage=None if stage == UNSTAGED else stage,
                              unstaged=stage == UNSTAGED, limit=limit, offset=max(0, int(offset)))
        return [task_dict(row) for row in rows]


def watched_units(ctx, username: str) -> list[tuple[str, str, str]]:
    """(code, name, level) of the units whose indicators the user watches (supervisor or analyst
    memberships), highest first; empty for frontline staff."""
    with ctx.db.unit_of_work() as session:
        actor = actor_for(session, username)
        units = repo.units_at_paths(session, sorted({path for _, path in actor.grants}))
        return [(u.code, u.name, u.level) for u in units if can_watch_indicators(actor, u.path)]


def indicators_for_user(ctx, username: str, org: str, since: datetime, until: datetime | None = None,
                        *, locale: str = "zh") -> dict:
    """`indicators`, for a user who supervises `org` (PermissionDenied otherwise)."""
    _require_watch(ctx, username, org)
    return indicators(ctx, org, since, until, locale=locale)


def indicator_tasks_for_user(ctx, username: str, org: str, **filters) -> list[dict]:
    _require_watch(ctx, username, org)
    return indicator_tasks(ctx, org, **filters)


def _require_watch(ctx, username: str, org: str) -> None:
    with ctx.db.unit_of_work() as session:
        actor = actor_for(session, username)
        unit = directory_repo.org_unit(session, org)
        if unit is None:
            raise NotFound(f"机构 {org} 不存在 (unknown org unit)")
        if not can_watch_indicators(actor, unit.path):
            raise PermissionDenied(f"只有 {unit.name} 或上级的督导可以查看其指标")
