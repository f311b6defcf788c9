"""Form data at task completion (engine and web): too large, too many keys, too deep, not an
object, not JSON, wrong types, unknown keys — refused naming the field, the task still open and the
user's draft unchanged."""
from __future__ import annotations

import html
import json
import re

import pytest

from engine.errors import FormInvalid, InvalidInput
from engine.runtime import services
from engine.store.models import HumanTask, TaskDraft

from conftest import deploy_pathways, task_by_element
from hostile import VILLAGE, counts, nov
from web import MovableClock, WebClient, text_of

SCREENING = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
             "phq9_score": 14, "phq9_item9": 0}
DRAFT_DATA = {"grade": "g9", "screening_notes": "上周情绪低落，已与家长沟通。"}


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.fixture
def screening(region):
    """The teacher's open screening task with her saved draft: (ctx, task id)."""
    from engine import worklist
    deploy_pathways(region, "school_screening")
    started = services.start_instance(region, "school_screening", VILLAGE, {})
    task = task_by_element(started.tasks, "screening")
    worklist.save_draft(region, task["id"], "teacher_wang", DRAFT_DATA)
    return region, task["id"]


def unchanged(ctx, task_id: int, before: dict) -> None:
    """The refused submission changed nothing: same rows, the task still open, the draft as saved."""
    assert counts(ctx) == before
    with ctx.db.unit_of_work() as session:
        assert session.get(HumanTask, task_id).status == "open"
        assert session.get(TaskDraft, (task_id, "teacher_wang")).data == DRAFT_DATA


@pytest.mark.parametrize("data, field, reason", [
    ({"phq9_score": "十四", "grade": 9, "screening_date": True}, "phq9_score", "必须是数字"),
    ({**SCREENING, "evil": 1}, "evil", "未知字段 evil"),
    ({**SCREENING, "grade": nested(60)}, "grade", "嵌套超过 32 层"),
    pytest.param({**SCREENING, "screening_notes": "字" * 5_000_000}, "screening_notes", "内容过大"),
    pytest.param({f"k{n}": n for n in range(100_000)}, "_form", "字段过多：100000 个"),
    pytest.param({**SCREENING, "grade": nested(1000)}, "grade", "嵌套超过 32 层"),
])
def test_completion_refuses_bad_data_naming_the_field_and_changes_nothing(screening, data, field, reason):
    ctx, task_id = screening
    before = counts(ctx)
    with pytest.raises(FormInvalid) as refused:
        services.complete(ctx, task_id, "teacher_wang", data)
    assert any(reason in message for message in refused.value.fields.get(field, [])), refused.value.fields
    assert refused.value.fields_en[field]
    unchanged(ctx, task_id, before)


def test_completion_refuses_data_that_is_not_an_object(screening):
    ctx, task_id = screening
    before = counts(ctx)
    for data in ([SCREENING], "phq9_score=14", 14):
        with pytest.raises(InvalidInput, match="JSON 对象"):
            services.complete(ctx, task_id, "teacher_wang", data)
    unchanged(ctx, task_id, before)


@pytest.fixture
def teacher(screening):
    from webui import create_app
    ctx, task_id = screening
    client = WebClient(create_app(ctx, now=MovableClock(nov(2, 10)).now))
    client.login("teacher_wang")
    client.get(f"/tasks/{task_id}")
    return client, ctx, task_id


def page_errors(response) -> dict:
    """The server's messages the task page hands to its form (data-errors)."""
    found = re.search(r'data-errors="([^"]*)"', response.get_data(as_text=True))
    return json.loads(html.unescape(found.group(1))) if found else {}


@pytest.mark.parametrize("raw, status, expected", [
    (json.dumps({"phq9_score": "十四", "grade": 9}), 422, {"phq9_score": "必须是数字"}),
    (json.dumps({**SCREENING, "evil": 1}), 422, {"evil": "未知字段 evil"}),
    (json.dumps({**SCREENING, "grade": nested(500)}), 422, {"grade": "嵌套超过 32 层"}),
    ("[1, 2]", 400, "表单数据必须是对象"),
    ('{"phq9_score": 14,', 400, "表单数据不是有效的 JSON"),
    (json.dumps({**SCREENING, "screening_notes": "字" * 5_000_000}), 413, "超过上限 2 MB，未保存任何内容"),
    pytest.param(json.dumps({**SCREENING, "screening_notes": "x" * 1_000_000}), 422, {"screening_notes": "内容过大"}),
    pytest.param(json.dumps({f"k{n}": n for n in range(100_000)}), 422, {"_form": "字段过多"}),
    pytest.param('{"grade": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}", 400, "表单数据"),
])
def test_the_task_page_refuses_bad_data_saying_what_and_where_and_keeps_the_draft(teacher, raw, status, expected):
    client, ctx, task_id = teacher
    before = counts(ctx)
    answer = client.post(f"/tasks/{task_id}", {"action": "complete", "data": raw})
    assert answer.status_code == status
    if isinstance(expected, dict):
        errors = page_errors(answer)
        assert all(text in errors.get(key, "") for key, text in expected.items()), errors
        assert "提交未通过校验" in text_of(answer)
    else:
        assert expected in text_of(answer)
    unchanged(ctx, task_id, before)
    assert 'data-testid="draft-saved"' in client.get(f"/tasks/{task_id}").get_data(as_text=True)
