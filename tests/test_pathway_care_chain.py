"""The whole chain for one person as one top-level pathway (DOMAIN "the chain every pathway belongs
to", pathway 8 "care team of four"), walked as its users would: the village doctor's prevention
contact and PHQ-9 screen → a positive screen is referred by the township family doctor within two
working days → the `diagnosis` pathway is CALLED (its county psychiatrist tasks run inside this
instance) → a severe or long-term diagnosis CALLS `community_rehab` → the township social worker
forms the team of four (patient, family member, village doctor, social worker) with the patient's
consent → twelve monthly multi-agency visits (timer cycle R12/P1M: the social worker records, the
guardian confirms) → the social worker's closing reintegration review.

The person lives in 太平村 (太平镇, 江油市). Clock: T0 = Monday 2 November 2026, 09:00 Shanghai.
Deadlines after 2026 fall on the projected 2027 calendar (no official schedule yet: provisional).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState

from engine.errors import FormInvalid, PermissionDenied
from engine.escalation import actions
from engine.notify import list_for_user
from engine.people import register_person
from engine.runtime import instances, services
from engine.runtime.queries import instance_detail
from engine.store.models import HumanTask, Instance

from conftest import SHANGHAI, T0, deploy_pathways, task_by_element
from pathway_steps import do, inbox_task, open_elements

PROCESS = "care_chain"
PERSON = "CC-001"
VILLAGE = "510781001001"      # 太平村: the person, the village doctor, the guardian
TOWNSHIP = "510781001"        # 太平镇: family doctor, social worker, rehab station
COUNTY = "510781"             # 江油市: psychiatrists, civil-affairs relief, supervisors
VILLAGE_DOCTOR = "vdoc_zhao"          # health.village_doctor @ 太平村
FAMILY_DOCTOR = "fdoc_zhou"           # health.family_doctor @ 太平镇
PSYCHIATRIST = "psychiatrist_zheng"   # health.psychiatrist @ 江油市
REHAB = "rehab_luo"                   # dpf.rehab_worker @ 太平镇
SOCIAL_WORKER = "sw_tang"             # civil.social_worker @ 太平镇
GUARDIAN = "guardian_zhang"           # family.guardian @ 太平村
CIVIL_SUPERVISOR = "civil_sup_jy"     # civil.supervisor @ 江油市
RELIEF = "relief_wu"                  # civil.relief_officer @ 江油市


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


SCREEN = {"contact_date": "2026-11-02", "contact_type": "home_visit",
          "literacy_topics": ["depression_signs", "help_seeking"], "resident_age": 46,
          "phq9_score": 4, "phq9_item9": 0, "doctor_concern": "no", "screen_notes": "情绪平稳，已发放宣传册"}
POSITIVE = {**SCREEN, "phq9_score": 14, "screen_notes": "近两月失眠、兴趣减退"}
REFERRAL = {"referral_urgency": "routine", "referral_reason": "PHQ-9 14 分，失眠、兴趣减退两个月",
            "symptom_months": 2, "appointment_date": "2026-11-04", "consent_referral": True}
NOT_CONFIRMED = {"diagnosis_result": "not_confirmed", "diagnosis_notes": "适应障碍可能，建议观察"}


def diagnosis(icd10: str, name: str, severity: str, household: str = "none") -> dict:
    data = {"diagnosis_result": "confirmed", "icd10_code": icd10, "diagnosis_name": name,
            "severity": severity, "household_type": household}
    return {**data, "consent_share_civil": True} if household != "none" else data


DEPRESSION = diagnosis("F32.1", "中度抑郁发作", "moderate")
SCHIZOPHRENIA = diagnosis("F20.0", "偏执型精神分裂症", "severe")
PLAN = {"treatment_setting": "outpatient", "medication_plan": "舍曲林 50mg 每日一次", "follow_up_interval": "1m"}
TEAM = {"family_member_name": "张家属", "family_member_relation": "spouse", "family_member_phone": "13800001234",
        "team_village_doctor": "赵村医", "team_social_worker": "唐社工", "team_consent": "yes"}
VISIT = {"visit_date": "2026-12-05", "visit_place": "home",
         "visit_attendance": ["patient", "family", "village_doctor", "social_worker"],
         "medication_adherence": 96, "relapse_warning": "no", "visit_concerns": "睡眠改善，计划参加村里的工作"}
CONFIRM = {"visit_record_confirmed": True, "home_situation": "good", "family_feedback": "按时吃药"}
REVIEW = {"visits_held": 12, "average_adherence": 96, "social_function": "partial",
          "employment_status": "sheltered", "next_step": "renew", "review_notes": "续期一年，继续庇护性就业"}


@pytest.fixture
def chain(region):
    deploy_pathways(region, "care_chain", "diagnosis", "relief", "community_rehab")
    register_person(region, PERSON, "王某", VILLAGE, gender="男", birth_date="1980-04-12")
    return region


def start(ctx):
    return services.start_instance(ctx.at(T0), PROCESS, VILLAGE, {}, person=PERSON)


def ends(ctx, instance: int) -> list[tuple[str, str]]:
    """(process, end event) of every end event reached, in this instance and the pathways it called."""
    with ctx.db.unit_of_work() as session:
        _, workflow = instances.load(ctx, session, instance)
        return sorted((w.spec.name, t.task_spec.bpmn_id)
                      for w in (workflow, *workflow.subprocesses.values()) for t in w.tasks.values()
                      if isinstance(t.task_spec, EndEvent) and t.has_state(TaskState.COMPLETED))


def state_size(ctx, instance: int) -> int:
    with ctx.db.unit_of_work() as session:
        return len(session.get(Instance, instance).state)


def assert_task(task: dict, role: str, org: str, due: datetime, provisional: bool = False) -> None:
    assert (task["role"], task["org"], task["status"], task["assignee"]) == (role, org, "open", None)
    assert task["due_at"] == due
    assert task["due_provisional"] is provisional


def refer(ctx):
    """Start, positive screen (Mon 10:00), referral (Tue 10:00): the diagnosis is next."""
    started = start(ctx)
    do(ctx, local(2026, 11, 2, 10), VILLAGE_DOCTOR, "prevention_screen", POSITIVE)
    return started.instance, do(ctx, local(2026, 11, 3, 10), FAMILY_DOCTOR, "referral", REFERRAL)


def diagnose(ctx, data: dict):
    """Referred, then the county psychiatrist's diagnosis (Wed 4 Nov 10:00) and, when confirmed,
    the treatment plan (Wed 15:00)."""
    instance, _ = refer(ctx)
    after = do(ctx, local(2026, 11, 4, 10), PSYCHIATRIST, "diagnose", data)
    if data["diagnosis_result"] == "confirmed":
        after = do(ctx, local(2026, 11, 4, 15), PSYCHIATRIST, "treatment_plan", PLAN)
    return instance, after


def form_team(ctx, at: datetime = local(2026, 11, 5, 10)) -> int:
    """A confirmed moderate depression (no rehab), then the team of four, formed Thu 5 Nov 10:00:
    the monthly cycle is armed then."""
    instance, after = diagnose(ctx, DEPRESSION)
    assert [t["element"] for t in after.tasks] == ["form_team"]
    after = do(ctx, at, SOCIAL_WORKER, "form_team", TEAM)
    assert after.status == "running" and after.tasks == []
    return instance


# --- 预防 → 筛查 ------------------------------------------------------------------------------

def test_a_low_risk_screen_ends_in_routine_prevention(chain):
    started = start(chain)
    screen = task_by_element(started.tasks, "prevention_screen")
    # The village doctor, at the person's own village, within 10 working days of Monday 2 Nov:
    # Tue 3 … Fri 6 (4), Mon 9 … Fri 13 (9), Mon 16 Nov (10) 18:00.
    assert_task(screen, "health.village_doctor", VILLAGE, local(2026, 11, 16, 18))
    assert screen["form_key"] == "care_chain/prevention_screen.form"
    assert screen["process"] == PROCESS
    assert inbox_task(chain, T0, VILLAGE_DOCTOR, "prevention_screen")["remaining"]["text"] == "还剩 10 个工作日"
    # Jurisdiction: 中坝社区's village doctor and the township's family doctor see nothing.
    assert services.tasks_for_user(chain.at(T0), "vdoc_cao") == []
    assert services.tasks_for_user(chain.at(T0), FAMILY_DOCTOR) == []
    with pytest.raises(PermissionDenied):
        services.complete(chain.at(T0), screen["id"], "vdoc_cao", SCREEN)

    # The form refuses an impossible PHQ-9 total and a minor (the school pathway covers students).
    with pytest.raises(FormInvalid) as bad:
        services.complete(chain.at(T0), screen["id"], VILLAGE_DOCTOR, {**SCREEN, "phq9_score": 30, "resident_age": 16})
    assert set(bad.value.fields) == {"phq9_score", "resident_age"}

    done = do(chain, local(2026, 11, 2, 10), VILLAGE_DOCTOR, "prevention_screen", SCREEN)
    assert done.status == "completed" and done.tasks == []
    assert ends(chain, started.instance) == [("care_chain", "end_routine_prevention")]


@pytest.mark.parametrize("finding", [
    {"phq9_score": 10},                 # the PHQ-9 cut-off
    {"phq9_item9": 1},                  # any thought of self-harm, whatever the total
    {"doctor_concern": "yes"},          # the village doctor's own judgement
])
def test_any_one_risk_finding_makes_the_screen_positive(chain, finding):
    start(chain)
    after = do(chain, local(2026, 11, 2, 10), VILLAGE_DOCTOR, "prevention_screen", {**SCREEN, **finding})
    referral = task_by_element(after.tasks, "referral")
    # The township family doctor (orgLevel township), within 2 working days: Wed 4 Nov 18:00.
    assert_task(referral, "health.family_doctor", TOWNSHIP, local(2026, 11, 4, 18))


# --- 转介 → 诊断 (called pathway) -------------------------------------------------------------

def test_positive_screen_referred_but_not_confirmed_ends(chain):
    started = start(chain)
    after = do(chain, local(2026, 11, 2, 10), VILLAGE_DOCTOR, "prevention_screen", POSITIVE)
    referral = task_by_element(after.tasks, "referral")
    assert services.tasks_for_user(chain.at(local(2026, 11, 2, 10)), "fdoc_deng") == []     # 中坝镇
    with pytest.raises(FormInvalid) as bad:
        services.complete(chain.at(local(2026, 11, 3, 9)), referral["id"], FAMILY_DOCTOR,
                          {**REFERRAL, "consent_referral": False})
    assert set(bad.value.fields) == {"consent_referral"}
    after = do(chain, local(2026, 11, 3, 10), FAMILY_DOCTOR, "referral", REFERRAL)

    # The called `diagnosis` pathway's first task runs in THIS instance: the county psychiatrist,
    # 3 working days from Tue 3 Nov → Fri 6 Nov 18:00, with the diagnosis pathway's own form.
    diagnose_task = task_by_element(after.tasks, "diagnose")
    assert_task(diagnose_task, "health.psychiatrist", COUNTY, local(2026, 11, 6, 18))
    assert (diagnose_task["instance"], diagnose_task["process"]) == (started.instance, PROCESS)
    assert diagnose_task["form_key"] == "diagnosis/diagnose.form"
    assert services.tasks_for_user(chain.at(local(2026, 11, 3, 10)), "psychiatrist_bai") == []   # 涪城区
    # The person's ref went into the called pathway with the rest of the data.
    assert instance_detail(chain, started.instance)["data"]["person_ref"] == PERSON

    done = do(chain, local(2026, 11, 4, 10), PSYCHIATRIST, "diagnose", NOT_CONFIRMED)
    assert done.status == "completed" and done.tasks == []
    assert ends(chain, started.instance) == [("care_chain", "end_not_confirmed"),
                                             ("diagnosis", "end_not_confirmed")]


# --- 康复 (called pathway) or not --------------------------------------------------------------

@pytest.mark.parametrize("icd10, name, severity, rehab", [
    ("F32.1", "中度抑郁发作", "moderate", False),
    ("F41.1", "广泛性焦虑障碍", "severe", True),        # severe
    ("F31.1", "双相情感障碍", "moderate", True),        # a long-term severe mental disorder
    ("F71.1", "中度精神发育迟滞伴精神障碍", "mild", True),
])
def test_rehabilitation_is_called_for_severe_or_long_term_conditions(chain, icd10, name, severity, rehab):
    _, after = diagnose(chain, diagnosis(icd10, name, severity))
    assert [t["element"] for t in after.tasks] == (["intake_check"] if rehab else ["form_team"])


def test_severe_diagnosis_calls_community_rehab_then_consent_is_refused(chain):
    instance, after = diagnose(chain, SCHIZOPHRENIA)
    # community_rehab's intake check, inside this instance: the township rehab station,
    # 3 working days from Wed 4 Nov → Mon 9 Nov 18:00.
    intake = task_by_element(after.tasks, "intake_check")
    assert_task(intake, "dpf.rehab_worker", TOWNSHIP, local(2026, 11, 9, 18))
    assert intake["form_key"] == "community_rehab/intake_check.form"
    # Still acutely severe at intake: not eligible (stable, mild-to-moderate only), told and referred.
    after = do(chain, local(2026, 11, 5, 10), REHAB, "intake_check", {
        "age": 46, "illness_months": 14, "disease_phase": "acute", "severity": "severe",
        "referral_source": "mh_doctor"})
    assert [t["element"] for t in after.tasks] == ["inform_ineligible"]
    after = do(chain, local(2026, 11, 5, 15), REHAB, "inform_ineligible", {
        "unmet_criteria": ["not_stable", "severe"], "other_services": ["mh_followup"],
        "informed_date": "2026-11-05"})

    # Back in this pathway: the social worker forms the team, 5 working days from Thu 5 Nov →
    # Thu 12 Nov 18:00; 中坝镇's social worker does not see it.
    team = task_by_element(after.tasks, "form_team")
    assert_task(team, "civil.social_worker", TOWNSHIP, local(2026, 11, 12, 18))
    assert services.tasks_for_user(chain.at(local(2026, 11, 5, 15)), "sw_pan") == []
    with pytest.raises(FormInvalid) as bad:
        services.complete(chain.at(local(2026, 11, 6, 10)), team["id"], SOCIAL_WORKER,
                          {**TEAM, "family_member_phone": "12345", "team_consent": "no"})
    assert set(bad.value.fields) == {"family_member_phone", "consent_refusal_reason"}
    done = do(chain, local(2026, 11, 6, 10), SOCIAL_WORKER, "form_team",
              {**TEAM, "team_consent": "no", "consent_refusal_reason": "本人暂不愿让村里人知道病情"})
    assert done.status == "completed" and done.tasks == []
    assert ends(chain, instance) == [
        ("care_chain", "end_no_consent"), ("community_rehab", "end_ineligible"),
        ("diagnosis", "end_plan_only")]


def test_low_income_diagnosis_starts_relief_from_inside_the_called_pathway(chain):
    instance, after = diagnose(chain, diagnosis("F32.2", "重度抑郁发作", "moderate", household="dibao"))
    # The called diagnosis pathway threw its message from this instance: relief started for the
    # same person, at the county relief officer; the diagnosis waits for the result.
    assert after.tasks == []
    verify = inbox_task(chain, local(2026, 11, 4, 15), RELIEF, "verify_eligibility")
    assert verify["process"] == "relief" and verify["instance"] != instance
    after_relief = services.complete(chain.at(local(2026, 11, 5, 10)), verify["id"], RELIEF, {
        "eligibility": "not_eligible", "ineligible_reason": "家庭收入超过低保标准"})
    assert after_relief.status == "completed"
    # The result came back into the diagnosis pathway running inside this instance.
    adjust = task_by_element(services.list_tasks(chain, instance_id=instance), "adjust_treatment")
    assert_task(adjust, "health.psychiatrist", COUNTY, local(2026, 11, 10, 18))
    after = services.complete(chain.at(local(2026, 11, 6, 10)), adjust["id"], PSYCHIATRIST, {
        "adjustment": "keep", "adjustment_notes": "自付可承受，维持原方案"})
    assert [t["element"] for t in after.tasks] == ["form_team"]


# --- 社会融入: the care team of four and a year of monthly visits -----------------------------

# The cycle is armed when the team is formed, Thu 5 Nov 2026 10:00. Visit k appears k calendar
# months later, on the 5th at 10:00 (R12/P1M counts calendar months from the arming, so months of
# 28, 30 or 31 days never make visits drift). Visit k at (fires, visit due = 3 working days, confirm
# due = 5 working days from the same day), 18:00 local:
VISITS = [
    ((2026, 12, 5), (2026, 12, 9), (2026, 12, 11)),    # Sat → Mon 7, Tue 8, Wed 9 (official 2026)
    ((2027, 1, 5), (2027, 1, 8), (2027, 1, 12)),       # projected 2027 from here on
    ((2027, 2, 5), (2027, 2, 15), (2027, 2, 17)),      # Spring Festival 5–10 Feb off: Thu 11, Fri 12, Mon 15
    ((2027, 3, 5), (2027, 3, 10), (2027, 3, 12)),
    ((2027, 4, 5), (2027, 4, 8), (2027, 4, 12)),       # Qingming Mon 5 Apr off: fires on the holiday
    ((2027, 5, 5), (2027, 5, 10), (2027, 5, 12)),      # Labour Day 1–5 May off
    ((2027, 6, 5), (2027, 6, 10), (2027, 6, 14)),      # Sat; Dragon Boat Wed 9 Jun off
    ((2027, 7, 5), (2027, 7, 8), (2027, 7, 12)),
    ((2027, 8, 5), (2027, 8, 10), (2027, 8, 12)),
    ((2027, 9, 5), (2027, 9, 8), (2027, 9, 10)),       # Sun
    ((2027, 10, 5), (2027, 10, 8), (2027, 10, 12)),    # National Day 1–5 Oct off
    ((2027, 11, 5), (2027, 11, 10), (2027, 11, 12)),
]


def test_a_year_of_monthly_team_visits_then_the_reintegration_review(chain):
    instance, after = diagnose(chain, DEPRESSION)          # moderate F32: no rehabilitation
    team = task_by_element(after.tasks, "form_team")
    # 5 working days from Wed 4 Nov → Wed 11 Nov 18:00.
    assert_task(team, "civil.social_worker", TOWNSHIP, local(2026, 11, 11, 18))
    after = do(chain, local(2026, 11, 5, 10), SOCIAL_WORKER, "form_team", TEAM)
    assert after.status == "running" and after.tasks == []

    armed = local(2026, 11, 5, 10)
    sizes, fired_at = {}, []
    for k, (fires, visit_due, confirm_due) in enumerate(VISITS, start=1):
        fires = local(*fires, 10)
        assert (fires.year - armed.year) * 12 + fires.month - armed.month == k    # k calendar months
        assert (fires.day, fires.hour) == (armed.day, armed.hour)
        quiet = services.tick(chain.at(fires - timedelta(minutes=1)))
        assert quiet["timers_fired"] == 0 and open_elements(chain, instance) == []
        fired = services.tick(chain.at(fires))
        assert fired["timers_fired"] == 1 and fired["instances"] == [instance]

        visit = inbox_task(chain, fires, SOCIAL_WORKER, "team_visit")
        assert_task(visit, "civil.social_worker", TOWNSHIP, local(*visit_due, 18), provisional=k > 1)
        assert visit["created_at"] == fires and visit["form_key"] == "care_chain/team_visit.form"
        fired_at.append(visit["created_at"])
        assert services.tasks_for_user(chain.at(fires), "sw_pan") == []          # 中坝镇
        after = services.complete(chain.at(fires + timedelta(hours=2)), visit["id"], SOCIAL_WORKER,
                                  {**VISIT, "visit_date": fires.date().isoformat()})

        confirm = task_by_element(after.tasks, "confirm_visit")
        assert_task(confirm, "family.guardian", VILLAGE, local(*confirm_due, 18), provisional=k > 1)
        assert [t["element"] for t in services.tasks_for_user(chain.at(fires), GUARDIAN)] == ["confirm_visit"]
        after = do(chain, fires + timedelta(days=1), GUARDIAN, "confirm_visit", CONFIRM)
        sizes[k] = state_size(chain, instance)
        if k < 12:
            assert after.tasks == []

    # Exactly twelve visits, a calendar month apart (gaps of 28 to 31 days, never drifting off the
    # 5th); the year's sub-process ended with the twelfth.
    assert sorted({(b - a).days for a, b in zip(fired_at, fired_at[1:])}) == [28, 30, 31]
    assert {at.day for at in fired_at} == {5}
    review = task_by_element(after.tasks, "reintegration_review")
    # Confirmed Sat 6 Nov 2027: 5 working days → Fri 12 Nov 18:00 (projected).
    assert_task(review, "civil.social_worker", TOWNSHIP, local(2027, 11, 12, 18), provisional=True)
    assert instance_detail(chain, instance)["wake_at"] is None

    # The thirteenth never comes: not at the next step, not months later.
    for later in (local(2027, 12, 5, 10), local(2028, 6, 1, 10)):
        assert services.tick(chain.at(later))["timers_fired"] == 0
        assert open_elements(chain, instance) == ["reintegration_review"]

    # Bounded state: each visit adds a small, constant amount (one finished visit branch).
    growth = [sizes[k + 1] - sizes[k] for k in range(2, 12)]
    per_visit = (sizes[12] - sizes[2]) / 10
    print(f"state bytes after visit 2: {sizes[2]}, after visit 12: {sizes[12]}, "
          f"per visit {per_visit:.0f} (min {min(growth)}, max {max(growth)})")
    # Measured: 4283 bytes after visit 2, 7891 after visit 12, 337–400 bytes per visit.
    assert 0 < min(growth) and max(growth) < 1024 and per_visit < 1024
    assert sizes[12] < 16 * 1024

    done = do(chain, local(2027, 11, 8, 10), SOCIAL_WORKER, "reintegration_review", REVIEW)
    assert done.status == "completed" and done.tasks == []
    finished = ends(chain, instance)
    assert finished.count(("monthly_visit", "end_visit_confirmed")) == 12
    assert ("care_chain", "end_year_closed") in finished
    assert ("team_year", "team_year_end") in finished
    detail = instance_detail(chain, instance)
    elements = [t["element"] for t in detail["tasks"]]
    assert (elements.count("team_visit"), elements.count("confirm_visit")) == (12, 12)


def test_a_missed_visit_escalates_to_the_county_civil_affairs_supervisor(chain):
    instance = form_team(chain)
    services.tick(chain.at(local(2026, 12, 5, 10)))
    visit = inbox_task(chain, local(2026, 12, 5, 10), SOCIAL_WORKER, "team_visit")
    assert_task(visit, "civil.social_worker", TOWNSHIP, local(2026, 12, 9, 18))

    # Level 1 at the deadline, Wed 9 Dec 18:00: the social worker is reminded.
    assert services.tick(chain.at(local(2026, 12, 9, 17, 59)))["escalations_raised"] == 0
    assert services.tick(chain.at(local(2026, 12, 9, 18)))["escalations_raised"] == 1
    assert [(e["level"], e["role"], e["org"], e["task"]) for e in actions.list_escalations(chain, org=TOWNSHIP)] == [
        (1, "civil.social_worker", TOWNSHIP, visit["id"])]
    # Level 2 one working day later, Thu 10 Dec 18:00: the civil-affairs supervisor of the
    # nearest staffed unit above the township, 江油市.
    assert services.tick(chain.at(local(2026, 12, 10, 17, 59)))["escalations_raised"] == 0
    assert services.tick(chain.at(local(2026, 12, 10, 18)))["escalations_raised"] == 1
    queue = {e["level"]: e for e in actions.list_escalations(chain, org=COUNTY)}
    assert (queue[2]["role"], queue[2]["org"], queue[2]["status"]) == ("civil.supervisor", COUNTY, "open")
    assert actions.list_escalations(chain, org="510703") == []           # 涪城区 sees nothing of it
    assert actions.list_escalations(chain, org="510781002") == []        # nor does 中坝镇
    with chain.db.unit_of_work() as session:
        assert [n["title"] for n in list_for_user(session, SOCIAL_WORKER, 20, 0)] == ["任务到期提醒"]
        assert [n["title"] for n in list_for_user(session, CIVIL_SUPERVISOR, 20, 0)] == ["2 级督办：任务超期"]
        assert list_for_user(session, "civil_sup_fc", 20, 0) == []
    actions.acknowledge(chain.at(local(2026, 12, 11, 8, 30)), queue[2]["id"], CIVIL_SUPERVISOR, "已督促社工今天走访")

    # Done late on Fri 11 Dec: the escalations resolve; the guardian has 5 working days
    # (Mon 14 … Fri 18 Dec) to confirm.
    after = do(chain, local(2026, 12, 11, 10), SOCIAL_WORKER, "team_visit", VISIT)
    assert {e["status"] for e in actions.list_escalations(chain, status="all")} == {"resolved"}
    confirm = task_by_element(after.tasks, "confirm_visit")
    assert_task(confirm, "family.guardian", VILLAGE, local(2026, 12, 18, 18))
    assert services.tasks_for_user(chain.at(local(2026, 12, 11, 10)), SOCIAL_WORKER) == []
    with chain.db.unit_of_work() as session:
        row = session.get(HumanTask, confirm["id"])
        assert (row.escalation_ladder, row.next_escalation_at) == ("none", None)   # not supervised staff

    # The guardian never confirms: at the deadline the record stands on the social worker's word;
    # a family member is not escalated to anyone (ladder "none").
    assert services.tick(chain.at(local(2026, 12, 18, 17, 59)))["timers_fired"] == 0
    lapsed = services.tick(chain.at(local(2026, 12, 18, 18)))
    assert (lapsed["timers_fired"], lapsed["escalations_raised"]) == (1, 0)
    assert open_elements(chain, instance) == []
    assert ("monthly_visit", "end_visit_unconfirmed") in ends(chain, instance)
    assert sorted(e["level"] for e in actions.list_escalations(chain, status="all")) == [1, 2]   # no new ones

    # The year goes on: the second visit comes a calendar month after the first (Tue 5 Jan 2027).
    assert services.tick(chain.at(local(2027, 1, 5, 9, 59)))["timers_fired"] == 0
    assert services.tick(chain.at(local(2027, 1, 5, 10)))["timers_fired"] == 1
    assert open_elements(chain, instance) == ["team_visit"]
