"""Forms (JSON): the form editor's save and form files: deep nesting, non-object roots, a
`<!DOCTYPE` string that is only text; form keys leaving the forms directory in the modeler's form
routes and in a BPMN `camunda:formKey` — each refused saying what was wrong and where, nothing
stored and the saved revision kept."""
from __future__ import annotations

import html
import json
import shutil
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from engine.errors import InvalidInput, PathwayInvalid
from engine.pathways import deploy_files
from engine.store.models import PathwayVersion

from conftest import PATHWAYS
from hostile import FORM_KEY, LINES, SOURCE, analyst, app, counts, library, post_body  # noqa: F401  (app, library are fixtures)
from web import WebClient, text_of


def form_of(client: WebClient, key: str = FORM_KEY) -> dict:
    return json.loads(client.get(f"/modeler/forms/source/{key}").data)


def test_the_form_editor_refuses_hostile_json_saying_what_and_keeps_the_saved_revision(app, region):
    client = analyst(app)
    form = form_of(client)
    form["components"][0]["text"] = "## 第一版草稿"
    url = f"/modeler/forms/save/{FORM_KEY}"
    first = json.dumps(form, ensure_ascii=False).encode()
    assert post_body(client, url, first, "application/json", 0).get_json()["revision"] == 1
    kept = client.get(f"/modeler/forms/source/{FORM_KEY}").data
    before = counts(region)
    refusals = {
        b"[" * 100_000 + b"]" * 100_000: "嵌套超过 64 层",
        b'{"type": "default", "components": [' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"]}": "嵌套超过 64 层",
        b"[]": "而不是 数组", b'"<form/>"': "而不是 字符串", b"42": "而不是 数字", b"null": "而不是 null",
        b"true": "而不是 布尔值", b'{"type": "default",': "第 1 行第 20 列", b"\xff\xfe{}": "第 1 字节不是 UTF-8",
    }
    for payload, reason in refusals.items():
        answer = post_body(client, url, payload, "application/json", 1)
        assert answer.status_code == 400, reason
        error = answer.get_json()["error"]
        assert FORM_KEY in error and reason in error and "未保存" in error, error
    assert counts(region) == before
    assert client.get(f"/modeler/forms/source/{FORM_KEY}").data == kept


def test_a_doctype_string_in_a_form_is_only_text(app, region):
    client = analyst(app)
    form = form_of(client)
    text = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    form["components"][0]["text"] = text
    saved = post_body(client, f"/modeler/forms/save/{FORM_KEY}", json.dumps(form).encode(), "application/json", 0)
    assert saved.status_code == 200 and saved.get_json()["problems"] == []
    assert form_of(client)["components"][0]["text"] == text
    deployed = client.client.post("/modeler/pathways/school_screening/deploy",
                                  data=json.dumps({"comment": "说明文字", "revision": 0}),
                                  headers={"Content-Type": "application/json", "X-CSRFToken": client.token})
    assert deployed.get_json()["version"] == 2
    with region.db.unit_of_work() as session:
        v2 = session.scalar(select(PathwayVersion).where(PathwayVersion.version == 2))
        assert v2.forms[FORM_KEY]["components"][0]["text"] == text          # kept as written, not parsed


@pytest.mark.parametrize("content, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "嵌套超过 64 层"),
    (b'{"type": "default", "components": [], "x": ' + b"[" * 80 + b"]" * 80 + b"}", "嵌套超过 64 层"),
    (b'[{"type": "default"}]', "表单必须是 JSON 对象"),
    (b'{"type": "default", "components": [' + b" " * 10_000_000 + b"]}", "过大"),
    (b'{"type": "default", "components": [}', "第 1 行第 36 列"),
])
def test_a_hostile_form_file_is_refused_at_its_task_and_nothing_deploys(ctx, library, content, reason):
    shutil.copy(PATHWAYS / "school_screening.bpmn", library / "pathways")
    (library / "forms" / FORM_KEY).write_bytes(content)
    line = next(n for n, text in enumerate(LINES, 1) if b'<bpmn:userTask id="screening"' in text)
    with pytest.raises(PathwayInvalid) as refused:
        deploy_files(ctx, [library / "pathways" / "school_screening.bpmn"])
    found = [p for p in refused.value.problems if p.element == "screening"]
    assert found and found[0].line == line and FORM_KEY in found[0].message and reason in found[0].message, found
    assert counts(ctx)["pathway_versions"] == 0


TRAVERSALS = ["..%2Fescape.form", "..%2f..%2fescape.form", "a/%00.form", "a%5C..%5Cescape.form",
              "school_screening%5Cscreening.form", "%2E%2E/escape.form", "school_screening/../../escape.form"]


def test_form_keys_cannot_leave_the_forms_directory_through_any_form_route(app, region):
    client = analyst(app)
    before = counts(region)
    body = b'{"type": "default", "components": []}'
    for key in TRAVERSALS:
        answers = [client.get(f"/modeler/forms/edit/{key}"), client.get(f"/modeler/forms/source/{key}"),
                   post_body(client, f"/modeler/forms/save/{key}", body, "application/json", 0)]
        for answer in answers:
            assert answer.status_code == 400, (key, answer.status_code)
            assert f"表单键 {unquote(key)!r} 无效" in message_of(answer), (key, message_of(answer))
        made = client.post("/modeler/forms/new", {"key": unquote(key)}, follow_redirects=True)
        assert f"表单键 {unquote(key)!r} 无效" in html_text(made), key
    copied = client.post("/modeler/forms/new", {"key": "home/visit.form", "copy_of": "../../pyproject.toml"},
                         follow_redirects=True)
    assert "无效" in text_of(copied) and "[project]" not in copied.get_data(as_text=True)
    leading = post_body(client, "/modeler/forms/save//etc/passwd.form", body, "application/json", 0)
    assert leading.status_code == 308                                  # never saved as an absolute path
    assert counts(region) == before
    with pytest.raises(InvalidInput, match="表单键"):
        from engine import workspace_forms
        workspace_forms.save_form(region, "analyst_xu", "/etc/passwd.form", body, 0)


def html_text(response) -> str:
    return html.unescape(text_of(response))


def message_of(response) -> str:
    """The error of a JSON answer, else the text of the page."""
    return response.get_json()["error"] if response.is_json else html_text(response)


@pytest.mark.parametrize("key", ["../../etc/passwd.form", "/etc/passwd.form", "school_screening/..%2f..%2fx.form",
                                 "school_screening\\..\\..\\x.form", "school_screening/.hidden.form"])
def test_a_form_key_leaving_the_forms_directory_in_bpmn_is_refused_at_its_task(app, region, library, key):
    document = SOURCE.replace(b'camunda:formKey="school_screening/screening.form"',
                              f'camunda:formKey="{key}"'.encode(), 1)
    line = next(n for n, text in enumerate(LINES, 1) if b'<bpmn:userTask id="screening"' in text)
    path = library / "pathways" / "school_screening.bpmn"
    path.write_bytes(document)
    before = counts(region)
    with pytest.raises(PathwayInvalid) as refused:
        deploy_files(region, [path])
    [problem] = [p for p in refused.value.problems if p.element == "screening"]
    assert problem.line == line and "表单键" in problem.message and repr(key) in problem.message
    checked = post_body(analyst(app), "/modeler/pathways/school_screening/validate", document, "application/xml")
    assert [(p["element"], p["line"]) for p in checked.get_json()["problems"]] == [("screening", line)]
    assert counts(region) == before
