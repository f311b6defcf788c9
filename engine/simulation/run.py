"""A forecast: a synthetic cohort run through the real engine, in a separate database, on the
engine clock (`carepath simulate`).

Everything happens through the services production uses: people arrive (`start_instance`) at
random moments of the period's working hours, at the org units pathways start at; each task
joins the queue of its role at its unit, where the staff (staff file; unlimited without one)
take the earliest-due task first, claim it, work on it for a handling time drawn in working hours
of the unit's calendar, and complete it with form data the form's own validator accepts. The
engine sweeps at every moment a timer or an escalation step falls due (no more often than
`sweep_minutes` apart), so timers fire and deadlines escalate as they would have.

It is one discrete-event loop: the next thing to happen is the earliest of the next arrival, the
next start or end of someone's work, the next day's close (queue lengths are counted then), and
the engine's own next due moment. The same plan and seed give the same forecast.
"""
from __future__ import annotations

import heapq
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ..calendars import chain_of
from ..errors import Conflict, FormInvalid, InvalidInput, TaskNotOpen
from ..forms import FormValidator
from ..people import register_person
from ..runtime import services
from ..runtime.forms import validator_for
from ..runtime.sweep import next_due
from ..store import forecast as repo
from .branching import Branching
from .context import SimulationContext
from .formdata import Generator
from .sandbox import Sandbox
from .setup import Setting, prepare

MAX_SWEEPS_PER_DAY = 10_000
AGREEING_TRIES = 40                  # draws of form data to find data that agrees with a drawn branch          # more than this is a runaway cycle timer, not a workload


@dataclass
class Plan:
    """What to forecast (the `carepath simulate` options)."""
    pathway: str
    cohort: int
    start: date
    days: int
    seed: int = 1
    org: str | None = None            # people arrive at units under this one (default: history's, or all)
    level: str | None = None          # ... at this level (default: where history started them, or village)
    staff: str | None = None          # staff file (default: unlimited staff everywhere)
    branches: str = "history"         # "history", "data" (the generated data decides) or a branches file
    fixed: dict = field(default_factory=dict)   # form values every submission keeps (a list: one of them)
    into: str | None = None           # the forecast's database URL (default: a temporary SQLite file)
    sweep_minutes: int = 15

    def check(self) -> None:
        if self.cohort < 1:
            raise InvalidInput("--cohort 应为正整数 (the cohort needs at least one person)")
        if not 1 <= self.days <= 3660:
            raise InvalidInput("--days 应在 1 到 3660 之间 (days must be 1..3660)")
        if self.sweep_minutes < 1:
            raise InvalidInput("sweep_minutes 应为正整数")


@dataclass
class _Queue:
    staff: int | None
    waiting: list = field(default_factory=list)       # heap of (due or far future, task id)
    busy: int = 0


@dataclass
class _Task:
    id: int
    key: tuple[str, str]
    user: str
    process: str
    element: str
    role: str
    org: str
    org_path: str
    version_id: int
    form_key: str | None


FAR = datetime.max.replace(tzinfo=None)
_SECOND = timedelta(seconds=1)


def _holds(environment, expression: str, context: dict) -> bool:
    try:
        return bool(environment.evaluate(expression, dict(context)))
    except Exception:                    # a condition on data the instance does not have yet
        return False


class Forecast:
    """One run of a plan against the source engine's region and deployed pathways."""

    def __init__(self, source, plan: Plan, progress=None):
        plan.check()
        self.source, self.plan, self.progress = source, plan, progress
        self.rng = random.Random(plan.seed)
        self.counts = defaultdict(int)
        self.queue_daily: list[tuple[date, dict]] = []
        self.errors: list[str] = []

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> dict:
        from .report import build_result
        started = time.perf_counter()
        self.setting: Setting = prepare(self.source, self.plan)
        sandbox = Sandbox(self.source.db, self.plan.into)
        try:
            self.sandbox = sandbox
            self._start_engine()
            self._loop()
            result = build_result(self, time.perf_counter() - started)
        finally:
            sandbox.close()
        return result

    def _start_engine(self) -> None:
        setting, plan = self.setting, self.plan
        branching = Branching(setting.odds, random.Random(self.rng.random()))
        zone = self.source.clock.tz
        self.begin = datetime.combine(plan.start, datetime.min.time(), zone)
        self.end = self.begin + timedelta(days=plan.days)
        self.sim = SimulationContext(self.source.settings, branching, now=self.begin, db=self.sandbox.db)
        self.generator = Generator(random.Random(self.rng.random()), self.begin)
        self.service_rng = random.Random(self.rng.random())
        self.queues: dict[tuple[str, str], _Queue] = {}
        self.tasks: dict[int, _Task] = {}
        self.validators: dict[tuple[int, str], FormValidator] = {}
        self.seen = 0                         # the largest task id already queued
        self.heap: list = []
        self.sequence = 0
        for moment, org in self._arrivals():
            self._push(moment, "arrive", org)
        day = self.begin
        while day < self.end:
            day += timedelta(days=1)
            self._push(day, "close", None)

    def _arrivals(self) -> list[tuple[datetime, str]]:
        """`cohort` moments spread at random over the period's working hours, each at a start unit."""
        calendar = self.sim.calendar()
        windows, total = [], 0.0
        day = self.plan.start
        for _ in range(self.plan.days):
            if calendar.is_workday(day):
                opening, closing = calendar.opening(day), calendar.closing(day)
                windows.append((total, opening))
                total += (closing - opening).total_seconds()
            day += timedelta(days=1)
        if not windows:
            raise InvalidInput(f"{self.plan.start} 起 {self.plan.days} 天内没有工作日，无人可以到达")
        units, weights = zip(*self.setting.start_units.items())
        moments = []
        offsets = sorted(self.rng.uniform(0, total) for _ in range(self.plan.cohort))
        index = 0
        for offset in offsets:
            while index + 1 < len(windows) and windows[index + 1][0] <= offset:
                index += 1
            base, opening = windows[index]
            moments.append(opening + timedelta(seconds=offset - base))
        chosen = self.rng.choices(units, weights=weights, k=len(moments))
        return list(zip(moments, chosen))

    def _push(self, moment: datetime, kind: str, payload) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (moment, self.sequence, kind, payload))

    def _loop(self) -> None:
        step = timedelta(minutes=self.plan.sweep_minutes)
        last_sweep: datetime | None = None
        due = next_due(self.sim)
        while self.heap:
            moment = self.heap[0][0]
            if moment > self.end:             # the last day's close (at the end) is counted
                break
            if due is not None:
                sweep_at = due if last_sweep is None else max(due, last_sweep + step)
                if sweep_at <= moment:
                    self._sweep(sweep_at)
                    last_sweep = sweep_at
                    due = next_due(self.sim)
                    continue
            moment, _, kind, payload = heapq.heappop(self.heap)
            getattr(self, f"_on_{kind}")(moment, payload)
            if kind in ("arrive", "finish"):      # a claim or a day's close moves no due moment
                due = next_due(self.sim)

    # --- what happens ------------------------------------------------------------------------------

    def _sweep(self, moment: datetime) -> None:
        self.counts["sweeps"] += 1
        if self.counts["sweeps"] > MAX_SWEEPS_PER_DAY * self.plan.days:
            raise InvalidInput(f"预测在 {moment.isoformat()} 扫描次数过多：路径中可能有失控的循环定时器")
        services.tick(self.sim.at(moment))
        self._collect(moment)

    def _on_arrive(self, moment: datetime, org: str) -> None:
        sim = self.sim.at(moment)
        self.counts["people"] += 1
        ref = f"SIM-{self.counts['people']:06d}"          # a person, as pathways correlate on one
        register_person(sim, ref, f"模拟对象 {self.counts['people']}", org)
        outcome = services.start_instance(sim, self.plan.pathway, org, {}, person=ref)
        self._note_outcome(outcome, "start")
        self._collect(moment)

    def _on_close(self, moment: datetime, _payload) -> None:
        """A day ends: each queue's length (waiting plus in hand) is counted."""
        lengths = {key: len(queue.waiting) + queue.busy for key, queue in self.queues.items()
                   if queue.waiting or queue.busy}
        self.queue_daily.append(((moment - timedelta(days=1)).date(), lengths))
        if self.progress is not None:
            self.progress.update(1)

    def _on_begin(self, moment: datetime, task: _Task) -> None:
        """Someone of the queue takes the task: claimed now, done after its handling time."""
        try:
            services.claim(self.sim.at(moment), task.id, task.user)
        except (TaskNotOpen, Conflict):       # the engine took it away meanwhile (a boundary timer)
            self.counts["withdrawn"] += 1
            self.tasks.pop(task.id, None)
            self._free(task.key, moment)
            return
        queue = self.setting.staffing.queue(task.role, task.org)
        hours = self.setting.staffing.handling(queue, task.process, task.element, task.role).draw(self.service_rng)
        calendar = self.sim.calendar(chain_of(task.org_path))
        self._push(calendar.add_workhours(moment, hours).at, "finish", task)

    def _on_finish(self, moment: datetime, task: _Task) -> None:
        sim = self.sim.at(moment)
        self.generator.now = sim.clock.now()
        data = self._submission(task)
        try:
            outcome = services.complete(sim, task.id, task.user, data)
        except FormInvalid as err:
            self._error(f"{task.process}/{task.element}: 生成的表单数据未通过校验：{err}")
        except (TaskNotOpen, Conflict):        # the engine took it away meanwhile
            self.counts["withdrawn"] += 1
        else:
            self.counts["completed"] += 1
            self._note_outcome(outcome, task.element)
        self.tasks.pop(task.id, None)
        self._free(task.key, moment)
        self._collect(moment)

    def _submission(self, task: _Task) -> dict:
        """Form data for the task. When the task leads straight to a gateway with odds, the way
        the gateway goes is drawn first and data drawn until the gateway's own conditions agree
        with it (up to AGREEING_TRIES), so the tasks after it see data that fits the branch (a
        "confirmed" diagnosis with its severity); the odds decide the branch either way."""
        validator = self._validator(task)
        fixed = {k: v for k, v in self.plan.fixed.items() if k in validator.variables}
        gateway_key = self._gateway_after(task)
        target = self.sim.branching.pick(*gateway_key) if gateway_key else None
        if target is None:
            return self.generator.submission(validator, fixed)
        gateway = self.setting.gateways[gateway_key]
        with self.sim.db.unit_of_work() as session:
            variables = repo.variables_of_task_instance(session, task.id)
        environment = self.sim.script_engine(task.org_path).environment
        for _ in range(AGREEING_TRIES):
            data = self.generator.submission(validator, fixed)
            try:
                context = {**variables, **validator.validate(data, context=variables)}
            except FormInvalid:
                continue
            if gateway.leads_to(lambda expression: _holds(environment, expression, context)) == target:
                break
        else:
            self.counts["forced"] += 1           # the odds decide against the data
        self.sim.branching.pin(*gateway_key, target)
        return data

    def _gateway_after(self, task: _Task) -> tuple[str, str] | None:
        found = self.setting.after.get((task.process, task.element))
        if found is None:                     # a task of a called pathway carries its caller's id
            found = next((g for (_, element), g in self.setting.after.items() if element == task.element), None)
        return found

    # --- queues ------------------------------------------------------------------------------------

    def _collect(self, moment: datetime) -> None:
        """Queue every task the engine created since the last look."""
        with self.sim.db.unit_of_work() as session:
            rows = repo.active_tasks_after(session, self.seen)
        touched = set()
        for (task_id, process, element, role, org, org_path, due, form_key, users, version_id) in rows:
            self.seen = max(self.seen, task_id)
            if role:
                key, user = (role, org), self.sandbox.worker(role, org)
            elif users:
                key, user = (f"user:{users[0]}", org), users[0]
            else:
                self._error(f"{process}/{element}: 任务既无角色也无候选人，无人可办")
                continue
            task = _Task(task_id, key, user, process, element, role or key[0], org, org_path, version_id, form_key)
            self.tasks[task_id] = task
            queue = self.queues.get(key)
            if queue is None:
                queue = self.queues[key] = _Queue(self.setting.staffing.queue(task.role, org).staff)
            heapq.heappush(queue.waiting, (due.replace(tzinfo=None) if due else FAR, task_id))
            touched.add(key)
        for key in sorted(touched):
            self._dispatch(key, moment)

    def _dispatch(self, key: tuple[str, str], moment: datetime) -> None:
        """Free staff of the queue take its earliest-due tasks, at the next working moment."""
        queue = self.queues[key]
        while queue.waiting and (queue.staff is None or queue.busy < queue.staff):
            _, task_id = heapq.heappop(queue.waiting)
            task = self.tasks.get(task_id)
            if task is None:
                continue
            queue.busy += 1
            self._push(self._working(task.org_path, moment), "begin", task)

    def _working(self, org_path: str, moment: datetime) -> datetime:
        """`moment` if it is in the unit's working hours, else the next opening."""
        calendar = self.sim.calendar(chain_of(org_path))
        return calendar.add_workhours(moment, _SECOND).at - _SECOND

    def _free(self, key: tuple[str, str], moment: datetime) -> None:
        self.queues[key].busy -= 1
        self._dispatch(key, moment)

    def _validator(self, task: _Task) -> FormValidator:
        key = (task.version_id, task.element)
        if key not in self.validators:
            from ..pathways import load_specs
            with self.sim.db.unit_of_work() as session:
                task_spec = None          # needed only for a task that declares its fields inline
                if not task.form_key:
                    spec, subprocess_specs = load_specs(self.sim, session, task.version_id)
                    for candidate in (spec, *subprocess_specs.values()):
                        task_spec = task_spec or candidate.task_specs.get(task.element)
                self.validators[key] = validator_for(self.sim, session, task.version_id, task.form_key, task_spec)
        return self.validators[key]

    def _note_outcome(self, outcome, where: str) -> None:
        if outcome.status == "error":
            self.counts["instance_errors"] += 1
            detail = (outcome.error or {}).get("message", "")
            self._error(f"实例 {outcome.instance}（{where}）出错：{detail}")

    def _error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)
        self.counts["errors"] += 1
