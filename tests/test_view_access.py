"""Who may open a person's journey or an instance's diagram: pure predicates (engine.access), then
the services the web handlers call (engine.journeys.person_for_user / instance_for_user), which
refuse with a message that gives nothing of the person away. Demo region; T0 = Mon 2 Nov 2026."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.access import Actor, can_view_instance
from engine.errors import NotFound, PermissionDenied
from engine.escalation import actions
from engine.journeys import instance_diagram, person_journey
from engine.records import instance_for_user, person_for_user
from engine.pathways import deploy_files
from engine.privacy.rules import reading
from engine.people import register_person
from engine.runtime import services
from engine.store.people import person_by_ref

from conftest import BPMN, SHANGHAI, T0, deploy_pathways, task_by_element

PROVINCE = "/510000/"
CITY = "/510000/510700/"
JIANGYOU = "/510000/510700/510781/"
TAIPING = "/510000/510700/510781/510781001/"
TAIPING_VILLAGE = "/510000/510700/510781/510781001/510781001001/"
ZHONGBA = "/510000/510700/510781/510781002/"
FUCHENG = "/510000/510700/510703/"
FUCHENG_STREET = "/510000/510700/510703/510703001/"


def actor(*grants: tuple[str, str], username: str = "someone") -> Actor:
    return Actor(username, tuple(grants))


# --- the predicates alone ----------------------------------------------------------------------

@pytest.mark.parametrize("grant, allowed", [
    (("education.teacher", TAIPING_VILLAGE), True),      # the person's own unit
    (("education.teacher", TAIPING), True),              # the township above it
    (("civil.relief_officer", JIANGYOU), True),          # any role counts
    (("health.mh_center_expert", CITY), True),
    (("health.supervisor", PROVINCE), True),
    (("education.teacher", ZHONGBA), False),             # another township of the same county
    (("health.psychiatrist", FUCHENG), False),           # another county
    (("civil.social_worker", FUCHENG_STREET), False),
], ids=["own-village", "township", "county", "city", "province", "other-township", "other-county",
        "other-county-street"])
def test_a_person_is_visible_from_their_unit_and_every_unit_above(grant, allowed):
    assert can_view_person(actor(grant), TAIPING_VILLAGE) is allowed


def can_view_person(who: Actor, person_path: str) -> bool:
    """A person's journey opens to whoever reads their basic information (engine.privacy.rules),
    which every role does unless its tiers say otherwise."""
    return reading(who.grants, {}, [person_path], now=T0).may("basic")


def test_a_unit_below_the_persons_does_not_see_them():
    assert can_view_person(actor(("health.village_doctor", TAIPING_VILLAGE)), TAIPING) is False
    assert can_view_person(actor(), TAIPING_VILLAGE) is False
    # A path is matched as a whole unit, not as a string prefix of a sibling's code.
    assert can_view_person(actor(("health.family_doctor", "/510000/510700/510781/51078100/")), TAIPING) is False
    assert can_view_person(actor(("education.teacher", ZHONGBA), ("civil.social_worker", TAIPING)),
                           TAIPING_VILLAGE) is True


def test_an_instance_is_visible_from_its_unit_or_from_the_unit_of_any_of_its_tasks():
    fucheng = actor(("health.psychiatrist", FUCHENG), username="psychiatrist_bai")
    assert can_view_instance(fucheng, TAIPING_VILLAGE, [CITY, JIANGYOU]) is False
    assert can_view_instance(fucheng, TAIPING_VILLAGE, [CITY, FUCHENG]) is True          # a task moved there
    assert can_view_instance(fucheng, FUCHENG_STREET, []) is True
    assert can_view_instance(actor(("health.mh_center_expert", CITY)), TAIPING_VILLAGE, []) is True
    assert can_view_instance(actor(("education.teacher", ZHONGBA)), TAIPING_VILLAGE, [TAIPING, JIANGYOU]) is False
    # Someone named on one of its tasks sees it wherever they work.
    assert can_view_instance(fucheng, TAIPING, [TAIPING], task_people=["psychiatrist_bai"]) is True
    assert can_view_instance(fucheng, TAIPING, [TAIPING], task_people=["psychiatrist_zheng"]) is False
    assert can_view_instance(actor(username="nobody"), TAIPING, [TAIPING]) is False


# --- through the services ----------------------------------------------------------------------

SCREEN_POSITIVE = {"student_birth_date": "2010-06-01", "grade": "g9", "screening_date": "2026-11-02",
                   "phq9_score": 15, "phq9_item9": 0, "screening_notes": "近两周上课注意力下降"}
REFUSED_PERSON = "无权查看此人员的服务记录（不在您的辖区内）"
REFUSED_INSTANCE = "无权查看此流程实例（不在您的辖区内）"


@pytest.fixture
def screened(region):
    """S-1, a student of 太平村, screened positive: the consult waits at the city."""
    deploy_pathways(region, "school_screening")
    register_person(region, "S-1", "李同学", "510781001001", gender="女")
    started = services.start_instance(region.at(T0), "school_screening", "510781001001", {}, person="S-1")
    services.complete(region.at(T0), task_by_element(started.tasks, "screening")["id"], "teacher_wang",
                      SCREEN_POSITIVE)
    with region.db.unit_of_work() as session:
        person = person_by_ref(session, "S-1").id
    return region, person, started.instance


@pytest.mark.parametrize("username", ["teacher_wang", "vdoc_zhao", "psychiatrist_zheng", "expert_chen",
                                      "health_sup_prov"])
def test_people_over_the_persons_unit_see_the_journey_and_the_instance(screened, username):
    ctx, person, instance = screened
    seen, journey = person_for_user(ctx, person, username), person_journey(ctx, person)
    assert {key: seen[key] for key in journey} == journey
    assert seen["reading"]["tiers"][0] == "basic" and seen["reading"]["basis"]["basic"] == "role"
    diagram = instance_for_user(ctx, instance, username)
    assert diagram == instance_diagram(ctx, instance)


@pytest.mark.parametrize("username", ["teacher_li", "vdoc_cao", "psychiatrist_bai", "teacher_song"])
def test_another_township_or_county_is_refused_without_being_told_anything(screened, username):
    ctx, person, instance = screened
    with pytest.raises(PermissionDenied) as refused:
        person_for_user(ctx, person, username)
    assert refused.value.message == REFUSED_PERSON               # no name, ref, unit or task in it
    with pytest.raises(PermissionDenied) as refused:
        instance_for_user(ctx, instance, username)
    assert refused.value.message == REFUSED_INSTANCE


def test_missing_is_not_found_and_an_unknown_user_is_refused(screened):
    ctx, person, instance = screened
    with pytest.raises(NotFound):
        person_for_user(ctx, person + 1000, "teacher_wang")
    with pytest.raises(NotFound):
        instance_for_user(ctx, instance + 1000, "teacher_wang")
    with pytest.raises(PermissionDenied):
        person_for_user(ctx, person, "nobody_at_all")
    with pytest.raises(PermissionDenied):
        instance_for_user(ctx, instance, "nobody_at_all")


def test_a_task_moved_to_another_county_opens_the_instance_there_but_not_the_person(screened):
    ctx, person, instance = screened
    consult = task_by_element(services.list_tasks(ctx, instance_id=instance), "remote_consult")
    moment = datetime(2026, 11, 3, 9, tzinfo=SHANGHAI)
    with pytest.raises(PermissionDenied):
        instance_for_user(ctx.at(moment), instance, "psychiatrist_bai")
    # The city supervisor hands the consult to 涪城区 (within the city's jurisdiction).
    actions.reassign(ctx.at(moment), consult["id"], "health_sup_city", to_org="510703",
                     reason="由涪城区代为会诊")
    assert instance_for_user(ctx.at(moment), instance, "psychiatrist_bai")["instance"] == instance
    assert instance_for_user(ctx.at(moment), instance, "relief_zheng")["instance"] == instance   # any role there
    with pytest.raises(PermissionDenied, match=REFUSED_PERSON):
        person_for_user(ctx.at(moment), person, "psychiatrist_bai")
    with pytest.raises(PermissionDenied):
        instance_for_user(ctx.at(moment), instance, "teacher_li")   # 中坝镇: neither unit


def test_someone_named_on_a_task_opens_its_instance_wherever_they_work(region):
    deploy_files(region, [BPMN / "assignment_forms.bpmn"])
    started = services.start_instance(region, "assignment_forms", "510781001",
                                      {"case_manager": "psychiatrist_bai", "home_county": "510781"})
    mine = task_by_element(started.tasks, "by_assignee")
    assert (mine["assignee"], mine["org"]) == ("psychiatrist_bai", "510781001")
    # 涪城区's psychiatrist is the named case manager of a 太平镇 instance: the task opens it.
    assert instance_for_user(region, started.instance, "psychiatrist_bai")["instance"] == started.instance
    with pytest.raises(PermissionDenied):
        instance_for_user(region, started.instance, "relief_zheng")        # a colleague of his county is not
    services.complete(region, mine["id"], "psychiatrist_bai", {})
    assert "by_assignee" in instance_for_user(region, started.instance, "psychiatrist_bai")["markers"]["completed"]
