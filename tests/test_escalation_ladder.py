"""A missed deadline never goes unnoticed: over a simulated fortnight the three-level ladder
reminds the family doctors, then the county supervisor, then the city supervisor; ticks are
idempotent; supervisors work the queue; completing the task resolves it."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import InvalidInput, PermissionDenied
from engine.escalation import actions
from engine.pathways import deploy_files
from engine.runtime import services

from conftest import BPMN, SHANGHAI, T0, task_by_element

TOWNSHIP_A = "510781001"


def _overdue_follow_up(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    started = services.start_instance(ctx, "scored_referral", TOWNSHIP_A, {})
    after = services.complete(ctx, started.tasks[0]["id"], "doctor_a", {"phq9": 4})
    return task_by_element(after.tasks, "follow_up")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def test_three_levels_over_a_fortnight(ctx):
    follow = _overdue_follow_up(ctx)
    assert follow["due_at"] == at(4, 18)          # workdays(2) from Monday 09:00
    raised_at: dict[int, datetime] = {}
    moment = T0
    while moment <= T0 + timedelta(days=14):
        services.tick(ctx.at(moment))
        again = services.tick(ctx.at(moment))
        assert again["escalations_raised"] == 0           # idempotent at the same now
        for row in actions.list_escalations(ctx, status="all"):
            raised_at.setdefault(row["level"], moment)
        moment += timedelta(hours=3)
    queue = {r["level"]: r for r in actions.list_escalations(ctx, status="all")}
    assert sorted(queue) == [1, 2, 3]
    # First sweep at or after each step: due Wed 18:00, +1 working day Thu 18:00, +3 Mon 9th 18:00.
    assert raised_at == {1: at(4, 18), 2: at(5, 18), 3: at(9, 18)}
    assert (queue[1]["role"], queue[1]["org"]) == ("health.family_doctor", TOWNSHIP_A)
    assert (queue[2]["role"], queue[2]["org"]) == ("health.supervisor", "510781")
    assert (queue[3]["role"], queue[3]["org"]) == ("health.supervisor", "510700")
    assert all(r["task"] == follow["id"] and r["status"] == "open" for r in queue.values())

    county_queue = actions.list_escalations(ctx, org="510781")
    assert sorted(r["level"] for r in county_queue) == [1, 2]      # its unit and below
    city_queue = actions.list_escalations(ctx, org="510700")
    assert sorted(r["level"] for r in city_queue) == [1, 2, 3]

    from engine.notify import list_for_user
    with ctx.db.unit_of_work() as session:
        doctor = list_for_user(session, "doctor_a", 20, 0)
        county = list_for_user(session, "sun_sup", 20, 0)
        city = list_for_user(session, "city_sup", 20, 0)
    assert len(doctor) == 1 and len(county) == 1 and len(city) == 1
    assert "超过截止时间" in county[0]["body"]

    services.complete(ctx.at(at(10, 9)), follow["id"], "doctor_a", {})
    assert {r["status"] for r in actions.list_escalations(ctx, status="all")} == {"resolved"}
    assert actions.list_escalations(ctx) == []


def test_supervisor_acknowledges_reassigns_and_extends(ctx):
    follow = _overdue_follow_up(ctx)
    services.tick(ctx.at(at(5, 18)))
    level2 = [r for r in actions.list_escalations(ctx) if r["level"] == 2][0]

    with pytest.raises(PermissionDenied):
        actions.acknowledge(ctx, level2["id"], "doctor_a")
    acked = actions.acknowledge(ctx.at(at(6, 9)), level2["id"], "sun_sup", "已电话联系乡镇")
    assert (acked["status"], acked["acknowledged_by"], acked["note"]) == ("acknowledged", "sun_sup", "已电话联系乡镇")

    with pytest.raises(InvalidInput, match="原因"):
        actions.extend(ctx, follow["id"], "sun_sup", workdays=2, reason=" ")
    extended = actions.extend(ctx.at(at(6, 9)), follow["id"], "sun_sup", workdays=2, reason="家属外出，下周复诊")
    assert extended["due_at"] == at(6, 18)        # Wed 4th + 2 working days = Fri 6th, 18:00
    services.tick(ctx.at(at(10, 18)))
    assert [r["level"] for r in actions.list_escalations(ctx, status="all")] == [2, 1]   # nothing new yet
    services.tick(ctx.at(at(11, 18)))              # level 3: new due + 3 working days = Wed 11th
    assert sorted(r["level"] for r in actions.list_escalations(ctx, status="all")) == [1, 2, 3]

    moved = actions.reassign(ctx.at(at(12, 10)), follow["id"], "sun_sup", to_user="doctor_a", reason="指定主管医生")
    assert (moved["status"], moved["assignee"]) == ("claimed", "doctor_a")
    with pytest.raises(PermissionDenied, match="辖区"):
        actions.reassign(ctx, follow["id"], "sun_sup", to_org="510703001", reason="转到涪城区")
    across = actions.reassign(ctx.at(at(12, 11)), follow["id"], "city_sup", to_org="510703001", reason="患者迁居涪城区")
    assert (across["org"], across["status"], across["assignee"]) == ("510703001", "open", None)
    assert [t["id"] for t in services.tasks_for_user(ctx, "fc_doctor")] == [follow["id"]]
    assert services.tasks_for_user(ctx, "doctor_a") == []
    with pytest.raises(PermissionDenied):
        actions.extend(ctx, follow["id"], "doctor_a", workdays=1, reason="自己延期")

    from engine.runtime.queries import instance_detail
    kinds = [e["kind"] for e in instance_detail(ctx, follow["instance"])["events"]]
    for kind in ("escalation_acknowledged", "deadline_extended", "task_reassigned"):
        assert kind in kinds


def test_paused_sla_extends_deadline_and_holds_escalation(ctx):
    from engine.runtime import sla
    follow = _overdue_follow_up(ctx)
    with pytest.raises(InvalidInput, match="原因"):
        sla.pause(ctx, follow["id"], "doctor_a", "")
    paused = sla.pause(ctx.at(at(3, 10)), follow["id"], "doctor_a", "失联：电话无人接听")
    assert paused["paused"] is True
    assert services.tick(ctx.at(at(5, 18)))["escalations_raised"] == 0
    resumed = sla.resume(ctx.at(at(6, 10)), follow["id"], "doctor_a", "已联系上")
    # The pause touched Tue 3, Wed 4, Thu 5 and Fri 6: four working days later than Wed 4th.
    assert resumed["due_at"] == at(10, 18) and resumed["paused"] is False
    assert services.tick(ctx.at(at(10, 17)))["escalations_raised"] == 0
    assert services.tick(ctx.at(at(10, 18)))["escalations_raised"] == 1
    from engine.runtime.queries import instance_detail
    events = {e["kind"]: e for e in instance_detail(ctx, follow["instance"])["events"]}
    assert events["sla_paused"]["reason"] == "失联：电话无人接听"
    assert events["sla_resumed"]["new"] == at(10, 18).isoformat()
