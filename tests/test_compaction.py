"""Long-lived instances stay small: completing a task costs the same after 200 rounds of a loop as
after 10, because each save drops the finished history nothing reads any more
(engine.bpmn.compaction), and what the pathway does, what people are offered and what the
instance diagram shows are the same as without it.

Fixtures: `visit_loop` (a weekly visit chased by a supervisor when a week late, then an
assessment and a review in parallel, a tally script, a called check, round again until stable)
and `followup_cycle` (calls repeated inside a sub-process, each waiting for the family's reply
message or three days at an event-based gateway). Clock: T0 = Monday 2 November 2026 09:00."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.bpmn import compaction
from engine.context import EngineContext
from engine.directory import load_directory
from engine.journeys import instance_diagram
from engine.migration import migrate_instances
from engine.pathways import deploy_files
from engine.runtime import instances, services
from engine.settings import Settings
from engine.store.models import Event, Instance

from conftest import BPMN, DATA, T0, task_by_element

TOWN = "510781001"                                   # 太平镇
HOLDER = {"visit": "doctor_a", "assess": "doctor_a", "check": "doctor_a", "call_family": "doctor_a",
          "review": "sun_sup", "chase": "sun_sup", "close": "sun_sup"}
SOURCES = [BPMN / "visit_loop.bpmn", BPMN / "followup_cycle.bpmn"]
V2_NAME = "每周随访（电话或上门）"
ENDLESS = 10_000                                     # rounds before the loop would end


class Walk:
    """One engine, its clock, and a record of everything a user or the scheduler would see after
    each step: the open tasks of every instance in play and each instance's status and data."""

    def __init__(self, ctx):
        self.ctx, self.now, self.instances, self.trace = ctx, T0, [], []

    def start(self, process: str, data: dict) -> int:
        instance = services.start_instance(self.ctx.at(self.now), process, TOWN, data).instance
        self.instances.append(instance)
        self.note("start", process)
        return instance

    def do(self, instance: int, element: str) -> None:
        self.now += timedelta(hours=1)
        task = task_by_element(services.list_tasks(self.ctx, instance_id=instance), element)
        services.complete(self.ctx.at(self.now), task["id"], HOLDER[element], {})
        self.note("do", element)

    def tick(self, **later) -> None:
        self.now += timedelta(**later)
        result = services.tick(self.ctx.at(self.now))
        self.note("tick", result["timers_fired"], result["messages_delivered"])

    def round(self, loop: int, order=("review", "assess")) -> None:
        for element in ("visit", *order, "check"):
            self.do(loop, element)

    def note(self, *step) -> None:
        self.trace.append((*step, self.seen()))

    def seen(self) -> dict:
        offered = {i: sorted((t["element"], t["name"], t["role"], t["org"], t["status"], t["due_at"])
                             for t in services.list_tasks(self.ctx, instance_id=i)) for i in self.instances}
        with self.ctx.db.unit_of_work() as session:
            rows = {i: (r.status, r.variables, r.wake_at) for i in self.instances
                    for r in [session.get(Instance, i)]}
        return {"offered": offered, "instances": rows}


def engine_at(path) -> EngineContext:
    engine = EngineContext(Settings(database_url=f"sqlite:///{path}"), now=T0)
    engine.db.create_schema()
    load_directory(engine.db, DATA / "directory.yaml")
    deploy_files(engine, SOURCES)
    return engine


def tree(ctx, instance: int) -> tuple[int, int, int]:
    """(state bytes, tasks in the whole tree, sub-processes) as saved."""
    with ctx.db.unit_of_work() as session:
        row, workflow = instances.load(ctx, session, instance)
        tasks = len(workflow.tasks) + sum(len(sub.tasks) for sub in workflow.subprocesses.values())
        return len(row.state), tasks, len(workflow.subprocesses)


def events(ctx) -> list[tuple]:
    with ctx.db.unit_of_work() as session:
        return [(e.kind, e.instance_id, e.task_id, e.actor, e.at, e.detail)
                for e in session.scalars(select(Event).order_by(Event.id))]


def v2_source(tmp_path):
    """visit_loop version 2: the visit is renamed, the assessment gets 2 working days."""
    text = SOURCES[0].read_text(encoding="utf-8")
    text = text.replace('name="每周随访"', f'name="{V2_NAME}"', 1)
    text = text.replace('<bpmn:userTask id="assess" name="病情评估"',
                        '<bpmn:userTask id="assess" name="病情评估" camunda:dueDate="${workdays(2)}"', 1)
    assert V2_NAME in text and "workdays(2)" in text
    folder = tmp_path / "v2"
    folder.mkdir(exist_ok=True)
    (folder / "visit_loop.bpmn").write_text(text, encoding="utf-8")
    return folder / "visit_loop.bpmn"


def scenario(ctx, tmp_path) -> dict:
    """Both pathways side by side: loop rounds, a call answered by the timer, a reply that says
    "not yet", visit reminders that end on their own, a visit a week late chased by the
    supervisor, a migration after five rounds, and both pathways to their end."""
    walk = Walk(ctx)
    loop = walk.start("visit_loop", {"rounds": 0, "target": 7})
    calls = walk.start("followup_cycle", {"ref": "F-1", "settled": False})
    walk.round(loop)
    walk.do(calls, "call_family")
    walk.tick(days=4)                         # no reply in three days: call again; a visit reminder
    walk.round(loop)
    walk.do(calls, "call_family")
    walk.start("family_reply", {"ref": "F-1", "settled": False})
    walk.tick(days=8)                         # the round-3 visit: a reminder, then a week late
    walk.do(loop, "chase")
    walk.round(loop)
    walk.round(loop)
    sizes = tree(ctx, loop)
    walk.do(loop, "visit")
    walk.do(loop, "review")                             # the assessment is still open
    middle = instance_diagram(ctx.at(walk.now), loop)
    walk.do(loop, "assess")
    walk.do(loop, "check")
    v2 = next(r for r in deploy_files(ctx, [v2_source(tmp_path)]) if r.process_id == "visit_loop")
    [moved] = migrate_instances(ctx, [loop], v2.version_id, "sun_sup", now=walk.now)
    walk.note("migrated", moved.outcome, moved.message,
              [(t["element"], t["state"], t["lands_on"]) for t in moved.plan.tokens])
    walk.round(loop)
    walk.round(loop)
    walk.do(calls, "call_family")
    walk.start("family_reply", {"ref": "F-1", "settled": True})
    walk.do(calls, "close")
    return {"trace": walk.trace, "events": events(ctx), "sizes": sizes, "middle": middle,
            "loop": instance_diagram(ctx.at(walk.now), loop), "calls": instance_diagram(ctx.at(walk.now), calls),
            "ids": (loop, calls)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The scenario run twice on fresh databases: with compaction, and without."""
    found = {}
    for name, enabled in (("on", True), ("off", False)):
        folder = tmp_path_factory.mktemp(f"compaction_{name}")
        ctx = engine_at(folder / "carepath.sqlite")
        compaction.ENABLED = enabled
        try:
            found[name] = scenario(ctx, folder)
        finally:
            compaction.ENABLED = True
            ctx.db.dispose()
    return found


# --- bounded ---------------------------------------------------------------------------------------

def test_two_hundred_rounds_keep_the_state_of_ten(ctx):
    deploy_files(ctx, SOURCES)
    walk = Walk(ctx)
    loop = walk.start("visit_loop", {"rounds": 0, "target": ENDLESS})
    sizes = {}
    for n in range(1, 201):
        for element in ("visit", "review", "assess", "check"):      # quick: no trace, one clock
            task = task_by_element(services.list_tasks(ctx, instance_id=loop), element)
            services.complete(ctx, task["id"], HOLDER[element], {})
        if n in (10, 200):
            sizes[n] = tree(ctx, loop)
    (bytes_10, tasks_10, subs_10), (bytes_200, tasks_200, subs_200) = sizes[10], sizes[200]
    assert tasks_200 == tasks_10 and subs_200 == subs_10 <= 1
    assert abs(bytes_200 - bytes_10) <= 64, sizes
    assert walk.seen()["instances"][loop][1]["rounds"] == 200
    diagram = instance_diagram(ctx, loop)
    counts = {e: diagram["elements"][e]["count"] for e in ("visit", "assess", "review", "join", "call_check")}
    assert counts == {"visit": 200, "assess": 200, "review": 200, "join": 200, "call_check": 200}
    assert diagram["elements_by_process"]["round_check"]["check"]["count"] == 200
    assert diagram["markers"]["active"] == ["visit", "visit_late", "visit_reminder"]


def test_without_compaction_the_tree_grows_every_round(ctx, monkeypatch):
    """The control: the same measure sees SpiffWorkflow's own tree grow round after round."""
    monkeypatch.setattr(compaction, "ENABLED", False)
    deploy_files(ctx, SOURCES)
    loop = services.start_instance(ctx, "visit_loop", TOWN, {"rounds": 0, "target": ENDLESS}).instance
    sizes = {}
    for n in range(1, 21):
        for element in ("visit", "review", "assess", "check"):
            task = task_by_element(services.list_tasks(ctx, instance_id=loop), element)
            services.complete(ctx, task["id"], HOLDER[element], {})
        if n in (10, 20):
            sizes[n] = tree(ctx, loop)
    assert sizes[20][1] - sizes[10][1] >= 10 * 15 and sizes[20][2] == 20


def test_a_loop_inside_a_sub_process_keeps_the_state_of_a_few_calls(ctx):
    deploy_files(ctx, SOURCES)
    walk = Walk(ctx)
    calls = walk.start("followup_cycle", {"ref": "F-9", "settled": False})
    sizes = {}
    for n in range(1, 41):
        walk.do(calls, "call_family")
        walk.tick(days=4)                                   # each call goes unanswered
        if n in (5, 40):
            sizes[n] = tree(ctx, calls)
    assert sizes[40][1:] == sizes[5][1:] and abs(sizes[40][0] - sizes[5][0]) <= 64, sizes
    assert [t["element"] for t in services.list_tasks(ctx, instance_id=calls)] == ["call_family"]
    elements = instance_diagram(ctx.at(walk.now), calls)["elements"]
    assert (elements["call_family"]["count"], elements["no_reply"]["count"]) == (40, 40)
    assert (elements["calls"]["state"], elements["call_family"]["state"]) == ("active", "active")


def test_an_instance_saved_before_compaction_is_compacted_at_its_next_save(ctx, monkeypatch):
    deploy_files(ctx, SOURCES)
    monkeypatch.setattr(compaction, "ENABLED", False)
    walk = Walk(ctx)
    loop = walk.start("visit_loop", {"rounds": 0, "target": 7})
    for n in range(1, 6):
        walk.round(loop)
    _, grown, _ = tree(ctx, loop)
    monkeypatch.setattr(compaction, "ENABLED", True)
    walk.round(loop)
    _, compacted, subprocesses = tree(ctx, loop)
    assert compacted < grown / 3 and subprocesses <= 1
    with ctx.db.unit_of_work() as session:        # once compacted, nothing more to remove
        _, workflow = instances.load(ctx, session, loop)
        assert compaction.compact(workflow) == 0
    walk.round(loop)
    status, variables, _ = walk.seen()["instances"][loop]
    assert (status, variables["rounds"], variables["assessed"]) == ("completed", 7, 7)
    assert instance_diagram(ctx, loop)["elements"]["visit"]["count"] == 7


def test_a_first_round_that_has_not_repeated_keeps_its_history(ctx):
    deploy_files(ctx, SOURCES)
    loop = services.start_instance(ctx, "visit_loop", TOWN, {"rounds": 0, "target": ENDLESS}).instance
    for element in ("visit", "review", "assess"):
        task = task_by_element(services.list_tasks(ctx, instance_id=loop), element)
        services.complete(ctx, task["id"], HOLDER[element], {})
    with ctx.db.unit_of_work() as session:
        _, workflow = instances.load(ctx, session, loop)
        passed = {t.task_spec.bpmn_id for t in workflow.get_tasks(state=compaction.REMOVABLE)}
        assert {"start", "merge_round", "visit", "fork", "review", "assess", "join", "tally"} <= passed
        assert compaction.compact(workflow) == 0 and compaction.history_of(workflow) == {}


# --- the same behaviour ----------------------------------------------------------------------------

def test_compaction_does_not_change_what_the_pathways_do(runs):
    on, off = runs["on"], runs["off"]
    assert on["trace"] == off["trace"]
    assert on["events"] == off["events"]
    # ... and the scenario did what it says, so the comparison covers it.
    loop, calls = on["ids"]
    steps = [step[:2] for step in on["trace"]]
    assert ("do", "chase") in steps and [s[1] for s in on["trace"] if s[0] == "tick"] == [2, 2]
    assert ("migrated", "migrated") in steps
    final = on["trace"][-1][-1]["instances"]
    assert final[loop][0] == final[calls][0] == "completed"
    assert (final[loop][1]["rounds"], final[loop][1]["assessed"]) == (7, 7) and "reviewed" in final[loop][1]
    assert final[calls][1]["settled"] is True
    # The reminders of rounds 2 and 3 ended on their own; the end join merged both at the end.
    assert final[loop][1]["reminders"] == {"round_2": True, "round_3": True}
    kinds = [(e[0], (e[5] or {}).get("element")) for e in on["events"] if e[1] == loop]
    assert ("timer_fired", "visit_late") in kinds and ("task_cancelled", "visit") in kinds
    assert [e[0] for e in on["events"] if e[1] == calls].count("message_delivered") == 2
    # With compaction the saved tree was a fraction of SpiffWorkflow's own.
    assert on["sizes"][1] * 2 < off["sizes"][1] and on["sizes"][2] < off["sizes"][2] == 4


def test_the_instance_diagram_is_the_same_with_and_without_compaction(runs):
    on, off = runs["on"], runs["off"]
    for view in ("middle", "loop", "calls"):
        assert on[view] == off[view], view
    middle = on["middle"]["elements"]
    assert {e: (middle[e]["state"], middle[e]["count"]) for e in ("visit", "visit_late", "chase", "review",
                                                                   "assess", "join", "call_check")} == {
        "visit": ("completed", 5), "visit_late": ("completed", 1), "chase": ("completed", 1),
        "review": ("completed", 5), "assess": ("active", 4), "join": ("active", 4), "call_check": ("completed", 4)}
    assert on["middle"]["elements_by_process"]["round_check"]["check"]["count"] == 4
    assert on["loop"]["markers"]["active"] == [] and on["loop"]["elements"]["end"]["count"] == 1
    calls = on["calls"]["elements"]
    assert {e: calls[e]["count"] for e in ("call_family", "no_reply", "reply", "close", "calls")} == {
        "call_family": 3, "no_reply": 1, "reply": 2, "close": 1, "calls": 1}


def test_a_compacted_instance_migrates_and_goes_on_on_the_new_version(runs):
    on = runs["on"]
    loop, _ = on["ids"]
    [migrated] = [step for step in on["trace"] if step[0] == "migrated"]
    assert migrated[2:4] == (None, [("visit", "READY", "visit"), ("visit_late", "WAITING", "visit_late"),
                                    ("visit_reminder", "WAITING", "visit_reminder")])
    assert migrated[4]["offered"][loop][0][:2] == ("visit", V2_NAME)     # the open task follows v2
    assessments = [step[-1]["offered"][loop] for step in on["trace"] if step[:2] == ("do", "visit")][-2:]
    assert [[t[5] is not None for t in offered if t[0] == "assess"] for offered in assessments] == [[True], [True]]
    assert on["loop"]["version"] == 2 and on["loop"]["elements"]["visit"]["name"] == V2_NAME


def test_both_branches_of_a_round_are_awaited_whatever_their_order(ctx, monkeypatch):
    deploy_files(ctx, SOURCES)
    walk = Walk(ctx)
    loop = walk.start("visit_loop", {"rounds": 0, "target": ENDLESS})
    for n, order in enumerate([("review", "assess"), ("assess", "review"), ("assess", "review"),
                               ("review", "assess")], start=1):
        walk.do(loop, "visit")
        walk.do(loop, order[0])
        assert [t["element"] for t in services.list_tasks(ctx, instance_id=loop)] == [order[1]], n
        walk.do(loop, order[1])
        walk.do(loop, "check")
    assert walk.seen()["instances"][loop][1]["rounds"] == 4
    # Without compaction SpiffWorkflow 3.2 counts the cancelled join token left by round 1's
    # review as an arrival in round 2 and offers the check before the review is done: the one
    # difference compaction makes, by removing tokens whose join has fired since.
    monkeypatch.setattr(compaction, "ENABLED", False)
    other = walk.start("visit_loop", {"rounds": 0, "target": ENDLESS})
    walk.round(other)
    walk.do(other, "visit")
    walk.do(other, "assess")
    assert sorted(t["element"] for t in services.list_tasks(ctx, instance_id=other)) == ["check", "review"]
