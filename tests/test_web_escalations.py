"""The supervisors' escalation queue through the real app: a family doctor's joint plan left
undone climbs to the county health supervisor, who sees it (the neighbouring county does not) and
works it from the page — acknowledge, note, reassign, extend with a reason, pause and resume."""
from __future__ import annotations

import re
from datetime import datetime


from engine.escalation import actions
from engine.runtime import services

from conftest import SHANGHAI
from web import WebClient, text_of

COUNTY = "510781"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def signed_in(app, username):
    client = WebClient(app)
    client.login(username)
    return client


def rows(response) -> list[tuple[str, str]]:
    return re.findall(r'data-escalation="(\d+)" data-task="(\d+)"', response.get_data(as_text=True))


def test_the_county_supervisor_sees_level_2_and_the_other_county_nothing(overdue):
    app, ctx, plan, *_ = overdue
    supervisor = signed_in(app, "health_sup_jy")
    page = supervisor.get("/escalations")
    text = text_of(page)
    assert page.status_code == 200
    [(escalation, task)] = rows(page)
    assert int(task) == plan["id"]
    assert "2 级" in text and "联合干预方案（医疗部分）" in text
    assert "张一" in text and "2026-11-10 18:00" in text and "2026-11-11 18:00" in text
    assert "15 小时前" in text                                    # raised Wed 18:00, now Thu 09:00
    assert rows(signed_in(app, "health_sup_fc").get("/escalations")) == []     # 涪城区
    assert rows(supervisor.get("/escalations?level=1")) == []                   # level 1 is the doctors'
    assert rows(supervisor.get("/escalations?agency=civil")) == []
    # A family doctor has no supervisor's queue in the navigation; POSTing is refused.
    doctor = signed_in(app, "fdoc_zhou")
    assert "督办" not in text_of(doctor.get("/tasks")).split("我的待办")[0]
    refused = doctor.post(f"/escalations/{escalation}", {"action": "acknowledge", "task": task})
    assert refused.status_code == 403


def test_the_supervisor_works_the_escalation_from_the_page(overdue):
    app, ctx, plan, *_ = overdue
    supervisor = signed_in(app, "health_sup_jy")
    [(escalation, task)] = rows(supervisor.get("/escalations"))
    acknowledged = supervisor.post(f"/escalations/{escalation}", {"action": "acknowledge", "task": task,
                                                                  "reason": "已电话督促"})
    assert acknowledged.status_code == 302
    page = text_of(supervisor.get("/escalations"))
    assert "已确认督办" in page and "已确认" in page and "已电话督促" in page

    # Reassigning needs a reason; then 邓医生 (中坝镇) has it, 周医生 no longer.
    no_reason = supervisor.post(f"/escalations/{escalation}", {"action": "reassign", "task": task,
                                                               "to_user": "fdoc_deng"})
    assert no_reason.status_code == 400 and "原因" in text_of(no_reason)
    supervisor.post(f"/escalations/{escalation}", {"action": "reassign", "task": task, "to_user": "fdoc_deng",
                                                   "reason": "周医生休假，改由邓医生"})
    assert [t["element"] for t in services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_deng")] == ["joint_plan_medical"]
    assert services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_zhou") == []

    # Extend by 2 working days with a reason: Tue 10 Nov 18:00 → Thu 12 Nov 18:00.
    supervisor.post(f"/escalations/{escalation}", {"action": "extend", "task": task, "workdays": "2",
                                                   "reason": "家长要求延后面谈"})
    [moved] = services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_deng")
    assert moved["due_at"] == nov(12, 18)
    assert "2026-11-12 18:00" in text_of(supervisor.get("/escalations"))

    # Pause the SLA (person unreachable), then resume.
    supervisor.post(f"/escalations/{escalation}", {"action": "pause", "task": task, "reason": "家属失联"})
    assert "计时暂停" in text_of(supervisor.get("/escalations"))
    supervisor.post(f"/escalations/{escalation}", {"action": "resume", "task": task})
    assert "计时暂停" not in text_of(supervisor.get("/escalations"))
    kinds = [e["kind"] for e in services_events(ctx, plan["instance"])]
    assert {"escalation_acknowledged", "task_reassigned", "deadline_extended", "sla_paused", "sla_resumed"} <= set(kinds)


def services_events(ctx, instance):
    from engine.runtime.queries import instance_detail
    return instance_detail(ctx, instance)["events"]


def test_the_queue_is_scoped_to_who_works_it(overdue):
    app, ctx, plan, *_ = overdue
    city = signed_in(app, "health_sup_city")            # above the county: sees the county's queue
    assert [int(t) for _, t in rows(city.get("/escalations"))] == [plan["id"]]
    assert rows(city.get(f"/escalations?org={COUNTY}")) and not rows(city.get("/escalations?org=510703"))
    resolved = signed_in(app, "health_sup_jy").get("/escalations?status=resolved")
    assert rows(resolved) == []
    assert actions.list_escalations(ctx, org=COUNTY)
