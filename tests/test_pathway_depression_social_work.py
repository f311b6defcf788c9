"""Depression intervention with embedded medical social workers (DOMAIN pathway 4), walked as
its users would: before diagnosis the county hospital's medical social worker takes the case
and assesses needs; during diagnosis the psychiatrist confirms depression (PHQ-9) — if not, the
social worker links resources and closes; if so, supporter empowerment ("mental-health first
aid" for family and peers) runs in parallel with the treatment plan; after diagnosis the case is
handed to the community (township social worker within 3 working days, family doctor sets up
adherence follow-up); follow-ups 2 and 6 weeks after the hand-off record adherence and PHQ-9,
and worsening (PHQ-9 up by 5 or more, or self-harm ideation) goes back to the psychiatrist
within 1 working day; the social worker closes with an outcome record.

The person lives in 太平村 (太平镇, 江油市). Clock: T0 = Monday 2 November 2026, 09:00 Shanghai."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.errors import FormInvalid, PermissionDenied
from engine.escalation import actions
from engine.notify import list_for_user
from engine.people import register_person
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import SHANGHAI, deploy_pathways, task_by_element
from pathway_steps import do, ended_at, inbox_task, open_elements

PROCESS = "depression_social_work"
VILLAGE = "510781001001"      # 太平村: where the person lives and the instance starts
TOWNSHIP = "510781001"        # 太平镇: social worker, family doctor
COUNTY = "510781"             # 江油市: the county hospital (medical social worker, psychiatrist)
CITY = "510700"               # 绵阳市
MSW = "msw_chen"              # health.medical_social_worker @ 江油市
PSYCHIATRIST = "psychiatrist_zheng"   # health.psychiatrist @ 江油市
SOCIAL_WORKER = "sw_tang"     # civil.social_worker @ 太平镇
FAMILY_DOCTOR = "fdoc_zhou"   # health.family_doctor @ 太平镇
HEALTH_SUPERVISOR = "health_sup_jy"      # health.supervisor @ 江油市
CITY_SUPERVISOR = "health_sup_city"      # health.supervisor @ 绵阳市


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


INTAKE = {"referral_channel": "outpatient", "needs": ["emotional", "family_relation"],
          "living_situation": "with_family", "consent_share": "yes",
          "intake_notes": "失眠两月，情绪低落，愿意接受帮助"}
CONFIRMED = {"depression_confirmed": "yes", "phq9_score": 16, "severity": "moderately_severe",
             "diagnosis_notes": "抑郁发作，中重度"}
EMPOWERMENT = {"supporters": ["spouse", "peer"], "sessions": 3,
               "first_aid_topics": ["warning_signs", "listening", "crisis_help"],
               "empowerment_notes": "配偶和好友参加三次心理急救培训"}
TREATMENT = {"treatment_mode": "combined", "medication": "舍曲林 50mg qd", "revisit_weeks": 4,
             "plan_notes": "药物加认知行为治疗，关注睡眠"}
ACCEPT = {"accepted_date": "2026-11-09", "case_manager": "唐社工",
          "community_resources": ["peer_group"], "handoff_notes": "已入户建档"}
SETUP = {"followup_method": "home_visit", "contract_signed": "yes", "medicine_supply": "township_clinic",
         "setup_notes": "每两周入户一次"}
OUTCOME = {"adherence_outcome": "good", "relapse_outcome": "no", "rehospitalized": "no",
           "outcome_notes": "规律服药，情绪明显好转"}


def follow_up(week: str, phq9: int, self_harm: str = "no", adherence: str = "regular") -> dict:
    return {f"adherence_{week}": adherence, f"phq9_{week}": phq9, f"self_harm_{week}": self_harm,
            f"followup_notes_{week}": "入户随访"}


def psychiatric_review(week: str, day: str) -> dict:
    return {f"seen_date_{week}": day, f"review_action_{week}": "adjust_medication",
            f"review_notes_{week}": "舍曲林加量至 100mg"}


@pytest.fixture
def pathway(region):
    deploy_pathways(region, PROCESS)
    register_person(region, "YY-001", "王抑", VILLAGE, gender="男", birth_date="1985-03-12")
    return region


def start(ctx):
    return services.start_instance(ctx, PROCESS, VILLAGE, {}, person="YY-001")


def assert_task(task: dict, role: str, org: str, due: datetime) -> None:
    assert (task["role"], task["org"], task["status"], task["assignee"]) == (role, org, "open", None)
    assert task["due_at"] == due and task["due_provisional"] is False


def through_diagnosis(ctx, diagnosis: dict):
    """诊前 and 诊中: intake by the medical social worker, diagnosis by the psychiatrist."""
    started = start(ctx)
    intake = task_by_element(started.tasks, "intake_needs")
    # The county hospital's social workers (orgLevel county), 2 working days: Wed 4 Nov 18:00.
    assert_task(intake, "health.medical_social_worker", COUNTY, local(11, 4, 18))
    assert intake["form_key"] == "depression_social_work/intake_needs.form"
    assert [t["id"] for t in services.tasks_for_user(ctx, MSW)] == [intake["id"]]
    assert services.tasks_for_user(ctx, "msw_yu") == []          # 涪城区's hospital social worker
    after = services.complete(ctx.at(local(11, 2, 11)), intake["id"], MSW, INTAKE)
    diagnose = task_by_element(after.tasks, "diagnosis")
    assert_task(diagnose, "health.psychiatrist", COUNTY, local(11, 5, 18))     # 3 working days
    assert services.tasks_for_user(ctx.at(local(11, 2, 11)), "psychiatrist_bai") == []
    return started.instance, do(ctx, local(11, 3, 10), PSYCHIATRIST, "diagnosis", diagnosis)


def through_hand_off(ctx):
    """Confirmed → empowerment ∥ treatment plan → hand-off to 太平镇 ∥ family doctor set-up."""
    instance, after = through_diagnosis(ctx, CONFIRMED)
    assert sorted(t["element"] for t in after.tasks) == ["supporter_empowerment", "treatment_plan"]
    empower = task_by_element(after.tasks, "supporter_empowerment")
    assert_task(empower, "health.medical_social_worker", COUNTY, local(11, 17, 18))   # 10 working days
    treat = task_by_element(after.tasks, "treatment_plan")
    assert_task(treat, "health.psychiatrist", COUNTY, local(11, 5, 18))               # 2 working days

    after = do(ctx, local(11, 4, 10), PSYCHIATRIST, "treatment_plan", TREATMENT)
    assert [t["element"] for t in after.tasks] == ["supporter_empowerment"]   # the join waits
    after = do(ctx, local(11, 6, 10), MSW, "supporter_empowerment", EMPOWERMENT)

    # Hand-off from Friday 6 Nov 10:00: 3 working days → Wednesday 11 Nov 18:00, both at 太平镇.
    accept = task_by_element(after.tasks, "accept_handoff")
    assert_task(accept, "civil.social_worker", TOWNSHIP, local(11, 11, 18))
    setup = task_by_element(after.tasks, "setup_adherence")
    assert_task(setup, "health.family_doctor", TOWNSHIP, local(11, 11, 18))
    assert services.tasks_for_user(ctx.at(local(11, 6, 10)), "sw_pan") == []      # 中坝镇
    assert services.tasks_for_user(ctx.at(local(11, 6, 10)), "fdoc_deng") == []   # 中坝镇
    assert services.tasks_for_user(ctx.at(local(11, 6, 10)), MSW) == []
    assert inbox_task(ctx, local(11, 6, 10), SOCIAL_WORKER, "accept_handoff")["remaining"]["text"] \
        == "还剩 3 个工作日"
    do(ctx, local(11, 9, 10), SOCIAL_WORKER, "accept_handoff", ACCEPT)
    after = do(ctx, local(11, 10, 15), FAMILY_DOCTOR, "setup_adherence", SETUP)
    assert after.tasks == [] and after.status == "running"   # the follow-up clocks run from here
    return instance


def test_not_confirmed_the_social_worker_links_resources_and_closes(pathway):
    instance, after = through_diagnosis(pathway, {"depression_confirmed": "no", "phq9_score": 6,
                                                  "diagnosis_notes": "适应性反应，未达抑郁发作"})
    close = task_by_element(after.tasks, "close_with_resources")
    assert_task(close, "health.medical_social_worker", COUNTY, local(11, 5, 18))    # 2 working days
    assert [t["element"] for t in after.tasks] == ["close_with_resources"]
    done = do(pathway, local(11, 4, 9), MSW, "close_with_resources", {
        "resources_given": ["hotline", "counseling", "community_sw"], "close_notes": "一个月后门诊复查"})
    assert done.status == "completed" and done.tasks == []
    assert ended_at(pathway, instance) == ["end_not_confirmed"]


def test_worsening_at_two_weeks_returns_to_the_psychiatrist_late_review_escalates(pathway):
    instance = through_hand_off(pathway)

    # 2 weeks after the hand-off (Tue 10 Nov 15:00): Tue 24 Nov 15:00.
    assert services.tick(pathway.at(local(11, 24, 14, 59)))["timers_fired"] == 0
    assert open_elements(pathway, instance) == []
    fired = services.tick(pathway.at(local(11, 24, 15)))
    assert fired["timers_fired"] == 1 and fired["instances"] == [instance]
    first = inbox_task(pathway, local(11, 24, 15), FAMILY_DOCTOR, "followup_2w")
    assert_task(first, "health.family_doctor", TOWNSHIP, local(11, 27, 18))
    assert services.tasks_for_user(pathway.at(local(11, 24, 15)), "fdoc_deng") == []

    # PHQ-9 16 → 21: up by exactly 5 → worse. The psychiatrist has 1 working day: Thu 26 Nov.
    after = services.complete(pathway.at(local(11, 25, 10)), first["id"], FAMILY_DOCTOR,
                              follow_up("2w", 21, adherence="intermittent"))
    review = task_by_element(after.tasks, "review_2w")
    assert_task(review, "health.psychiatrist", COUNTY, local(11, 26, 18))
    assert services.tasks_for_user(pathway.at(local(11, 25, 10)), "psychiatrist_bai") == []

    # Missed. Level 1 at the deadline reminds the county's psychiatrists ...
    assert services.tick(pathway.at(local(11, 26, 17, 59)))["escalations_raised"] == 0
    assert services.tick(pathway.at(local(11, 26, 18)))["escalations_raised"] == 1
    # ... level 2 one working day later goes to the health supervisor of 江油市 ...
    assert services.tick(pathway.at(local(11, 27, 18)))["escalations_raised"] == 1
    # ... level 3 three working days after the deadline to the city's (Fri 27, Mon 30, Tue 1 Dec).
    assert services.tick(pathway.at(local(12, 1, 17, 59)))["escalations_raised"] == 0
    assert services.tick(pathway.at(local(12, 1, 18)))["escalations_raised"] == 1
    queue = {e["level"]: e for e in actions.list_escalations(pathway, org=CITY)}
    assert {level: (e["role"], e["org"], e["task"]) for level, e in queue.items()} == {
        1: ("health.psychiatrist", COUNTY, review["id"]),
        2: ("health.supervisor", COUNTY, review["id"]),
        3: ("health.supervisor", CITY, review["id"]),
    }
    assert sorted(e["level"] for e in actions.list_escalations(pathway, org=COUNTY)) == [1, 2]
    assert actions.list_escalations(pathway, org="510703") == []       # 涪城区
    with pathway.db.unit_of_work() as session:
        titles = {user: [n["title"] for n in list_for_user(session, user, 20, 0)]
                  for user in (PSYCHIATRIST, HEALTH_SUPERVISOR, CITY_SUPERVISOR)}
    assert titles == {PSYCHIATRIST: ["任务到期提醒"], HEALTH_SUPERVISOR: ["2 级督办：任务超期"],
                      CITY_SUPERVISOR: ["3 级督办：任务超期"]}

    # The county supervisor works the queue: the family doctor cannot, the supervisor can.
    with pytest.raises(PermissionDenied):
        actions.reassign(pathway, review["id"], FAMILY_DOCTOR, to_user=PSYCHIATRIST, reason="催办")
    actions.acknowledge(pathway.at(local(12, 2, 8, 30)), queue[2]["id"], HEALTH_SUPERVISOR, "已联系精神科")
    moved = actions.reassign(pathway.at(local(12, 2, 8, 40)), review["id"], HEALTH_SUPERVISOR,
                             to_user=PSYCHIATRIST, reason="指定郑华医生今日复诊")
    assert (moved["status"], moved["assignee"]) == ("claimed", PSYCHIATRIST)
    after = services.complete(pathway.at(local(12, 2, 9)), review["id"], PSYCHIATRIST,
                              psychiatric_review("2w", "2026-12-02"))
    assert after.tasks == []
    assert {e["status"] for e in actions.list_escalations(pathway, status="all")} == {"resolved"}

    # The 6-week follow-up keeps its date from the hand-off (Tue 22 Dec 15:00), late review or not.
    assert services.tick(pathway.at(local(12, 22, 14, 59)))["timers_fired"] == 0
    assert services.tick(pathway.at(local(12, 22, 15)))["timers_fired"] == 1
    second = inbox_task(pathway, local(12, 22, 15), FAMILY_DOCTOR, "followup_6w")
    assert_task(second, "health.family_doctor", TOWNSHIP, local(12, 25, 18))
    # PHQ-9 21 → 12: better, no self-harm → straight to the outcome record.
    after = services.complete(pathway.at(local(12, 23, 10)), second["id"], FAMILY_DOCTOR, follow_up("6w", 12))
    outcome = task_by_element(after.tasks, "outcome_record")
    assert_task(outcome, "health.medical_social_worker", COUNTY, local(12, 30, 18))
    done = do(pathway, local(12, 24, 10), MSW, "outcome_record", OUTCOME)
    assert done.status == "completed" and ended_at(pathway, instance) == ["end_outcome"]
    detail = instance_detail(pathway, instance)
    assert [t["element"] for t in detail["tasks"]].count("review_6w") == 0
    assert (detail["data"]["phq9_2w"], detail["data"]["phq9_6w"]) == (21, 12)


def test_self_harm_ideation_at_six_weeks_returns_to_the_psychiatrist(pathway):
    instance = through_hand_off(pathway)
    services.tick(pathway.at(local(11, 24, 15)))
    # PHQ-9 16 → 20: up by 4, no self-harm → stable; nothing until the 6-week timer.
    after = do(pathway, local(11, 24, 16), FAMILY_DOCTOR, "followup_2w", follow_up("2w", 20))
    assert after.tasks == [] and after.status == "running"
    assert services.tick(pathway.at(local(12, 21, 9)))["timers_fired"] == 0
    services.tick(pathway.at(local(12, 22, 15)))
    # PHQ-9 20 → 14 (better) but self-harm ideation → the psychiatrist within 1 working day.
    after = do(pathway, local(12, 22, 16), FAMILY_DOCTOR, "followup_6w", follow_up("6w", 14, self_harm="yes"))
    review = task_by_element(after.tasks, "review_6w")
    assert_task(review, "health.psychiatrist", COUNTY, local(12, 23, 18))
    after = do(pathway, local(12, 23, 9), PSYCHIATRIST, "review_6w", psychiatric_review("6w", "2026-12-23"))
    outcome = task_by_element(after.tasks, "outcome_record")
    assert_task(outcome, "health.medical_social_worker", COUNTY, local(12, 30, 18))
    done = do(pathway, local(12, 28, 10), MSW, "outcome_record",
              {**OUTCOME, "adherence_outcome": "partial", "relapse_outcome": "yes"})
    assert done.status == "completed" and ended_at(pathway, instance) == ["end_outcome"]
    elements = [t["element"] for t in instance_detail(pathway, instance)["tasks"]]
    assert elements.count("review_2w") == 0 and elements.count("review_6w") == 1


def test_a_follow_up_with_an_out_of_range_phq9_is_refused(pathway):
    instance = through_hand_off(pathway)
    services.tick(pathway.at(local(11, 24, 15)))
    first = inbox_task(pathway, local(11, 24, 15), FAMILY_DOCTOR, "followup_2w")
    with pytest.raises(FormInvalid) as refused:
        services.complete(pathway.at(local(11, 24, 16)), first["id"], FAMILY_DOCTOR, follow_up("2w", 28))
    assert "phq9_2w" in refused.value.fields
    assert open_elements(pathway, instance) == ["followup_2w"]

