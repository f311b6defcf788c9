"""24 小时心理危机干预 (pathways/crisis_intervention.bpmn), walked as its users would:

the city's 24-hour hotline takes a call about someone in 太平村 and grades the risk within 30
minutes. High → the county crisis team must be on its way within 2 hours, night or weekend; if it
is not, a boundary timer takes the dispatch away and hands it to the county health supervisor as
紧急调度督办. After the on-site intervention the township mental-health doctor follows up at 1
day, 1 week and 1 month; a follow-up that finds high risk sends the team again and the series
starts over. Medium → the township doctor makes contact within 1 working day, then the series.
Low → the hotline gives resources and closes the call.

Clock: T0 = Monday 2026-11-02 09:00 Shanghai. Crisis deadlines are clock time (PT30M, PT2H…);
follow-ups by the township doctor are due within 1 working day (18:00).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine import people
from engine.errors import PermissionDenied, TaskNotOpen
from engine.escalation import actions
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import PATHWAYS, SHANGHAI, T0, deploy_pathways

PROCESS = "crisis_intervention"
CITY, COUNTY, TOWNSHIP, VILLAGE = "510700", "510781", "510781001", "510781001001"


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return local(2026, 11, day, hour, minute)


# --- form submissions (each valid for its form in forms/crisis_intervention/) ------------------

def intake(risk: str) -> dict:
    return {"caller_relation": "family", "crisis_event": "accident", "risk_level": risk,
            "suicide_plan": risk == "high", "location": "太平镇太平村 3 组", "callback_phone": "13800001234",
            "intake_summary": "家属来电：车祸后一周不吃不睡，反复说活着没意思。"}


RESOURCES = {"resources_given": ["hotline", "mh_clinic", "emergency"], "safety_plan_agreed": True,
             "close_note": "情绪已平复，告知可随时回拨。"}
DISPATCH = {"team_leader": "褚勇", "team_size": 3, "eta_minutes": 40}
SUPERVISION = {"supervision_action": "redispatch", "team_leader": "褚勇",
               "supervision_note": "值班队员手机未接通，已改派备班队员出发。"}
ONSITE = {"intervention_measures": ["safety_assessment", "first_aid", "family_support"],
          "risk_after_intervention": "medium", "onsite_notes": "现场评估后情绪缓和，家属 24 小时陪护。"}


def contact(risk: str) -> dict:
    return {"contact_mode": "phone", "current_risk": risk, "contact_notes": "电话联系本人，了解睡眠与情绪。"}


def followup(risk: str) -> dict:
    return {"contact_mode": "home_visit", "current_risk": risk, "followup_notes": "入户随访，复评自杀风险。"}


# --- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def crisis(region):
    deploy_pathways(region, PROCESS)
    return region


def start(ctx, moment: datetime, ref: str = "C-001") -> int:
    people.register_person(ctx, ref, "赵某", VILLAGE, gender="男", birth_date="1981-07-09")
    return services.start_instance(ctx.at(moment), PROCESS, VILLAGE, {}, actor="hotline_he", person=ref).instance


def inbox(ctx, moment: datetime, username: str) -> list[str]:
    return [t["element"] for t in services.tasks_for_user(ctx.at(moment), username)]


def the_task(ctx, moment: datetime, username: str, element: str) -> dict:
    found = [t for t in services.tasks_for_user(ctx.at(moment), username) if t["element"] == element]
    assert len(found) == 1, f"{username} should hold one {element!r}, has {inbox(ctx, moment, username)}"
    return found[0]


def complete(ctx, moment: datetime, username: str, element: str, data: dict) -> services.Outcome:
    task = the_task(ctx, moment, username, element)
    return services.complete(ctx.at(moment), task["id"], username, data)


def owner(task: dict) -> tuple:
    return task["role"], task["org"], task["candidate_roles"]


def elements(outcome: services.Outcome) -> list[str]:
    return sorted(t["element"] for t in outcome.tasks)


def history(ctx, instance: int) -> list[str]:
    return [t["element"] for t in services.list_tasks(ctx, instance_id=instance, status="all")]


def wait_for_timer(ctx, due: datetime, username: str, element: str) -> dict:
    """Nothing a minute before the timer; at it, one tick fires it and the task is in the inbox."""
    assert services.tick(ctx.at(due - timedelta(minutes=1)))["timers_fired"] == 0
    assert element not in inbox(ctx, due, username)
    assert services.tick(ctx.at(due))["timers_fired"] == 1
    return the_task(ctx, due, username, element)


def team_on_site(ctx, called: datetime, ref: str = "C-001") -> int:
    """A high-risk call at `called`: graded 10 min later, team out 30 min later, on-site record
    3 hours after the call (so the follow-ups fall at called + 3 h + 1 day / 7 days / 30 days)."""
    instance = start(ctx, called, ref)
    complete(ctx, called + timedelta(minutes=10), "hotline_he", "hotline_intake", intake("high"))
    complete(ctx, called + timedelta(minutes=40), "crisis_chu", "crisis_dispatch", DISPATCH)
    complete(ctx, called + timedelta(hours=3), "crisis_chu", "onsite_intervention", ONSITE)
    return instance


# --- the walks ---------------------------------------------------------------------------------

def test_high_risk_call_team_out_within_two_hours_then_follow_ups_at_one_day_one_week_one_month(crisis):
    instance = start(crisis, T0)
    call = the_task(crisis, T0, "hotline_he", "hotline_intake")
    assert owner(call) == ("health.hotline_counselor", CITY, ["health.hotline_counselor"])
    assert (call["due_at"], call["due_source"]) == (nov(2, 9, 30), "clock")      # PT30M
    assert inbox(crisis, T0, "crisis_chu") == []

    after = complete(crisis, nov(2, 9, 10), "hotline_he", "hotline_intake", intake("high"))
    dispatch = after.tasks[0]
    assert elements(after) == ["crisis_dispatch"]
    assert owner(dispatch) == ("health.crisis_team", COUNTY, ["health.crisis_team"])
    assert dispatch["due_at"] == nov(2, 11, 10)                                  # PT2H
    assert inbox(crisis, nov(2, 9, 10), "crisis_chu") == ["crisis_dispatch"]
    assert instance_detail(crisis, instance)["wake_at"] == nov(2, 11, 10)       # the boundary timer

    after = complete(crisis, nov(2, 9, 40), "crisis_chu", "crisis_dispatch", DISPATCH)
    onsite = after.tasks[0]
    assert elements(after) == ["onsite_intervention"]
    assert owner(onsite) == ("health.crisis_team", COUNTY, ["health.crisis_team"])
    assert onsite["due_at"] == nov(3, 9, 40)                                     # PT24H
    assert services.tick(crisis.at(nov(2, 11, 10)))["timers_fired"] == 0        # timer left with the task
    assert inbox(crisis, nov(2, 11, 10), "health_sup_jy") == []

    after = complete(crisis, nov(2, 12), "crisis_chu", "onsite_intervention", ONSITE)
    assert after.tasks == []
    data = instance_detail(crisis, instance)["data"]
    assert [datetime.fromisoformat(data[k]) for k in ("followup_day_at", "followup_week_at", "followup_month_at")] \
        == [nov(3, 12), nov(9, 12), local(2026, 12, 2, 12)]

    day = wait_for_timer(crisis, nov(3, 12), "mhdoc_qian", "followup_day")
    assert owner(day) == ("health.township_mh_doctor", VILLAGE, ["health.township_mh_doctor"])
    assert day["due_at"] == nov(4, 18)                                           # 1 working day
    assert inbox(crisis, nov(3, 12), "mhdoc_sun") == [] and inbox(crisis, nov(3, 12), "mhdoc_ye") == []
    complete(crisis, nov(3, 15), "mhdoc_qian", "followup_day", followup("low"))

    week = wait_for_timer(crisis, nov(9, 12), "mhdoc_qian", "followup_week")
    assert week["due_at"] == nov(10, 18)
    complete(crisis, nov(10, 9), "mhdoc_qian", "followup_week", followup("medium"))

    month = wait_for_timer(crisis, local(2026, 12, 2, 12), "mhdoc_qian", "followup_month")
    assert month["due_at"] == local(2026, 12, 3, 18)
    done = complete(crisis, local(2026, 12, 3, 10), "mhdoc_qian", "followup_month", followup("low"))
    assert done.status == "completed"
    assert history(crisis, instance) == ["hotline_intake", "crisis_dispatch", "onsite_intervention",
                                         "followup_day", "followup_week", "followup_month"]
    assert actions.list_escalations(crisis, status="all") == []                 # everything on time


@pytest.mark.parametrize("relapse", ["followup_day", "followup_week", "followup_month"])
def test_high_risk_at_a_follow_up_sends_the_team_again_and_restarts_the_series(crisis, relapse):
    instance = team_on_site(crisis, T0)                        # on site Mon 2, 12:00
    series = [("followup_day", nov(3, 12)), ("followup_week", nov(9, 12)),
              ("followup_month", local(2026, 12, 2, 12))]
    for element, appears in series:
        wait_for_timer(crisis, appears, "mhdoc_qian", element)
        if element != relapse:
            complete(crisis, appears + timedelta(hours=1), "mhdoc_qian", element, followup("low"))
            continue
        reported = appears + timedelta(hours=1)
        after = complete(crisis, reported, "mhdoc_qian", element, followup("high"))
        dispatch = after.tasks[0]
        assert elements(after) == ["crisis_dispatch"]
        assert owner(dispatch) == ("health.crisis_team", COUNTY, ["health.crisis_team"])
        assert dispatch["due_at"] == reported + timedelta(hours=2)
        break
    complete(crisis, reported + timedelta(minutes=30), "crisis_chu", "crisis_dispatch", DISPATCH)
    intervened = reported + timedelta(hours=2)
    after = complete(crisis, intervened, "crisis_chu", "onsite_intervention", ONSITE)
    assert after.tasks == []

    # The series starts over from the new intervention: 1 day, then 7 days after it.
    wait_for_timer(crisis, intervened + timedelta(days=1), "mhdoc_qian", "followup_day")
    complete(crisis, intervened + timedelta(days=1, hours=1), "mhdoc_qian", "followup_day", followup("low"))
    wait_for_timer(crisis, intervened + timedelta(days=7), "mhdoc_qian", "followup_week")
    before = [e for e, _ in series][:[e for e, _ in series].index(relapse) + 1]
    assert history(crisis, instance) == ["hotline_intake", "crisis_dispatch", "onsite_intervention", *before,
                                         "crisis_dispatch", "onsite_intervention", "followup_day", "followup_week"]


@pytest.mark.parametrize("found", ["low", "high"])
def test_medium_risk_township_doctor_makes_contact_within_one_working_day(crisis, found):
    instance = start(crisis, T0)
    after = complete(crisis, nov(2, 9, 10), "hotline_he", "hotline_intake", intake("medium"))
    reach = after.tasks[0]
    assert elements(after) == ["township_contact"]
    assert owner(reach) == ("health.township_mh_doctor", VILLAGE, ["health.township_mh_doctor"])
    assert (reach["due_at"], reach["due_source"]) == (nov(3, 18), "official:chinese_calendar")
    assert inbox(crisis, nov(2, 9, 10), "crisis_chu") == [] and inbox(crisis, nov(2, 9, 10), "mhdoc_sun") == []

    after = complete(crisis, nov(3, 10), "mhdoc_qian", "township_contact", contact(found))
    if found == "high":                                        # the doctor finds it worse: team out
        assert elements(after) == ["crisis_dispatch"]
        assert after.tasks[0]["due_at"] == nov(3, 12)
        assert inbox(crisis, nov(3, 10), "crisis_chu") == ["crisis_dispatch"]
        return
    assert after.tasks == []
    day = wait_for_timer(crisis, nov(4, 10), "mhdoc_qian", "followup_day")      # 1 day after contact
    assert day["due_at"] == nov(5, 18)
    assert history(crisis, instance) == ["hotline_intake", "township_contact", "followup_day"]


def test_low_risk_hotline_gives_resources_and_closes(crisis):
    instance = start(crisis, T0)
    after = complete(crisis, nov(2, 9, 10), "hotline_he", "hotline_intake", intake("low"))
    close = after.tasks[0]
    assert elements(after) == ["give_resources"]
    assert owner(close) == ("health.hotline_counselor", CITY, ["health.hotline_counselor"])
    assert close["due_at"] == nov(2, 10, 10)                                     # PT1H
    done = complete(crisis, nov(2, 9, 25), "hotline_he", "give_resources", RESOURCES)
    assert (done.status, done.tasks) == ("completed", [])
    assert instance_detail(crisis, instance)["data"]["resources_given"] == ["hotline", "mh_clinic", "emergency"]
    assert services.tick(crisis.at(nov(3, 9, 25)))["timers_fired"] == 0
    assert history(crisis, instance) == ["hotline_intake", "give_resources"]


def test_saturday_night_dispatch_not_taken_in_two_hours_goes_to_the_county_supervisor(crisis):
    saturday_night = local(2026, 11, 7, 23)
    instance = start(crisis, saturday_night)
    assert the_task(crisis, saturday_night, "hotline_he", "hotline_intake")["due_at"] == local(2026, 11, 7, 23, 30)
    after = complete(crisis, local(2026, 11, 7, 23, 20), "hotline_he", "hotline_intake", intake("high"))
    dispatch = after.tasks[0]
    assert dispatch["due_at"] == local(2026, 11, 8, 1, 20)    # Sunday 01:20: hours, not working days

    assert services.tick(crisis.at(local(2026, 11, 8, 1, 19)))["timers_fired"] == 0
    fired = services.tick(crisis.at(local(2026, 11, 8, 1, 20)))
    assert (fired["timers_fired"], fired["instances"]) == (1, [instance])
    assert fired["escalations_raised"] == 0                    # the pathway changed course instead
    assert inbox(crisis, local(2026, 11, 8, 1, 20), "crisis_chu") == []
    with pytest.raises(TaskNotOpen, match="取消"):
        services.complete(crisis.at(local(2026, 11, 8, 1, 25)), dispatch["id"], "crisis_chu", DISPATCH)

    urgent = the_task(crisis, local(2026, 11, 8, 1, 20), "health_sup_jy", "dispatch_supervision")
    assert (urgent["name"], *owner(urgent)) == ("紧急调度督办", "health.supervisor", COUNTY, ["health.supervisor"])
    assert urgent["due_at"] == local(2026, 11, 8, 2, 20)       # PT1H
    assert inbox(crisis, local(2026, 11, 8, 1, 20), "health_sup_fc") == []       # 涪城区's supervisor
    assert inbox(crisis, local(2026, 11, 8, 1, 20), "health_sup_city") == ["dispatch_supervision"]  # above
    assert {(t["element"], t["status"]) for t in services.list_tasks(crisis, instance_id=instance, status="all")} \
        == {("hotline_intake", "completed"), ("crisis_dispatch", "cancelled"), ("dispatch_supervision", "open")}

    after = complete(crisis, local(2026, 11, 8, 1, 35), "health_sup_jy", "dispatch_supervision", SUPERVISION)
    onsite = after.tasks[0]
    assert elements(after) == ["onsite_intervention"]
    assert (onsite["role"], onsite["org"], onsite["due_at"]) == ("health.crisis_team", COUNTY, local(2026, 11, 9, 1, 35))
    complete(crisis, local(2026, 11, 8, 3), "crisis_chu", "onsite_intervention", ONSITE)
    day = wait_for_timer(crisis, local(2026, 11, 9, 3), "mhdoc_qian", "followup_day")   # Monday 03:00
    assert day["due_at"] == nov(10, 18)
    assert actions.list_escalations(crisis, status="all") == []


def test_overdue_follow_up_reminds_the_doctor_then_the_county_health_supervisor(crisis):
    instance = team_on_site(crisis, T0)
    day = wait_for_timer(crisis, nov(3, 12), "mhdoc_qian", "followup_day")
    assert day["due_at"] == nov(4, 18)

    def tick(moment):
        return services.tick(crisis.at(moment))["escalations_raised"]

    assert tick(nov(4, 17, 59)) == 0
    assert tick(nov(4, 18)) == 1
    assert tick(nov(5, 17, 59)) == 0
    assert tick(nov(5, 18)) == 1
    queue = {e["level"]: e for e in actions.list_escalations(crisis)}
    assert {level: (e["role"], e["org"], e["raised_at"]) for level, e in queue.items()} == {
        1: ("health.township_mh_doctor", VILLAGE, nov(4, 18)),
        2: ("health.supervisor", COUNTY, nov(5, 18)),          # nearest health supervisor: 江油市
    }
    raised = {e["level"]: e["recipients"] for e in instance_detail(crisis, instance)["events"]
              if e["kind"] == "escalation_raised"}
    assert raised == {1: ["mhdoc_qian"], 2: ["health_sup_jy"]}
    assert sorted(e["level"] for e in actions.list_escalations(crisis, org=COUNTY)) == [1, 2]
    assert actions.list_escalations(crisis, org="510703") == []                  # 涪城区

    with pytest.raises(PermissionDenied):
        actions.acknowledge(crisis, queue[2]["id"], "health_sup_fc")
    actions.acknowledge(crisis.at(nov(6, 9)), queue[2]["id"], "health_sup_jy", "已督促精防医生今日随访")
    late = complete(crisis, nov(6, 11), "mhdoc_qian", "followup_day", followup("low"))
    assert late.tasks == []                                    # on to the one-week follow-up
    assert {e["status"] for e in actions.list_escalations(crisis, status="all")} == {"resolved"}
    completed = [e for e in instance_detail(crisis, instance)["events"]
                 if e["kind"] == "task_completed" and e["element"] == "followup_day"]
    assert completed[0]["on_time"] is False


def test_unanswered_hotline_call_climbs_the_urgent_ladder_in_hours_on_a_sunday(crisis):
    """The intake carries escalation=urgent: the counsellors at 30 minutes, the city's health
    supervisor an hour later, the province four hours after the deadline — on a Sunday night."""
    called = local(2026, 11, 8, 22, 0)                       # Sunday
    instance = start(crisis, called, "C-009")
    due = called + timedelta(minutes=30)
    assert the_task(crisis, called, "hotline_he", "hotline_intake")["due_at"] == due

    def tick(moment):
        return services.tick(crisis.at(moment))["escalations_raised"]

    assert tick(due - timedelta(minutes=1)) == 0
    assert tick(due) == 1
    assert tick(due + timedelta(minutes=59)) == 0
    assert tick(due + timedelta(hours=1)) == 1
    assert tick(due + timedelta(hours=4)) == 1
    queue = {e["level"]: e for e in actions.list_escalations(crisis)}
    assert {level: (e["role"], e["org"], e["raised_at"]) for level, e in queue.items()} == {
        1: ("health.hotline_counselor", CITY, due),
        2: ("health.supervisor", CITY, due + timedelta(hours=1)),
        3: ("health.supervisor", "510000", due + timedelta(hours=4)),
    }
    raised = {e["level"]: e["recipients"] for e in instance_detail(crisis, instance)["events"]
              if e["kind"] == "escalation_raised"}
    assert raised == {1: ["hotline_he"], 2: ["health_sup_city"], 3: ["health_sup_prov"]}


def test_an_invalid_risk_level_is_refused_naming_the_field(crisis):
    from engine.errors import FormInvalid   # arrives with server-side form validation

    start(crisis, T0)
    call = the_task(crisis, T0, "hotline_he", "hotline_intake")
    with pytest.raises(FormInvalid) as refused:
        services.complete(crisis, call["id"], "hotline_he", intake("extreme"))    # not 高/中/低
    assert "risk_level" in refused.value.fields
    assert inbox(crisis, T0, "hotline_he") == ["hotline_intake"]
    assert inbox(crisis, T0, "crisis_chu") == []


# --- the files themselves ----------------------------------------------------------------------

BPMN_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}


def test_the_dispatch_alone_carries_an_interrupting_timer():
    """Conventions common to the library are checked in test_pathway_library; this pathway's own
    shape: the one boundary timer interrupts the dispatch."""
    from lxml import etree

    process = etree.parse(str(PATHWAYS / f"{PROCESS}.bpmn")).find("bpmn:process", BPMN_NS)
    boundary = process.findall("bpmn:boundaryEvent", BPMN_NS)
    assert [(b.get("attachedToRef"), b.get("cancelActivity")) for b in boundary] == [("crisis_dispatch", "true")]
