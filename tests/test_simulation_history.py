"""What a forecast reads from the history of real instances: a known history of school screenings
driven through the real services (ten screenings, three positive by their scores; two consults,
one late; one confirmed student through a month of school intervention that did not yet help and
one that did) gives back exactly its gateway odds, working-hour handling times on the unit's
calendar, where the screenings were started and how many tasks were done on time, whether or not
compaction has removed the loop's earlier rounds from the task tree. On the demo region the same
functions give plausible figures.

Clock: T0 = Monday 2026-11-02 09:00 Shanghai; working hours 09:00–18:00; November and December
2026 and early January 2027 have no holidays. `${workdays(N)}` deadlines end at 18:00 of the Nth
working day after the day the task appears."""
from __future__ import annotations

import json
import random
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine.bpmn import compaction
from engine.demo import load_demo
from engine.directory import LEVELS
from engine.errors import InvalidInput
from engine.forms.schema import FormValidator
from engine.runtime import instances, services
from engine.simulation.branching import Odds, exclusive_gateways
from engine.simulation.formdata import Generator
from engine.simulation import history
from engine.simulation.history import (
    branch_odds, handling_hours, observed_hours, observed_on_time, role_hours, start_level, start_units,
)
from engine.store.models import Event, Instance

from conftest import FORMS, PATHWAYS, SHANGHAI, deploy_pathways, task_by_element

PROCESS = "school_screening"
VILLAGE, TOWNSHIP = "510781001001", "510781001"           # 太平村, 太平镇
GATEWAYS = exclusive_gateways((PATHWAYS / f"{PROCESS}.bpmn").read_bytes())
BORN = "2012-09-01"                                         # 14 when the intervention ends: no employment step
POSITIVE = {"phq9_score": 15, "phq9_item9": 0, "student_birth_date": BORN}
NEGATIVE = {"phq9_score": 0, "phq9_item9": 0, "student_birth_date": BORN}


def at(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def nov(day: int, hour: int) -> datetime:
    return at(2026, 11, day, hour)


def _form(element: str) -> FormValidator:
    path = FORMS / PROCESS / f"{element}.form"
    return FormValidator.from_definition(json.loads(path.read_text(encoding="utf-8")))


class History:
    """Steps through the real services, each at its own moment; every submission is made by the
    simulation's form-data generator, with the values that decide the branches fixed."""

    def __init__(self, ctx):
        self.ctx, self.rng = ctx, random.Random(10)

    def start(self, moment: datetime, org: str = VILLAGE) -> int:
        return services.start_instance(self.ctx.at(moment), PROCESS, org, {}).instance

    def do(self, moment: datetime, username: str, instance: int, element: str, **fixed) -> None:
        ctx = self.ctx.at(moment)
        task = task_by_element(services.list_tasks(ctx, instance_id=instance), element)
        data = Generator(self.rng, moment).submission(_form(element), fixed)
        services.complete(ctx, task["id"], username, data)

    def tick(self, moment: datetime) -> None:
        assert services.tick(self.ctx.at(moment))["timers_fired"] == 1


def known_history(ctx) -> dict[str, int]:
    """Ten screenings at the village and two at the township, in the order they happened."""
    walk = History(ctx)
    monday = nov(2, 9)
    s = {n: walk.start(monday) for n in (*range(1, 9), 10)}
    township = [walk.start(monday, TOWNSHIP) for _ in range(2)]          # never screened
    for n in range(1, 9):                       # screened within the day: 1 … 8 working hours
        walk.do(nov(2, 9 + n), "teacher_wang", s[n], "screening", **(POSITIVE if n <= 2 else NEGATIVE))
    # Consults (due Wednesday 4 November 18:00): student 1 confirmed in time, student 2 not, late.
    walk.do(nov(3, 10), "expert_chen", s[1], "remote_consult", consult_result="confirmed", severity="mild")
    walk.do(nov(4, 10), "fdoc_zhou", s[1], "joint_plan_medical")
    walk.do(nov(4, 11), "psych_liu", s[1], "joint_plan_school")
    walk.do(nov(5, 10), "expert_chen", s[2], "remote_consult", consult_result="not_confirmed")
    walk.do(nov(5, 10), "psych_liu", s[1], "school_intervention")
    # Student 9 appears on Friday at 17:00 and is screened on Monday at 10:00: two working hours.
    s[9] = walk.start(nov(6, 17))
    walk.do(nov(9, 10), "teacher_wang", s[9], "screening", **POSITIVE)      # the consult stays open
    walk.do(nov(10, 10), "teacher_wang", s[10], "screening", **NEGATIVE)    # due Monday 9 November: late
    # Student 1's school intervention: a month that did not help, then a month that did.
    walk.tick(at(2026, 12, 5, 10))                                          # a Saturday
    walk.do(at(2026, 12, 7, 10), "psych_liu", s[1], "intervention_review", intervention_status="continue")
    walk.tick(at(2027, 1, 7, 10))
    walk.do(at(2027, 1, 8, 10), "psych_liu", s[1], "intervention_review", intervention_status="recovered")
    return {"looping": s[1], "township": township[0]}


def loop_history(ctx, instance: int) -> dict:
    """What compaction removed from the instance's task tree and counted in its history."""
    with ctx.db.unit_of_work() as session:
        _, workflow = instances.load(ctx, session, instance)
        return compaction.history_of(workflow).get(PROCESS, {})


def stored(ctx) -> tuple:
    """Every instance's saved state and lock version, and the number of events."""
    with ctx.db.unit_of_work() as session:
        return (session.execute(select(Instance.id, Instance.lock_version, Instance.state).order_by(Instance.id)).all(),
                session.scalar(select(func.count()).select_from(Event)))


def odds(**shares: float) -> Odds:
    return Odds(tuple(sorted(shares.items())))


@pytest.mark.parametrize("compacting", [True, False], ids=["compacted", "full-tree"])
def test_a_known_history_gives_back_its_odds_hours_starts_and_deadlines(region, monkeypatch, compacting):
    monkeypatch.setattr(compaction, "ENABLED", compacting)
    deploy_pathways(region, PROCESS)
    ids = known_history(region)
    before = stored(region)

    # The loop's first round left the tree when compacted (the second round is still read there).
    removed = loop_history(region, ids["looping"])
    if compacting:
        assert {e: removed[e]["completed"] for e in ("intervention_wait", "intervention_review",
                                                     "gw_intervention_recovered")} == {
            "intervention_wait": 1, "intervention_review": 1, "gw_intervention_recovered": 1}
    else:
        assert removed == {}

    found, passages = branch_odds(region, {PROCESS}, GATEWAYS)
    key = (PROCESS, "gw_screen_positive")
    assert found[key] == odds(end_negative=0.7, remote_consult=0.3) and passages[key] == 10
    assert found[(PROCESS, "gw_confirmed")] == odds(fork_joint_plan=0.5, followup_talk=0.5)
    assert found[(PROCESS, "gw_severity")] == odds(psychiatric_referral=0.0, school_intervention=1.0)
    assert found[(PROCESS, "gw_working_age")] == odds(employment_recommendation=0.0, merge_aftercare=1.0)
    # The approximation the docstring states: intervention_wait is also reached from
    # school_intervention, so one continue and one recovery read as 2 : 1 (from 2 passages).
    assert found[(PROCESS, "gw_intervention_recovered")] == odds(intervention_wait=2 / 3, merge_recovered=1 / 3)
    # The merges are exclusive gateways with one way out. merge_recovered was reached, but not
    # through gw_treatment_recovered, which never ran: that one is left out.
    assert found[(PROCESS, "merge_recovered")] == odds(prepare_aftercare=1.0)
    assert passages == {(PROCESS, "gw_screen_positive"): 10, (PROCESS, "gw_confirmed"): 2,
                        (PROCESS, "gw_severity"): 1, (PROCESS, "gw_intervention_recovered"): 2,
                        (PROCESS, "gw_working_age"): 1, (PROCESS, "merge_recovered"): 1,
                        (PROCESS, "merge_aftercare"): 1}
    assert set(found) == set(passages)
    assert branch_odds(region, {"diagnosis"}, GATEWAYS) == ({}, {})

    # Working hours on the unit's calendar: Mon 2 Nov 09:00 → Tue 10 Nov 10:00 is 9 + 4 × 9 + 9 + 1.
    hours = handling_hours(region, {PROCESS})
    assert hours == {
        (PROCESS, "screening"): [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 55.0],
        (PROCESS, "remote_consult"): [9.0, 26.0],           # Mon 10:00 → Tue 10:00; Mon 11:00 → Thu 10:00
        (PROCESS, "joint_plan_medical"): [9.0], (PROCESS, "joint_plan_school"): [10.0],
        (PROCESS, "school_intervention"): [8.0],
        (PROCESS, "intervention_review"): [1.0, 9.0],       # Sat 5 Dec 10:00 → Mon 7 Dec 10:00: one hour
    }
    assert role_hours(region, {PROCESS}) == {
        "education.teacher": hours[(PROCESS, "screening")],
        "health.mh_center_expert": [9.0, 26.0], "health.family_doctor": [9.0],
        "education.school_psychologist": [1.0, 8.0, 9.0, 10.0]}
    assert observed_hours(region, {PROCESS}) == (hours, role_hours(region, {PROCESS}))
    assert handling_hours(region, {"diagnosis"}) == {}

    assert start_units(region, PROCESS) == {VILLAGE: 10, TOWNSHIP: 2}
    assert start_level(region, PROCESS) == "village"
    assert (start_units(region, "diagnosis"), start_level(region, "diagnosis")) == ({}, None)

    # One screening (student 10) and one consult (student 2) were late; everything else in time.
    everything = observed_on_time(region, {PROCESS})
    assert {k: v for k, v in everything.items() if k != "by_stage"} == {
        "completed": 17, "completed_with_due": 17, "completed_on_time": 15, "on_time_rate": 15 / 17}
    assert everything["by_stage"] == {
        "screening": {"completed": 10, "completed_with_due": 10, "completed_on_time": 9, "on_time_rate": 0.9},
        "diagnosis": {"completed": 2, "completed_with_due": 2, "completed_on_time": 1, "on_time_rate": 0.5},
        "treatment": {"completed": 5, "completed_with_due": 5, "completed_on_time": 5, "on_time_rate": 1.0}}
    # [since, until): students 9 (Monday 9 November, in time) and 10 (Tuesday 10:00, late).
    week = observed_on_time(region, {PROCESS}, since=nov(9, 0), until=nov(10, 10))
    assert (week["completed"], week["completed_on_time"], list(week["by_stage"])) == (1, 1, ["screening"])
    later = observed_on_time(region, {PROCESS}, since=nov(9, 0), until=nov(10, 11))
    assert (later["completed"], later["completed_on_time"], later["on_time_rate"]) == (2, 1, 0.5)
    assert observed_on_time(region, {"diagnosis"}) == {
        "completed": 0, "completed_with_due": 0, "completed_on_time": 0, "on_time_rate": None, "by_stage": {}}

    # Read in pages of 3 rows, the figures are the same; and reading wrote nothing.
    monkeypatch.setattr(history, "BATCH", 3)
    assert branch_odds(region, {PROCESS}, GATEWAYS) == (found, passages)
    assert handling_hours(region, {PROCESS}) == hours
    assert stored(region) == before


def test_a_window_bound_must_be_an_aware_moment(region):
    with pytest.raises(InvalidInput, match="since"):
        observed_on_time(region, {PROCESS}, since=datetime(2026, 11, 2))


DEMO_NOW = datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)      # tests/test_demo.py's Friday


def test_the_demo_region_history_gives_plausible_figures(region):
    demo = region.at(DEMO_NOW)
    load_demo(demo, PATHWAYS)
    gateways = {}
    for path in PATHWAYS.glob("*.bpmn"):
        gateways.update(exclusive_gateways(path.read_bytes()))
    for process in ("school_screening", "diagnosis"):
        found, passages = branch_odds(demo, {process}, gateways)
        assert found and set(found) == set(passages), process
        for key, shares in found.items():
            assert key[0] == process and passages[key] >= 1
            assert abs(sum(p for _, p in shares.targets) - 1) < 1e-9
            assert {t for t, _ in shares.targets} == set(gateways[key].flows.values())
        hours, by_role = observed_hours(demo, {process})
        assert hours and by_role
        assert all(values == sorted(values) and values[0] >= 0 for values in hours.values())
        assert sum(map(len, hours.values())) >= sum(map(len, by_role.values()))
        units = start_units(demo, process)
        assert units and all(count >= 1 for count in units.values())
        assert start_level(demo, process) in LEVELS
        kept = observed_on_time(demo, {process})
        assert kept["completed"] >= kept["completed_with_due"] >= kept["completed_on_time"]
        assert kept["completed"] == sum(stage["completed"] for stage in kept["by_stage"].values()) > 0
    screening = branch_odds(demo, {"school_screening"}, gateways)[1]
    assert screening[("school_screening", "gw_screen_positive")] >= 2
    assert ("school_screening", "screening") in observed_hours(demo, {"school_screening"})[0]
