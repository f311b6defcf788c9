"""Moving running instances to another version of their pathway, on the demo region with the real
pathways: a preview says where every token lands and writes nothing; an instance whose token sits
on a removed task is refused and left untouched while the others move; a moved instance keeps its
open task (same row, holder and deadline) and its armed timers, and what it does next follows the
new version; called pathways and event sub-processes move with it; only an analyst over the
instance's unit may move it. Version 2 of school screening is `test_version_diff.school_v2`: the
remote consult gets 3 working days instead of 2, the screening task is renamed, the follow-up talk
is removed and a task telling the guardian is added before the joint plan.

Clock: T0 = Monday 2 November 2026 09:00 Shanghai; November 2026 has no holidays."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine import people
from engine.access import can_edit_pathways, can_migrate
from engine.directory import load_directory
from engine.errors import NotFound, PermissionDenied
from engine.journeys import instance_diagram
from engine.migration import (
    migrate_instances, migrate_instances_for_user, preview_migration, preview_migration_for_user,
)
from engine.runtime import instances, services
from engine.store.models import Event, HumanTask, Instance, TaskGrant

from conftest import Cli, task_by_element
from test_pathway_care_chain import DEPRESSION, PLAN, POSITIVE, TEAM
from test_pathway_care_chain import REFERRAL as CARE_REFERRAL
from test_pathway_crisis_intervention import intake
from test_pathway_school_screening import (
    CONSULT_NOT_CONFIRMED, PLAN_MEDICAL, PLAN_SCHOOL, REFERRAL, VILLAGE, consult_confirmed, local, nov,
    screening_form, start, treatment_review, variables,
)
from test_version_diff import (
    NEW_SCREENING_NAME, SOURCE, copy_library, deploy_version, once, school_v2, treatment_every_two_months,
)

PROCESS = "school_screening"
OTHER_COUNTY_VILLAGE = "510703001001"     # 东街社区, 涪城区


def dec(day: int, hour: int, minute: int = 0):
    return local(2026, 12, day, hour, minute)


def step(ctx, at, instance: int, element: str, username: str, data: dict) -> services.Outcome:
    """`username` completes this instance's open `element` task at `at`."""
    task = task_by_element(services.list_tasks(ctx, instance_id=instance), element)
    return services.complete(ctx.at(at), task["id"], username, data)


def open_tasks(ctx, instance: int) -> list[dict]:
    return services.list_tasks(ctx, instance_id=instance)


class School:
    """School screening v1 deployed from a copy of the library, instances at different places."""

    def __init__(self, ctx, pathways):
        self.ctx, self.pathways = ctx, pathways
        self.v1 = deploy_version(ctx, pathways, PROCESS, SOURCE)
        self.v2 = None

    def deploy_v2(self):
        self.v2 = deploy_version(self.ctx, self.pathways, PROCESS, school_v2())
        return self.v2

    def at_screening(self, ref: str) -> int:
        return start(self.ctx, ref, "2010-12-15")

    def at_consult(self, ref: str) -> int:
        instance = self.at_screening(ref)
        step(self.ctx, nov(2, 10), instance, "screening", "teacher_wang", screening_form(18))
        return instance

    def at_talk(self, ref: str) -> int:
        instance = self.at_consult(ref)
        step(self.ctx, nov(3, 10), instance, "remote_consult", "expert_chen", CONSULT_NOT_CONFIRMED)
        return instance

    def at_treatment_wait(self, ref: str) -> int:
        """Severe; the referral is done Friday 6 November 10:00, arming the one-month timer."""
        instance = self.at_consult(ref)
        step(self.ctx, nov(3, 10), instance, "remote_consult", "expert_chen", consult_confirmed("severe"))
        step(self.ctx, nov(4, 10), instance, "joint_plan_school", "psych_liu", PLAN_SCHOOL)
        step(self.ctx, nov(5, 10), instance, "joint_plan_medical", "fdoc_zhou", PLAN_MEDICAL)
        step(self.ctx, nov(6, 10), instance, "psychiatric_referral", "psychiatrist_zheng", REFERRAL)
        return instance

    def finished(self, ref: str) -> int:
        instance = self.at_screening(ref)
        step(self.ctx, nov(2, 10), instance, "screening", "teacher_wang", screening_form(3))
        return instance


@pytest.fixture
def school(region, tmp_path):
    return School(region, copy_library(tmp_path))


def snapshot(ctx, instance_ids) -> dict:
    """Everything a migration could touch, to show that nothing was."""
    with ctx.db.unit_of_work() as session:
        rows = {i: (r.version_id, r.lock_version, r.status, r.wake_at, r.state)
                for i in instance_ids for r in [session.get(Instance, i)]}
        tasks = [(t.id, t.instance_id, t.status, t.name, t.form_key, t.assignee, t.due_at)
                 for t in session.scalars(select(HumanTask).order_by(HumanTask.id))]
        grants = session.scalar(select(func.count()).select_from(TaskGrant))
        events = session.scalar(select(func.count()).select_from(Event))
    return {"rows": rows, "tasks": tasks, "grants": grants, "events": events}


def events_of(ctx, instance: int, *kinds: str) -> list[Event]:
    with ctx.db.unit_of_work() as session:
        rows = session.scalars(select(Event).where(Event.instance_id == instance).order_by(Event.id)).all()
        session.expunge_all()
    return [e for e in rows if not kinds or e.kind in kinds]


def grants_of(ctx, task_id: int) -> list[tuple]:
    with ctx.db.unit_of_work() as session:
        return [(g.id, g.role_code, g.org_path, g.username) for g in session.scalars(
            select(TaskGrant).where(TaskGrant.task_id == task_id).order_by(TaskGrant.id))]


def tokens(plan) -> list[tuple]:
    return [(t["element"], t["state"], t["lands_on"], t["changed"]) for t in plan.tokens]


# --- preview -------------------------------------------------------------------------------------

def test_the_preview_shows_where_each_token_lands_and_writes_nothing(school):
    screening, consult = school.at_screening("P-1"), school.at_consult("P-2")
    waiting, talk, done = school.at_treatment_wait("P-3"), school.at_talk("P-4"), school.finished("P-5")
    v2 = school.deploy_v2()
    before = snapshot(school.ctx, [screening, consult, waiting, talk, done])

    plans = {p.instance: p for p in preview_migration(school.ctx, [screening, consult, waiting, talk, done],
                                                      v2.version_id)}

    assert snapshot(school.ctx, [screening, consult, waiting, talk, done]) == before
    first = plans[screening]
    assert (first.ok, first.refusal, first.from_version, first.to_version, first.person_ref) == (
        True, None, 1, 2, "P-1")
    assert tokens(first) == [("screening", "READY", "screening", ["名称"])]
    assert first.tokens[0]["lands_on_name"] == NEW_SCREENING_NAME
    assert first.tokens[0]["task"] == task_by_element(open_tasks(school.ctx, screening), "screening")["id"]
    assert tokens(plans[consult]) == [("remote_consult", "READY", "remote_consult", ["camunda:dueDate"])]
    assert plans[consult].tokens[0]["note"] == ("待办任务保留原办理人、认领和截止时间；"
                                                "时限已修改：迁移后新产生的任务按版本 2 计算截止时间")
    assert tokens(plans[waiting]) == [("treatment_wait", "WAITING", "treatment_wait", [])]
    assert plans[waiting].tokens[0]["note"] == "定时器保持原定触发时间 2026-12-06 10:00"
    assert (plans[talk].ok, plans[talk].refusal) == (
        False, "任务 followup_talk（心理教师跟进谈话）在版本 2 中不存在，令牌无处可去")
    assert tokens(plans[talk]) == [("followup_talk", "READY", None, [])]
    assert (plans[done].ok, plans[done].refusal) == (False, f"实例 {done} 已完成，不能迁移")


def test_a_preview_refuses_the_same_version_and_another_pathways_version(school):
    instance = school.at_screening("P-6")
    other = deploy_version(school.ctx, school.pathways, "crisis_intervention",
                           (school.pathways / "crisis_intervention.bpmn").read_bytes())
    same, foreign = (preview_migration(school.ctx, [instance], v)[0] for v in (school.v1.version_id, other.version_id))
    assert same.refusal == f"实例 {instance} 已在版本 1 上"
    assert foreign.refusal == (f"版本 1（编号 {other.version_id}）属于路径 crisis_intervention，"
                               f"实例 {instance} 属于路径 school_screening")
    with pytest.raises(NotFound, match="路径版本 999 不存在"):
        preview_migration(school.ctx, [instance], 999)
    with pytest.raises(NotFound, match="实例 999 不存在"):
        preview_migration(school.ctx, [instance, 999], school.v1.version_id)


# --- migrating -----------------------------------------------------------------------------------

def test_a_refused_instance_changes_nothing_and_the_others_still_migrate(school):
    talk, screening = school.at_talk("M-1"), school.at_screening("M-2")
    v2 = school.deploy_v2()
    before = snapshot(school.ctx, [talk])

    results = migrate_instances(school.ctx, [talk, screening], v2.version_id, "analyst_xu", now=nov(3, 12))

    refused, moved = results
    assert (refused.instance, refused.ok, refused.outcome, refused.message) == (
        talk, False, "refused", "任务 followup_talk（心理教师跟进谈话）在版本 2 中不存在，令牌无处可去")
    assert (moved.instance, moved.ok, moved.outcome, moved.to_version) == (screening, True, "migrated", 2)
    after = snapshot(school.ctx, [talk])
    assert after["rows"] == before["rows"]
    assert [t for t in after["tasks"] if t[1] == talk] == [t for t in before["tasks"] if t[1] == talk]
    assert events_of(school.ctx, talk, "instance_migrated") == []
    with school.ctx.db.unit_of_work() as session:
        assert session.get(Instance, screening).version_id == v2.version_id


def test_the_open_task_keeps_its_row_holder_and_deadline(school):
    consult = school.at_consult("M-3")
    before = task_by_element(open_tasks(school.ctx, consult), "remote_consult")
    services.claim(school.ctx.at(nov(3, 9)), before["id"], "expert_chen")
    grants = grants_of(school.ctx, before["id"])
    assert grants
    assert before["due_at"] == nov(4, 18)                 # v1: 2 working days
    v2 = school.deploy_v2()

    [result] = migrate_instances(school.ctx, [consult], v2.version_id, "analyst_xu", now=nov(3, 12))

    assert (result.outcome, result.status) == ("migrated", "running")
    [kept] = result.tasks
    assert (kept["id"], kept["element"], kept["status"], kept["assignee"], kept["due_at"], kept["role"], kept["org"]) == (
        before["id"], "remote_consult", "claimed", "expert_chen", nov(4, 18), before["role"], before["org"])
    assert events_of(school.ctx, consult, "task_cancelled") == []
    assert grants_of(school.ctx, kept["id"]) == grants
    assert len(events_of(school.ctx, consult, "task_created")) == 2     # screening and the consult, once each
    [migrated] = events_of(school.ctx, consult, "instance_migrated")
    assert (migrated.actor, migrated.at, migrated.detail["from_version"], migrated.detail["to_version"]) == (
        "analyst_xu", nov(3, 12), 1, 2)
    assert migrated.detail["tokens"] == [{"process": PROCESS, "element": "remote_consult", "state": "READY",
                                          "lands_on": "remote_consult"}]

    # it goes on on version 2: a confirmed case now tells the guardian first (an element v1 lacks)
    after = services.complete(school.ctx.at(nov(3, 14)), kept["id"], "expert_chen", consult_confirmed("mild"))
    notice = task_by_element(after.tasks, "guardian_notice")
    assert (notice["role"], notice["due_at"]) == ("education.school_psychologist", nov(4, 18))


def test_the_next_task_follows_the_new_versions_deadline_and_the_open_task_its_name(school):
    screening = school.at_screening("M-4")
    v2 = school.deploy_v2()
    [result] = migrate_instances(school.ctx, [screening], v2.version_id, "analyst_xu", now=nov(2, 9, 30))
    [open_task] = result.tasks
    assert (open_task["name"], open_task["due_at"]) == (NEW_SCREENING_NAME, nov(9, 18))   # v1's 5 working days

    after = step(school.ctx, nov(3, 10), screening, "screening", "teacher_wang", screening_form(18))

    consult = task_by_element(after.tasks, "remote_consult")
    assert consult["due_at"] == nov(6, 18)               # v2: 3 working days (v1 would say the 5th)
    assert variables(school.ctx, screening)["phq9_score"] == 18


def test_a_timer_armed_before_the_migration_fires_at_its_original_moment(school):
    waiting = school.at_treatment_wait("M-5")
    with school.ctx.db.unit_of_work() as session:
        assert session.get(Instance, waiting).wake_at == dec(6, 10)
    v2 = school.deploy_v2()

    [result] = migrate_instances(school.ctx, [waiting], v2.version_id, "analyst_xu", now=nov(20, 10))

    assert result.outcome == "migrated"
    with school.ctx.db.unit_of_work() as session:
        row = session.get(Instance, waiting)
        assert (row.version_id, row.wake_at) == (v2.version_id, dec(6, 10))   # not 20 December
    assert services.tick(school.ctx.at(dec(6, 9, 59)))["timers_fired"] == 0
    assert services.tick(school.ctx.at(dec(6, 10)))["timers_fired"] == 1
    review = task_by_element(open_tasks(school.ctx, waiting), "treatment_review")
    assert review["role"] == "health.psychiatrist"


def test_a_timer_whose_definition_changed_is_armed_again_from_the_migration(school):
    waiting = school.at_treatment_wait("M-10")
    two_months = treatment_every_two_months(SOURCE.decode("utf-8"))
    v2 = deploy_version(school.ctx, school.pathways, PROCESS, two_months.encode("utf-8"))

    [plan] = preview_migration(school.ctx, [waiting], v2.version_id)
    assert tokens(plan) == [("treatment_wait", "WAITING", "treatment_wait", ["定时器"])]
    assert plan.tokens[0]["note"] == "定时器定义已修改：迁移时按新定义重新计时"
    migrate_instances(school.ctx, [waiting], v2.version_id, "analyst_xu", now=nov(20, 10))

    with school.ctx.db.unit_of_work() as session:
        assert session.get(Instance, waiting).wake_at == local(2027, 1, 20, 10)


def test_completed_history_of_a_removed_element_is_dropped_and_the_instance_goes_on(school):
    """Version 3 drops the family doctor's half of the joint plan; an instance that already did it
    moves (its task rows keep the history) and finishes its treatment on version 3."""
    waiting = school.at_treatment_wait("M-6")
    v3_text = school_v2().decode("utf-8")
    v3_text = once(v3_text, "        <bpmn:flowNodeRef>joint_plan_medical</bpmn:flowNodeRef>\n", "")
    v3_text = once(v3_text, r'    <bpmn:userTask id="joint_plan_medical".*?</bpmn:userTask>\n', "", regex=True)
    for flow in ("flow_fork_medical", "flow_medical_plan_done"):
        v3_text = once(v3_text, rf'    <bpmn:sequenceFlow id="{flow}"[^\n]*\n', "", regex=True)
        v3_text = once(v3_text, rf'      <bpmndi:BPMNEdge id="{flow}_di".*?</bpmndi:BPMNEdge>\n', "", regex=True)
    v3_text = once(v3_text, r'      <bpmndi:BPMNShape id="joint_plan_medical_di".*?</bpmndi:BPMNShape>\n', "", regex=True)
    school.deploy_v2()
    v3 = deploy_version(school.ctx, school.pathways, PROCESS, v3_text.encode("utf-8"))
    assert v3.version == 3

    [result] = migrate_instances(school.ctx, [waiting], v3.version_id, "analyst_xu", now=nov(20, 10))

    assert (result.outcome, result.to_version) == ("migrated", 3)
    with school.ctx.db.unit_of_work() as session:
        _, workflow = instances.load(school.ctx, session, waiting)
        assert workflow.get_tasks(spec_name="joint_plan_medical") == []
        assert len(workflow.get_tasks(spec_name="joint_plan_school")) == 1
    history = {t["element"]: t["status"] for t in services.list_tasks(school.ctx, instance_id=waiting, status="all")}
    assert history["joint_plan_medical"] == "completed"
    assert services.tick(school.ctx.at(dec(6, 10)))["timers_fired"] == 1
    step(school.ctx, dec(7, 10), waiting, "treatment_review", "psychiatrist_zheng", treatment_review("recovered"))
    assert variables(school.ctx, waiting)["student_age"] == 15
    diagram = instance_diagram(school.ctx, waiting)
    assert diagram["version"] == 3 and "joint_plan_school" in diagram["markers"]["completed"]


def test_an_instance_in_error_is_migrated_and_its_failed_step_runs_again_on_the_new_version(school):
    """Version 1 here has a broken script; the instance stops on it. Version 2 (the real pathway)
    fixes it: migrating runs the script again and the instance goes on."""
    broken = once(SOURCE.decode("utf-8"), "followups_done = 0</bpmn:script>",
                  "followups_done = undefined_counter</bpmn:script>")
    school.v1 = deploy_version(school.ctx, school.pathways, PROCESS, broken.encode("utf-8"))   # version 2
    instance = school.at_treatment_wait("M-7")
    services.tick(school.ctx.at(dec(6, 10)))
    step(school.ctx, dec(7, 10), instance, "treatment_review", "psychiatrist_zheng", treatment_review("recovered"))
    with school.ctx.db.unit_of_work() as session:
        row = session.get(Instance, instance)
        assert (row.status, row.error["element"]) == ("error", "prepare_aftercare")
    fixed = deploy_version(school.ctx, school.pathways, PROCESS, SOURCE)
    assert fixed.version == 3

    [plan] = preview_migration(school.ctx, [instance], fixed.version_id)
    assert tokens(plan) == [("prepare_aftercare", "ERROR", "prepare_aftercare", ["脚本"])]
    assert plan.tokens[0]["note"] == "出错的步骤将按版本 3 重新执行"
    [result] = migrate_instances(school.ctx, [instance], fixed.version_id, "analyst_xu", now=dec(7, 11))

    assert (result.outcome, result.status) == ("migrated", "running")
    data = variables(school.ctx, instance)
    assert (data["student_age"], data["followups_done"]) == (15, 0)
    with school.ctx.db.unit_of_work() as session:
        assert session.get(Instance, instance).wake_at == local(2027, 1, 7, 11)   # the first monthly follow-up


def test_a_change_since_the_preview_is_a_conflict_and_the_others_still_migrate(school):
    consult, screening = school.at_consult("M-8"), school.at_screening("M-9")
    v2 = school.deploy_v2()
    plans = preview_migration(school.ctx, [consult, screening], v2.version_id)
    expected = {p.instance: p.lock_version for p in plans}
    step(school.ctx, nov(3, 10), consult, "remote_consult", "expert_chen", consult_confirmed("mild"))
    before = snapshot(school.ctx, [consult])

    conflict, moved = migrate_instances(school.ctx, [consult, screening], v2.version_id, "analyst_xu",
                                        expected=expected)

    assert (conflict.outcome, conflict.ok) == ("conflict", False)
    assert conflict.message == f"实例 {consult} 在预览之后已有变化，请重新预览"
    assert snapshot(school.ctx, [consult])["rows"] == before["rows"]
    assert moved.outcome == "migrated"


# --- boundary timers, called pathways, event sub-processes --------------------------------------

def test_a_waiting_boundary_timer_keeps_its_moment(school):
    ctx = school.ctx
    source = (school.pathways / "crisis_intervention.bpmn").read_bytes()
    deploy_version(ctx, school.pathways, "crisis_intervention", source)
    people.register_person(ctx, "C-1", "赵某", VILLAGE, gender="男", birth_date="1981-07-09")
    instance = services.start_instance(ctx, "crisis_intervention", VILLAGE, {}, person="C-1").instance
    step(ctx, nov(2, 9, 10), instance, "hotline_intake", "hotline_he", intake("high"))
    dispatch = task_by_element(open_tasks(ctx, instance), "crisis_dispatch")
    v2 = deploy_version(ctx, school.pathways, "crisis_intervention",
                        once(source.decode("utf-8"), 'name="危机干预队出动"', 'name="危机干预队出动（含警方）"').encode())

    [plan] = preview_migration(ctx, [instance], v2.version_id)
    assert tokens(plan) == [("crisis_dispatch", "READY", "crisis_dispatch", ["名称"]),
                            ("dispatch_overdue", "WAITING", "dispatch_overdue", [])]
    assert plan.tokens[1]["note"] == "定时器保持原定触发时间 2026-11-02 11:10"
    [result] = migrate_instances(ctx, [instance], v2.version_id, "analyst_xu", now=nov(2, 9, 40))

    assert [(t["id"], t["name"], t["due_at"]) for t in result.tasks] == [
        (dispatch["id"], "危机干预队出动（含警方）", nov(2, 11, 10))]
    assert services.tick(ctx.at(nov(2, 11, 9)))["timers_fired"] == 0
    assert services.tick(ctx.at(nov(2, 11, 10)))["timers_fired"] == 1
    assert [t["element"] for t in open_tasks(ctx, instance)] == ["dispatch_supervision"]


def test_called_pathways_and_event_subprocesses_move_with_the_instance(school):
    """care_chain v2 carries diagnosis v2 (the diagnosis renamed, the treatment plan due in 4
    working days instead of 2) and its monthly visit is due in 4 working days instead of 3."""
    ctx, pathways = school.ctx, school.pathways
    called = ("diagnosis", "relief", "community_rehab")
    deploy_version(ctx, pathways, "care_chain", (pathways / "care_chain.bpmn").read_bytes(), *called)
    people.register_person(ctx, "CC-1", "王某", VILLAGE, gender="男", birth_date="1980-04-12")
    people.register_person(ctx, "CC-2", "孙某", VILLAGE, gender="女", birth_date="1979-03-02")
    in_diagnosis = services.start_instance(ctx, "care_chain", VILLAGE, {}, person="CC-1").instance
    in_visits = services.start_instance(ctx, "care_chain", VILLAGE, {}, person="CC-2").instance
    for instance in (in_diagnosis, in_visits):
        step(ctx, nov(2, 10), instance, "prevention_screen", "vdoc_zhao", POSITIVE)
        step(ctx, nov(3, 10), instance, "referral", "fdoc_zhou", CARE_REFERRAL)
    step(ctx, nov(4, 10), in_visits, "diagnose", "psychiatrist_zheng", DEPRESSION)
    step(ctx, nov(4, 15), in_visits, "treatment_plan", "psychiatrist_zheng", PLAN)
    step(ctx, nov(5, 10), in_visits, "form_team", "sw_tang", TEAM)      # the monthly cycle: 5 December first

    diagnosis = once((pathways / "diagnosis.bpmn").read_text(encoding="utf-8"), 'name="门诊诊断"', 'name="门诊诊断（首诊）"')
    diagnosis = once(diagnosis, 'camunda:formKey="diagnosis/treatment_plan.form" camunda:dueDate="${workdays(2)}"',
                     'camunda:formKey="diagnosis/treatment_plan.form" camunda:dueDate="${workdays(4)}"')
    (pathways / "diagnosis.bpmn").write_text(diagnosis, encoding="utf-8")
    care = once((pathways / "care_chain.bpmn").read_text(encoding="utf-8"),
                'camunda:formKey="care_chain/team_visit.form" camunda:dueDate="${workdays(3)}"',
                'camunda:formKey="care_chain/team_visit.form" camunda:dueDate="${workdays(4)}"')
    v2 = deploy_version(ctx, pathways, "care_chain", care.encode("utf-8"), "diagnosis")
    assert v2.version == 2

    plans = {p.instance: p for p in preview_migration(ctx, [in_diagnosis, in_visits], v2.version_id)}
    assert [(t["process"], *row) for t, row in zip(plans[in_diagnosis].tokens, tokens(plans[in_diagnosis]))] == [
        ("care_chain", "call_diagnosis", "STARTED", "call_diagnosis", []),
        ("diagnosis", "diagnose", "READY", "diagnose", ["名称"])]
    visit_tokens = {t["element"]: t for t in plans[in_visits].tokens}
    assert set(visit_tokens) == {"team_year", "monthly_visit", "visit_due"}
    assert (visit_tokens["visit_due"]["process"], visit_tokens["visit_due"]["state"]) == ("monthly_visit", "WAITING")
    assert visit_tokens["visit_due"]["note"] == "定时器保持原定触发时间 2026-12-05 10:00"

    results = migrate_instances(ctx, [in_diagnosis, in_visits], v2.version_id, "analyst_xu", now=nov(4, 9))
    assert [r.outcome for r in results] == ["migrated", "migrated"]

    after = step(ctx, nov(4, 10), in_diagnosis, "diagnose", "psychiatrist_zheng", DEPRESSION)
    assert task_by_element(after.tasks, "treatment_plan")["due_at"] == nov(10, 18)   # v1: the 6th
    assert services.tick(ctx.at(dec(5, 9, 59)))["timers_fired"] == 0
    assert services.tick(ctx.at(dec(5, 10)))["timers_fired"] == 1
    visit = task_by_element(open_tasks(ctx, in_visits), "team_visit")
    assert visit["due_at"] == dec(10, 18)                # Sat 5 Dec + 4 working days (v1: the 9th)


# --- who may migrate -----------------------------------------------------------------------------

COUNTY_ANALYSTS = """
users:
  - {username: analyst_jy, name: 江油分析员, roles: [{role: admin.analyst, org: "510781"}]}
  - {username: analyst_fc, name: 涪城分析员, roles: [{role: admin.analyst, org: "510703"}]}
"""


def test_access_predicates():
    county, other = "/510000/510700/510781/", "/510000/510700/510703/"
    village = county + "510781001/510781001001/"
    analyst = (("admin.analyst", county),)
    assert can_edit_pathways(analyst) and can_edit_pathways((("admin.analyst", other),))
    assert not can_edit_pathways((("health.supervisor", county),))
    assert can_migrate(analyst, village) and can_migrate((("admin.analyst", "/510000/"),), village)
    assert not can_migrate((("admin.analyst", other),), village)
    assert not can_migrate((("health.supervisor", county),), village)
    assert not can_migrate((("admin.analyst", village),), county)     # below the instance's unit


def test_only_an_analyst_over_the_instance_may_migrate_it(school, tmp_path):
    (tmp_path / "analysts.yaml").write_text(COUNTY_ANALYSTS, encoding="utf-8")
    load_directory(school.ctx.db, tmp_path / "analysts.yaml")
    ours = school.at_screening("A-1")                                 # 江油市
    people.register_person(school.ctx, "A-2", "周同学", OTHER_COUNTY_VILLAGE, birth_date="2011-01-01")
    theirs = services.start_instance(school.ctx, PROCESS, OTHER_COUNTY_VILLAGE, {}, person="A-2").instance
    v2 = school.deploy_v2()
    before = snapshot(school.ctx, [ours, theirs])

    with pytest.raises(NotFound) as outside:
        preview_migration_for_user(school.ctx, "analyst_fc", [theirs, ours], v2.version_id)
    with pytest.raises(NotFound) as missing:
        preview_migration_for_user(school.ctx, "analyst_fc", [theirs, 99999], v2.version_id)
    assert (outside.value.message, missing.value.message) == (f"实例 {ours} 不存在", "实例 99999 不存在")
    with pytest.raises(NotFound, match=f"实例 {ours} 不存在"):
        migrate_instances_for_user(school.ctx, "analyst_fc", [theirs, ours], v2.version_id)
    with pytest.raises(PermissionDenied, match="只有流程分析员"):
        preview_migration_for_user(school.ctx, "teacher_wang", [ours], v2.version_id)
    assert snapshot(school.ctx, [ours, theirs]) == before              # the refused call moved neither

    assert [p.ok for p in preview_migration_for_user(school.ctx, "analyst_jy", [ours], v2.version_id)] == [True]
    results = migrate_instances_for_user(school.ctx, "analyst_xu", [ours, theirs], v2.version_id, now=nov(2, 10))
    assert [r.outcome for r in results] == ["migrated", "migrated"]     # the city's analyst covers both
    assert events_of(school.ctx, theirs, "instance_migrated")[0].actor == "analyst_xu"


# --- the command line ----------------------------------------------------------------------------

def test_the_cli_previews_without_writing_and_migrates_refusing_loudly(school):
    screening, talk = school.at_screening("L-1"), school.at_talk("L-2")
    school.deploy_v2()
    cli = Cli(school.ctx.settings.database_url)
    before = snapshot(school.ctx, [screening, talk])

    preview = cli.run("instance", "migrate", "--to", "2", "--preview", "--json", str(screening), str(talk), check=False)

    assert preview.returncode == 1
    assert f"错误: 实例 {talk} 不能迁移：任务 followup_talk（心理教师跟进谈话）在版本 2 中不存在" in preview.stderr
    plans = json.loads(preview.stdout)
    assert [(p["instance"], p["ok"]) for p in plans] == [(screening, True), (talk, False)]
    assert plans[0]["tokens"][0]["lands_on_name"] == NEW_SCREENING_NAME
    assert snapshot(school.ctx, [screening, talk]) == before
    human = cli.run("instance", "migrate", "--to", "2", "--preview", str(screening)).stdout
    assert f"实例 {screening}（school_screening v1 → v2）：可以迁移" in human

    moved = cli.json("instance", "migrate", "--to", "2", "--actor", "analyst_xu", "--now", "2026-11-02T10:00:00+08:00",
                     str(screening))
    assert [(r["instance"], r["outcome"], r["to_version"]) for r in moved] == [(screening, "migrated", 2)]
    assert cli.json("instance", str(screening))["version_id"] == school.v2.version_id   # `instance ID` still shows it
    [event] = events_of(school.ctx, screening, "instance_migrated")
    assert (event.actor, event.at) == ("analyst_xu", nov(2, 10))

    refused = cli.run("instance", "migrate", "--to", "2", str(talk), check=False)
    assert refused.returncode == 1 and "未迁移" in refused.stdout
    missing = cli.run("instance", "migrate", "--to", "5", str(talk), check=False)
    assert missing.returncode == 1 and "路径 school_screening 没有版本 5" in missing.stderr
    assert snapshot(school.ctx, [talk])["rows"] == {talk: before["rows"][talk]}
