"""The inbox reads grants, one row per way in: a task is offered to its role at its unit and at
every unit above it, and nowhere else; claiming makes it the claimer's alone and releasing gives it
back; the grants' deadline order follows the task's deadline through extend, pause and resume,
recompute and reassign; a page is the same as the rule applied to every task; each branch of the
page is an ordered walk of its index; the migration rebuilds the grants either way."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.access import Actor, TaskView, is_candidate
from engine.calendars import import_calendar
from engine.escalation import actions
from engine.pathways import deploy_files
from engine.runtime import services, sla
from engine.store import runtime as repo
from engine.store import worklist as worklist_repo
from engine.store.migrations import runner
from engine.store.grants import NO_DEADLINE
from engine.store.models import HumanTask, TaskGrant
from engine.worklist import inbox as web_inbox

from conftest import BPMN, DATA, SHANGHAI, T0, task_by_element
from plans import explain, scans

TEACHER = "education.teacher"
PROVINCE, CITY, COUNTY = "/510000/", "/510000/510700/", "/510000/510700/510781/"
TAIPING = COUNTY + "510781001/"
ZHONGBA = COUNTY + "510781002/"
TAIPING_VILLAGE = TAIPING + "510781001001/"
FUCHENG = CITY + "510703/"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def expected_grants(task: HumanTask) -> set[tuple]:
    """(role, scope, username, due_sort) the task should have, straight from the rule."""
    due = task.due_at or NO_DEADLINE
    if task.status == "claimed":
        return {(None, None, task.assignee, due)}
    if task.status != "open":
        return set()
    codes = [c for c in task.org_path.split("/") if c]
    return ({(role, code, None, due) for role in task.candidate_roles or () for code in codes}
            | {(None, None, user, due) for user in {*(task.candidate_users or ()),
                                                      *([task.assignee] if task.assignee else [])}})


def stored_grants(session, task_id: int) -> list[tuple]:
    return sorted(((g.role_code, g.scope_code, g.username, g.due_sort) for g in session.scalars(
        select(TaskGrant).where(TaskGrant.task_id == task_id))), key=repr)


def assert_grants_mirror_tasks(ctx) -> None:
    """Every task's stored grants are exactly what the rule gives for the task as it is now."""
    with ctx.db.unit_of_work() as session:
        for task in session.scalars(select(HumanTask)):
            stored = stored_grants(session, task.id)
            assert len(stored) == len(set(stored)), (task.id, stored)
            assert set(stored) == expected_grants(task), (task.id, task.status, task.due_at, stored)


def inbox_ids(ctx, username: str, grants: list[tuple[str, str]], **filters) -> list[int]:
    with ctx.db.unit_of_work() as session:
        return [t.id for t in repo.inbox(session, username, grants, limit=500, **filters)]


def screening_task(ctx) -> dict:
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    return services.start_instance(ctx, "school_screening", "510781001", {}).tasks[0]


def follow_up(ctx, org: str = "510781001", phq9: int = 1) -> dict:
    started = services.start_instance(ctx, "scored_referral", org, {})
    doctor = {"510781001": "doctor_a", "510703001": "fc_doctor"}[org]
    after = services.complete(ctx, started.tasks[0]["id"], doctor, {"phq9": phq9})
    return task_by_element(after.tasks, "follow_up" if phq9 < 10 else "refer")


# --- who sees a task ----------------------------------------------------------------------------

def test_a_task_is_offered_at_every_unit_of_its_chain_and_nowhere_else(ctx):
    screen = screening_task(ctx)
    with ctx.db.unit_of_work() as session:
        task = session.get(HumanTask, screen["id"])
        roles = list(task.candidate_roles)
        assert task.org_path == TAIPING and roles
        assert {(r, s) for r, s, _, _ in stored_grants(session, task.id)} == {
            (role, code) for role in roles for code in ("510000", "510700", "510781", "510781001")}
    role = roles[0]
    for path in (PROVINCE, CITY, COUNTY, TAIPING):          # the unit and each unit above it
        assert inbox_ids(ctx, "nobody", [(role, path)]) == [screen["id"]], path
    for path in (ZHONGBA, FUCHENG, TAIPING_VILLAGE):         # a sibling, a cousin, a unit below
        assert inbox_ids(ctx, "nobody", [(role, path)]) == [], path
    assert inbox_ids(ctx, "nobody", [("health.family_doctor", TAIPING)]) == []     # another role
    # the same through the services, with the directory's memberships
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_a")] == [screen["id"]]
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_county")] == [screen["id"]]
    assert services.tasks_for_user(ctx, "teacher_b") == []
    assert_grants_mirror_tasks(ctx)


def test_claim_hides_the_task_from_the_others_and_release_brings_it_back(ctx):
    screen = screening_task(ctx)
    with ctx.db.unit_of_work() as session:
        offered = stored_grants(session, screen["id"])
    services.claim(ctx, screen["id"], "teacher_a")
    with ctx.db.unit_of_work() as session:
        assert stored_grants(session, screen["id"]) == [(None, None, "teacher_a", NO_DEADLINE)]
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_a")] == [screen["id"]]
    assert services.tasks_for_user(ctx, "teacher_county") == []
    assert web_inbox(ctx, "teacher_county")["total"] == 0
    assert web_inbox(ctx, "teacher_a")["total"] == 1

    services.release(ctx, screen["id"], "teacher_a")
    with ctx.db.unit_of_work() as session:
        assert stored_grants(session, screen["id"]) == offered
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_county")] == [screen["id"]]
    assert web_inbox(ctx, "teacher_county")["total"] == 1

    services.complete(ctx, screen["id"], "teacher_county", {"score": 1})
    with ctx.db.unit_of_work() as session:
        assert stored_grants(session, screen["id"]) == []
    assert_grants_mirror_tasks(ctx)


def test_a_disabled_users_claims_go_back_to_the_candidates(ctx):
    screen = screening_task(ctx)
    services.claim(ctx, screen["id"], "teacher_a")
    with ctx.db.unit_of_work() as session:
        assert services.release_claims_of(ctx, session, "teacher_a", "admin", "停用")["released"] == [screen["id"]]
    assert [t["id"] for t in services.tasks_for_user(ctx, "teacher_county")] == [screen["id"]]
    assert_grants_mirror_tasks(ctx)


# --- due_sort follows due_at --------------------------------------------------------------------

def due_sorts(ctx, task_id: int) -> set[datetime]:
    with ctx.db.unit_of_work() as session:
        return set(session.scalars(select(TaskGrant.due_sort).where(TaskGrant.task_id == task_id)))


def due_at(ctx, task_id: int) -> datetime | None:
    with ctx.db.unit_of_work() as session:
        return session.get(HumanTask, task_id).due_at


def test_due_sort_follows_due_at_through_extend_pause_resume_reassign_and_recompute(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    follow = follow_up(ctx)
    first = due_at(ctx, follow["id"])
    assert first is not None and due_sorts(ctx, follow["id"]) == {first}

    actions.extend(ctx, follow["id"], "sun_sup", workdays=2, reason="家属外出")
    extended = due_at(ctx, follow["id"])
    assert extended > first and due_sorts(ctx, follow["id"]) == {extended}

    sla.pause(ctx.at(T0 + timedelta(hours=1)), follow["id"], "doctor_a", "失联")
    sla.resume(ctx.at(T0 + timedelta(days=3)), follow["id"], "doctor_a")
    resumed = due_at(ctx, follow["id"])
    assert resumed > extended and due_sorts(ctx, follow["id"]) == {resumed}

    actions.reassign(ctx, follow["id"], "sun_sup", to_org="510781002", reason="转至中坝镇")
    assert due_sorts(ctx, follow["id"]) == {resumed}
    assert inbox_ids(ctx, "x", [("health.family_doctor", ZHONGBA)]) == [follow["id"]]
    assert inbox_ids(ctx, "x", [("health.family_doctor", TAIPING)]) == []
    actions.reassign(ctx, follow["id"], "sun_sup", to_user="doctor_a", reason="指定周医生")
    assert inbox_ids(ctx, "doctor_a", []) == [follow["id"]]
    assert inbox_ids(ctx, "x", [("health.family_doctor", COUNTY)]) == []
    assert_grants_mirror_tasks(ctx)


def test_due_sort_follows_a_calendar_recompute(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    follow = follow_up(ctx.at(local(2027, 2, 10, 10)))      # 2027 not yet official: provisional
    projected = due_at(ctx, follow["id"])
    result = import_calendar(ctx.at(local(2026, 12, 2, 9)), DATA / "calendar" / "national-2027.yaml")
    assert [c["task"] for c in result["recomputed"]] == [follow["id"]]
    recomputed = due_at(ctx, follow["id"])
    assert recomputed != projected and due_sorts(ctx, follow["id"]) == {recomputed}
    assert_grants_mirror_tasks(ctx)


# --- a page is the rule applied to every task ---------------------------------------------------

def reference(ctx, username: str, grants, now, **filters) -> list[int]:
    """The inbox by the access rule over every task row, filtered and sorted in Python."""
    actor = Actor(username, tuple(grants))
    rows = []
    with ctx.db.unit_of_work() as session:
        for t in session.scalars(select(HumanTask)):
            view = TaskView(t.status, t.assignee, tuple(t.candidate_roles or ()), tuple(t.candidate_users or ()),
                            t.org_path)
            if not ((t.status == "open" and is_candidate(actor, view))
                    or (t.status == "claimed" and t.assignee == username)):
                continue
            if (filters.get("process_id") and t.process_id != filters["process_id"]
                    or filters.get("role") and t.role_code != filters["role"]
                    or filters.get("org_path") and not t.org_path.startswith(filters["org_path"])
                    or filters.get("overdue_before") and not (t.due_at and t.due_at < filters["overdue_before"])):
                continue
            rows.append((t.due_at is None, t.due_at or now, t.id))
    return [task_id for *_, task_id in sorted(rows)]


@pytest.fixture
def busy(ctx):
    """Tasks with and without deadlines over two townships and two counties, one claimed."""
    deploy_files(ctx, [BPMN / "scored_referral.bpmn", BPMN / "school_screening.bpmn"])
    for hours, org, phq9 in ((0, "510781001", 1), (5, "510703001", 1), (30, "510781001", 15),
                             (2, "510703001", 1), (50, "510781001", 1), (1, "510781001", 15)):
        follow_up(ctx.at(T0 + timedelta(hours=hours)), org, phq9)
    for org in ("510781001", "510781002", "510781001"):
        services.start_instance(ctx, "scored_referral", org, {})      # assess: no deadline
    claimed = services.start_instance(ctx, "scored_referral", "510781001", {}).tasks[0]
    services.claim(ctx, claimed["id"], "doctor_a")
    return ctx


CASES = [
    ("doctor_a", [("health.family_doctor", TAIPING), ("health.psychiatrist", COUNTY)], {}),
    # two memberships that overlap: each task once
    ("x", [("health.family_doctor", COUNTY), ("health.family_doctor", TAIPING)], {}),
    ("x", [("health.family_doctor", PROVINCE)], {}),
    ("x", [("health.family_doctor", PROVINCE)], {"org_path": ZHONGBA}),
    ("x", [("health.family_doctor", TAIPING)], {"org_path": COUNTY}),
    ("x", [("health.family_doctor", TAIPING)], {"org_path": ZHONGBA}),
    ("doctor_a", [("health.family_doctor", TAIPING), ("health.psychiatrist", COUNTY)], {"role": "health.psychiatrist"}),
    ("x", [("health.family_doctor", PROVINCE)], {"process_id": "scored_referral"}),
    ("x", [("health.family_doctor", PROVINCE)], {"process_id": "school_screening"}),
]


@pytest.mark.parametrize("username,grants,filters", CASES)
def test_every_page_and_count_is_the_rule_applied_to_every_task(busy, username, grants, filters):
    now = T0 + timedelta(days=2)
    assert reference(busy, username, grants, now, **filters) or filters   # unfiltered: not empty
    for with_overdue in (filters, {**filters, "overdue_before": now}):
        expected = reference(busy, username, grants, now, **with_overdue)
        with busy.db.unit_of_work() as session:
            assert [t.id for t in repo.inbox(session, username, grants, limit=500, **with_overdue)] == expected
            assert repo.inbox_count(session, username, grants, **with_overdue) == len(expected)
            for limit, offset in ((2, 0), (2, 2), (3, 4), (5, 100)):
                page, total = worklist_repo.inbox_page(session, username, grants, "due", limit, offset, **with_overdue)
                assert ([t.id for t in page], total) == (expected[offset:offset + limit], len(expected))
            by_created, total = worklist_repo.inbox_page(session, username, grants, "created", 500, 0, **with_overdue)
            assert sorted(t.id for t in by_created) == sorted(expected) and total == len(expected)


# --- the plan -------------------------------------------------------------------------------------

def test_each_branch_of_the_page_is_an_ordered_walk_of_its_index(busy):
    grants = [("health.family_doctor", TAIPING), ("health.psychiatrist", COUNTY)]
    filters = repo.InboxFilters(overdue_before=T0 + timedelta(days=2))
    with busy.db.engine.connect() as connection:
        for branch in repo.inbox_branches("doctor_a", grants, filters):
            query = branch.order_by(TaskGrant.due_sort, TaskGrant.task_id).limit(50)
            compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
            plan = explain(connection, str(compiled))
            assert "ix_task_grants_scope_due" in plan or "ix_task_grants_user_due" in plan, plan
            assert not scans(plan, "task_grants"), plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan    # no sort of what is visible
    with busy.db.unit_of_work() as session:
        page = repo.inbox(session, "doctor_a", grants, limit=3)
    assert [t.id for t in page] == reference(busy, "doctor_a", grants, T0)[:3]


# --- the migration ------------------------------------------------------------------------------

def all_grants(ctx) -> list[tuple]:
    with ctx.db.engine.connect() as connection:
        return sorted((tuple(row) for row in connection.exec_driver_sql(
            "SELECT task_id, role_code, scope_code, org_path, username, due_sort FROM task_grants")), key=repr)


def test_0003_rebuilds_the_grants_down_and_up(busy):
    assert_grants_mirror_tasks(busy)
    before = all_grants(busy)
    assert before
    busy.db.engine.dispose()
    assert runner.downgrade(busy.db, "0002_due_order") == [
        "0008_lean_indexes", "0007_reference_token", "0006_simulations", "0005_message_scope", "0004_api_clients",
        "0003_inbox_scope"]
    with busy.db.engine.connect() as connection:
        old = sorted((tuple(row) for row in connection.exec_driver_sql(
            "SELECT task_id, role_code, org_path, username FROM task_grants")), key=repr)
    with busy.db.unit_of_work() as session:     # the old shape: a role row per active task, its path
        tasks = list(session.scalars(select(HumanTask).where(HumanTask.status.in_(("open", "claimed")))))
    assert old == sorted(
        [(t.id, role, t.org_path, None) for t in tasks for role in t.candidate_roles]
        + [(t.id, None, None, user) for t in tasks
           for user in sorted({*(t.candidate_users or ()), *([t.assignee] if t.assignee else [])})], key=repr)
    busy.db.engine.dispose()
    assert runner.upgrade(busy.db).applied == ["0003_inbox_scope", "0004_api_clients", "0005_message_scope",
                                                "0006_simulations", "0007_reference_token", "0008_lean_indexes"]
    assert all_grants(busy) == before
    assert_grants_mirror_tasks(busy)
