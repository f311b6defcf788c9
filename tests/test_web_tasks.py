"""Frontline pages through the real app (Flask's test client, real SQLite, the real school
screening pathway): sign-in, the inbox (jurisdiction, filters, sort, pages, remaining working
time), a task's page (person, form, draft, claim/release, server-side validation on the fields,
completed or taken tasks), notifications, and that nobody opens another township's task by URL."""
from __future__ import annotations

import json
import re
from datetime import datetime

import pytest

from engine.people import register_person
from engine.runtime import services

from conftest import SHANGHAI, deploy_pathways
from web import MovableClock, WebClient, text_of

TAIPING_VILLAGE, ZHONGBA_VILLAGE = "510781001001", "510781002001"
SCREENING = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
             "phq9_score": 14, "phq9_item9": 0, "screening_notes": "近两周上课注意力下降"}


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def site(region):
    """The demo region with school screening deployed, three students of 太平村 and one of
    中坝社区 waiting to be screened; the app's clock at Mon 2 Nov 10:00."""
    from webui import create_app
    deploy_pathways(region, "school_screening")
    students = {}
    for ref, name, village, hours in (("S-1", "张一", TAIPING_VILLAGE, 0), ("S-2", "张二", TAIPING_VILLAGE, 1),
                                      ("S-3", "张三", TAIPING_VILLAGE, 2), ("S-9", "李九", ZHONGBA_VILLAGE, 0)):
        at = region.at(nov(2, 9 + hours // 2, 30 * (hours % 2)))
        register_person(at, ref, name, village, gender="男", birth_date="2010-12-15")
        started = services.start_instance(at, "school_screening", village,
                                          {"student_birth_date": "2010-12-15"}, person=ref)
        students[ref] = started.tasks[0]["id"]
    clock = MovableClock(nov(2, 10))
    app = create_app(region, now=clock.now)
    return app, clock, students


def user(app, username: str) -> WebClient:
    client = WebClient(app)
    client.login(username)
    return client


# --- signing in ------------------------------------------------------------------------------------

def test_pages_need_a_signed_in_user_and_a_wrong_password_is_refused(site):
    app, _, students = site
    anonymous = WebClient(app)
    response = anonymous.get(f"/tasks/{students['S-1']}")
    assert response.status_code == 302 and response.headers["Location"].startswith(
        f"/login?next=/tasks/{students['S-1']}")
    refused = anonymous.post("/login", {"username": "teacher_wang", "password": "wrong"})
    assert refused.status_code == 401 and "用户名或密码错误" in text_of(refused)
    unknown = anonymous.post("/login", {"username": "nobody", "password": "carepath-demo"})
    assert unknown.status_code == 401
    signed_in = anonymous.post(f"/login?next=/tasks/{students['S-1']}",
                               {"username": "teacher_wang", "password": "carepath-demo"})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == f"/tasks/{students['S-1']}"
    outside = WebClient(app).post("/login?next=//evil.example/", {"username": "teacher_wang",
                                                                    "password": "carepath-demo"})
    assert outside.headers["Location"] == "/tasks"          # no open redirect


def test_forms_without_the_csrf_token_are_refused(site):
    app, _, students = site
    teacher = user(app, "teacher_wang")
    refused = teacher.post(f"/tasks/{students['S-1']}", {"action": "claim"}, csrf=False)
    assert refused.status_code == 400 and "表单已失效" in text_of(refused)
    assert services.list_tasks(app.extensions["carepath"].ctx, status="open")[0]["status"] == "open"
    login = WebClient(app).post("/login", {"username": "teacher_wang", "password": "carepath-demo"}, csrf=False)
    assert login.status_code == 400


def test_logout_ends_the_session(site):
    app, _, _ = site
    teacher = user(app, "teacher_wang")
    assert teacher.get("/tasks").status_code == 200
    assert teacher.post("/logout").status_code == 302
    assert teacher.get("/tasks").status_code == 302


# --- the inbox ----------------------------------------------------------------------------------

def test_inbox_lists_my_jurisdiction_sorted_by_due_with_remaining_working_days(site):
    app, clock, students = site
    page = user(app, "teacher_wang").get("/tasks")
    text = text_of(page)
    assert page.status_code == 200 and "共 3 项" in text
    rows = re.findall(r'data-task="(\d+)"', page.get_data(as_text=True))
    assert rows == [str(students[ref]) for ref in ("S-1", "S-2", "S-3")]      # by due, earliest first
    # Screening within 5 working days of Mon 2 Nov → Mon 9 Nov 18:00: at Mon 10:00, 5 left.
    assert text.count("2026-11-09 18:00") == 3 and "还剩 5 个工作日" in text
    assert str(students["S-9"]) not in rows                                 # 中坝镇's student
    other = user(app, "teacher_li").get("/tasks")
    assert re.findall(r'data-task="(\d+)"', other.get_data(as_text=True)) == [str(students["S-9"])]

    clock.set(nov(10, 9))                                                    # a day late
    late = text_of(user(app, "teacher_wang").get("/tasks?overdue=1"))
    assert "共 3 项" in late and "已超期 1 个工作日" in late


def test_inbox_sorts_filters_and_pages(site):
    app, _, students = site
    teacher = user(app, "teacher_wang")
    descending = teacher.get("/tasks?sort=-due").get_data(as_text=True)
    assert re.findall(r'data-task="(\d+)"', descending) == [str(students[r]) for r in ("S-3", "S-2", "S-1")]
    first = teacher.get("/tasks?per_page=2")
    assert re.findall(r'data-task="(\d+)"', first.get_data(as_text=True)) == [
        str(students["S-1"]), str(students["S-2"])]
    assert "第 1 / 2 页" in text_of(first) and 'rel="next"' in first.get_data(as_text=True)
    second = teacher.get("/tasks?per_page=2&page=2")
    assert re.findall(r'data-task="(\d+)"', second.get_data(as_text=True)) == [str(students["S-3"])]
    assert "共 0 项" in text_of(teacher.get("/tasks?pathway=severe_followup"))
    assert "共 3 项" in text_of(teacher.get("/tasks?org=510781001001"))
    assert "共 0 项" in text_of(teacher.get("/tasks?org=510781001002"))
    assert "共 3 项" in text_of(teacher.get("/tasks?stage=screening"))
    assert "共 0 项" in text_of(teacher.get("/tasks?stage=treatment"))
    assert teacher.get("/tasks?stage=bogus").status_code == 400
    assert teacher.get("/tasks?sort=nonsense").status_code == 400
    assert teacher.get("/tasks?page=x").status_code == 400


# --- a task's page ----------------------------------------------------------------------------

def form_errors(response) -> dict:
    found = re.search(r'data-errors="([^"]*)"', response.get_data(as_text=True))
    import html
    return json.loads(html.unescape(found.group(1)))


def test_task_page_shows_the_person_and_the_form_with_starting_values(site):
    app, _, students = site
    page = user(app, "teacher_wang").get(f"/tasks/{students['S-1']}")
    text = text_of(page)
    assert page.status_code == 200
    assert "学生心理健康筛查" in text and "张一" in text and "S-1" in text and "太平村" in text
    html_text = page.get_data(as_text=True)
    import html
    schema = json.loads(html.unescape(re.search(r'data-schema="([^"]*)"', html_text).group(1)))
    assert schema["id"] == "school_screening_screening"
    data = json.loads(html.unescape(re.search(r'data-data="([^"]*)"', html_text).group(1)))
    assert data == {"student_birth_date": "2010-12-15"}                  # from the instance
    assert 'data-readonly="false"' in html_text


def test_invalid_submission_shows_errors_on_the_fields_and_changes_nothing(site):
    app, _, students = site
    teacher = user(app, "teacher_wang")
    task = students["S-1"]
    bad = {**SCREENING, "phq9_score": 40}
    del bad["grade"]
    refused = teacher.post(f"/tasks/{task}", {"action": "complete", "data": json.dumps(bad)})
    assert refused.status_code == 422
    errors = form_errors(refused)
    assert set(errors) == {"phq9_score", "grade"} and "27" in errors["phq9_score"]
    assert "提交未通过校验" in text_of(refused)
    # What the user typed comes back to the form, not the stored values.
    assert '&#34;phq9_score&#34;: 40' in refused.get_data(as_text=True)
    assert services.tasks_for_user(app.extensions["carepath"].ctx.at(nov(2, 10)), "teacher_wang")[0]["status"] == "open"

    done = teacher.post(f"/tasks/{task}", {"action": "complete", "data": json.dumps(SCREENING)})
    assert done.status_code == 302 and done.headers["Location"] == "/tasks"
    assert "任务已完成" in text_of(teacher.get("/tasks"))
    after = text_of(teacher.get(f"/tasks/{task}"))
    assert "此任务已由 王老师 于 2026-11-02 10:00 完成" in after


def test_english_errors_when_english_is_chosen(site):
    app, _, students = site
    teacher = user(app, "teacher_wang")
    teacher.get("/lang/en?next=/tasks")
    refused = teacher.post(f"/tasks/{students['S-1']}", {"action": "complete",
                                                         "data": json.dumps({**SCREENING, "phq9_score": 40})})
    assert refused.status_code == 422
    assert re.search(r"[A-Za-z]", form_errors(refused)["phq9_score"]) and "27" in form_errors(refused)["phq9_score"]


def test_drafts_are_kept_per_user_until_completion(site):
    app, _, students = site
    teacher = user(app, "teacher_wang")
    task = students["S-2"]
    partial = {"student_birth_date": "2010-12-15", "phq9_score": 30}          # invalid: a draft may be
    saved = teacher.post(f"/tasks/{task}", {"action": "save", "data": json.dumps(partial)})
    assert saved.status_code == 302
    page = teacher.get(f"/tasks/{task}")
    assert "草稿已保存" in text_of(page) and "草稿保存于 2026-11-02 10:00" in text_of(page)
    assert "&#34;phq9_score&#34;: 30" in page.get_data(as_text=True)
    assert teacher.post(f"/tasks/{task}", {"action": "save", "data": "not json"}).status_code == 400
    teacher.post(f"/tasks/{task}", {"action": "complete", "data": json.dumps(SCREENING)})
    from engine.store.models import TaskDraft
    with app.extensions["carepath"].ctx.db.unit_of_work() as session:
        assert session.get(TaskDraft, (task, "teacher_wang")) is None


def test_claim_release_and_a_task_taken_by_a_colleague(site):
    app, _, students = site
    task = students["S-3"]
    wang = user(app, "teacher_wang")
    claimed = wang.post(f"/tasks/{task}", {"action": "claim"})
    assert claimed.status_code == 302
    assert "已认领" in text_of(wang.get(f"/tasks/{task}"))
    colleague = user(app, add_colleague(app, "teacher_zhao", "赵老师", "education.teacher", "510781001"))
    page = colleague.get(f"/tasks/{task}")
    assert "此任务已由 王老师 认领，只有认领人可以处理" in text_of(page)
    assert 'data-readonly="true"' in page.get_data(as_text=True) and 'value="complete"' not in page.get_data(as_text=True)
    assert str(task) not in re.findall(r'data-task="(\d+)"', colleague.get("/tasks").get_data(as_text=True))
    taken = colleague.post(f"/tasks/{task}", {"action": "complete", "data": json.dumps(SCREENING)})
    assert taken.status_code == 403 and "只有认领人可以完成" in text_of(taken)
    released = wang.post(f"/tasks/{task}", {"action": "release"})
    assert released.status_code == 302 and "已退回" in text_of(wang.get(f"/tasks/{task}"))


def add_colleague(app, username: str, name: str, role: str, org: str) -> str:
    """A second member of staff in the same role and unit (the demo has one teacher per township)."""
    from engine.directory import hash_password
    from engine.store.directory import replace_memberships, upsert_user
    with app.extensions["carepath"].ctx.db.unit_of_work() as session:
        replace_memberships(session, upsert_user(session, username, name, hash_password("carepath-demo")),
                            [(role, org)])
    return username


# --- jurisdiction ---------------------------------------------------------------------------------

def test_another_township_never_opens_a_task_by_url(site):
    app, _, students = site
    outsider = user(app, "teacher_li")                                        # 中坝镇
    task = students["S-1"]
    nothing_there = text_of(outsider.get("/tasks/999999"))
    for response in (outsider.get(f"/tasks/{task}"),
                     outsider.post(f"/tasks/{task}", {"action": "claim"}),
                     outsider.post(f"/tasks/{task}", {"action": "save", "data": "{}"}),
                     outsider.post(f"/tasks/{task}", {"action": "complete", "data": json.dumps(SCREENING)})):
        # exactly what a task id that does not exist gets: nothing tells them it is there
        assert response.status_code == 404
        assert text_of(response).replace(f"任务 {task} ", "任务 999999 ") == nothing_there
        assert "张一" not in text_of(response) and "学生心理健康筛查" not in text_of(response)
    assert services.list_tasks(app.extensions["carepath"].ctx.at(nov(2, 10)))[0]["status"] == "open"
