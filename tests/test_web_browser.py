"""The web UI in a real browser (Debian's Chromium driven by Playwright), one journey through
school screening as its users live it, with the engine clock moved instead of waited on:

1. the class teacher signs in, opens the screening, types an out-of-range PHQ-9 score, sees the
   server's message under that field, corrects it and completes;
2. the city expert sees the referral (remote consult) with its working-day deadline;
3. time moves past the family doctor's joint-plan deadline; the county health supervisor sees the
   level-2 escalation, reassigns it and extends it with a reason; the dashboard shows the change.

Screenshots are saved in tests/artifacts/ (looked at when the test was written)."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.people import register_person
from engine.runtime import services

from conftest import SHANGHAI, deploy_pathways
from pathway_steps import do
from web import LiveServer, MovableClock, log_in, require_bundles, screenshot

VILLAGE = "510781001001"
CONSULT = {"consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作",
           "severity": "moderate", "expert_opinion": "视频会诊确认中度抑郁发作，建议家校医联合干预。"}


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def live(region):
    from webui import create_app
    require_bundles()
    deploy_pathways(region, "school_screening")
    at = region.at(nov(2, 9))
    register_person(at, "S-1", "张一", VILLAGE, gender="男", birth_date="2010-12-15")
    services.start_instance(at, "school_screening", VILLAGE,
                            {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02"},
                            person="S-1")
    clock = MovableClock(nov(2, 10))
    with LiveServer(create_app(region, now=clock.now)) as server:
        yield server, clock, region


def test_screening_referral_escalation_journey(live, new_page):
    server, clock, ctx = live

    # 1. The teacher: an invalid score is refused on the field, then a valid one completes.
    teacher = new_page(server.url)
    log_in(teacher, "teacher_wang")
    assert teacher.locator("[data-testid=total]").inner_text() == "共 1 项"
    row = teacher.locator("tr[data-task]")
    assert "还剩 5 个工作日" in row.inner_text() and "2026-11-09 18:00" in row.inner_text()
    row.get_by_role("link").click()
    teacher.wait_for_selector(".cp-form[data-ready=true]")
    assert "张一" in teacher.locator("[data-testid=person]").inner_text()
    teacher.get_by_label("PHQ-9 总分").fill("40")
    teacher.get_by_label("第 9 题得分", exact=False).fill("0")
    teacher.get_by_role("button", name="提交").click()
    teacher.wait_for_selector("[data-testid=form-errors]")
    teacher.wait_for_selector(".cp-form[data-ready=true]")
    score_field = teacher.locator(".fjs-form-field", has=teacher.get_by_label("PHQ-9 总分"))
    assert "27" in score_field.inner_text()                       # the server's message, on the field
    screenshot(teacher, "1-teacher-invalid-score")
    assert teacher.get_by_label("PHQ-9 总分").input_value() == "40"   # what they typed is kept
    teacher.get_by_label("PHQ-9 总分").fill("14")
    teacher.get_by_role("button", name="提交").click()
    teacher.wait_for_url("**/tasks")
    assert "任务已完成" in teacher.locator(".flash").inner_text()
    assert teacher.locator("[data-testid=total]").inner_text() == "共 0 项"
    assert teacher.js_errors == []

    # 2. The city expert sees the referral due in 2 working days (Wed 4 Nov 18:00).
    clock.set(nov(2, 11))
    expert = new_page(server.url)
    log_in(expert, "expert_chen")
    consult = expert.locator("tr[data-task]")
    assert consult.count() == 1
    assert "远程会诊" in consult.inner_text()
    assert "2026-11-04 18:00" in consult.inner_text() and "还剩 2 个工作日" in consult.inner_text()
    consult.get_by_role("link").click()
    expert.wait_for_selector(".cp-form[data-ready=true]")
    assert expert.locator("[data-testid=due]").inner_text().startswith("2026-11-04 18:00")
    screenshot(expert, "2-expert-referral")
    do(ctx, nov(3, 10), "expert_chen", "remote_consult", CONSULT)

    # 3. Time moves: the family doctor's joint plan (due Tue 10 Nov 18:00) is a working day late.
    for moment in (nov(10, 18), nov(11, 18)):
        services.tick(ctx.at(moment))
    clock.set(nov(12, 9))
    supervisor = new_page(server.url)
    log_in(supervisor, "health_sup_jy")
    supervisor.goto("/dashboard")
    supervisor.wait_for_selector("canvas.cp-chart[data-ready=true]")
    overdue_before = int(supervisor.locator("[data-testid=overdue]").inner_text())
    health = supervisor.locator("[data-testid=by-agency] tr[data-agency=health] td").nth(2)
    assert health.inner_text() == "1"                        # the family doctor's plan
    screenshot(supervisor, "3-dashboard-before")
    supervisor.goto("/escalations")
    row = supervisor.locator("tr[data-escalation]")
    assert row.count() == 1
    assert "2 级" in row.inner_text() and "联合干预方案（医疗部分）" in row.inner_text()
    assert "2026-11-10 18:00" in row.inner_text()
    screenshot(supervisor, "4-supervisor-queue")
    actions = supervisor.locator("tr.actions-row details")
    actions.locator("summary").click()
    reassign = actions.locator("form.reassign")
    reassign.locator("select[name=to_user]").select_option("fdoc_deng")
    reassign.locator("input[name=reason]").fill("周医生休假，改由邓医生")
    reassign.get_by_role("button", name="改派").click()
    assert "任务已改派" in supervisor.locator(".flash").inner_text()
    supervisor.locator("tr.actions-row details summary").click()
    extend = supervisor.locator("tr.actions-row form.extend")
    extend.locator("input[name=workdays]").fill("2")
    extend.locator("input[name=reason]").fill("家长要求延后面谈")
    extend.get_by_role("button", name="延期").click()
    assert "截止时间已延长" in supervisor.locator(".flash").inner_text()
    assert "2026-11-12 18:00" in supervisor.locator("tr[data-escalation]").inner_text()
    screenshot(supervisor, "5-supervisor-after-extend")
    [moved] = services.tasks_for_user(ctx.at(nov(12, 9)), "fdoc_deng")
    assert (moved["element"], moved["due_at"]) == ("joint_plan_medical", nov(12, 18))

    # The dashboard shows the change: the plan is no longer overdue.
    supervisor.goto("/dashboard")
    supervisor.wait_for_selector("canvas.cp-chart[data-ready=true]")
    assert int(supervisor.locator("[data-testid=overdue]").inner_text()) == overdue_before - 1
    assert health.inner_text() == "0"
    screenshot(supervisor, "6-dashboard-after")
    assert supervisor.js_errors == [] and expert.js_errors == []
