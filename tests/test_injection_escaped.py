"""HTML/JS injection is escaped everywhere: `<script>alert(1)</script>`, `"><img src=x
onerror=alert(1)>` and `{{7*7}}` typed into a person's name, an escalation note, a pause and a
reassign reason, a form's text, a user's display name, a pathway's and a task's name (a deployed
BPMN file) and a notification, then every page that shows them is rendered: the raw markup never
appears, `{{7*7}}` is never evaluated (no `甲49乙`), and each page does show the values it should,
as text. In Chromium, the task page (form-js with the values) and the person's page (bpmn-js
diagrams with the names) open without a dialog and without an injected element in the DOM."""
from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import pytest

from engine.escalation import actions
from engine.notify.inapp import notify
from engine.pathways import deploy_files
from engine.people import register_person
from engine.runtime import services, sla

from conftest import FORMS, PATHWAYS, SHANGHAI, T0, build_region
from pathway_steps import do
from web import LiveServer, MovableClock, WebClient, log_in, require_bundles, screenshot

VILLAGE = "510781001001"
RAW = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "甲49乙")


def hostile(tag: str) -> str:
    """What an attacker types, marked with where it was typed (`tag`)."""
    return f'{tag}<script>alert(1)</script>"><img src=x onerror=alert(1)>甲{{{{7*7}}}}乙'


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


def xml_attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@dataclass
class World:
    app: object
    ctx: object
    person: int
    instance: int
    plan: int          # the family doctor's joint plan, escalated, paused and reassigned
    draft: int         # a second screening, open, with the teacher's hostile draft

    def url(self, template: str) -> str:
        return template.format(person=self.person, instance=self.instance, plan=self.plan, draft=self.draft,
                               key=quote(hostile("表单键") + ".form", safe=""))


@pytest.fixture(scope="module")
def world(tmp_path_factory, databases):
    """The demo region with hostile text typed into every place a user or analyst can type."""
    from engine.context import EngineContext
    from engine.directory import load_directory
    from engine.settings import Settings
    from webui import create_app
    root = tmp_path_factory.mktemp("injection")
    databases.template("region", build_region)
    url, drop = databases.fresh(root, "region")
    ctx = EngineContext(Settings(database_url=url), now=T0)

    renamed = root / "teacher.yaml"          # JSON is YAML: the class teacher's display name
    renamed.write_text(json.dumps({"users": [{"username": "teacher_wang", "name": hostile("用户"), "roles": [
        {"role": "education.teacher", "org": "510781001"}]}]}, ensure_ascii=False), encoding="utf-8")
    load_directory(ctx.db, renamed)

    (root / "pathways").mkdir()
    shutil.copytree(FORMS, root / "forms")
    source = (PATHWAYS / "school_screening.bpmn").read_text(encoding="utf-8")
    source = re.sub(r'(<bpmn:(?:process|participant) id="(?:school_screening|participant_school_screening)" name=")[^"]*"',
                    lambda m: m.group(1) + xml_attribute(hostile("路径")) + '"', source)
    source = re.sub(r'(<bpmn:userTask id="(?:screening|joint_plan_medical)" name=")[^"]*"',
                    lambda m: m.group(1) + xml_attribute(hostile("任务")) + '"', source)
    (root / "pathways" / "school_screening.bpmn").write_text(source, encoding="utf-8")
    [deployed] = deploy_files(ctx, [root / "pathways" / "school_screening.bpmn"])
    assert deployed.name == hostile("路径")

    at = ctx.at(nov(2, 9))
    person = register_person(at, "S-1", hostile("人名"), VILLAGE, gender="男", birth_date="2010-12-15")
    started = services.start_instance(at, "school_screening", VILLAGE, person="S-1")
    do(ctx, nov(2, 10), "teacher_wang", "screening", {
        "student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02", "phq9_score": 14,
        "phq9_item9": 0, "screening_notes": hostile("表单")})
    do(ctx, nov(3, 10), "expert_chen", "remote_consult", {
        "consult_mode": "video", "consult_result": "confirmed", "diagnosis": "抑郁发作", "severity": "moderate",
        "expert_opinion": hostile("意见")})
    services.tick(ctx.at(nov(10, 18)))
    services.tick(ctx.at(nov(11, 18)))
    [plan] = [t for t in services.list_tasks(ctx) if t["element"] == "joint_plan_medical"]
    [escalation] = [e for e in actions.list_escalations(ctx) if e["task"] == plan["id"] and e["level"] == 2]
    actions.add_note(ctx.at(nov(12, 9)), escalation["id"], "health_sup_jy", hostile("备注"))
    actions.reassign(ctx.at(nov(12, 10)), plan["id"], "health_sup_jy", to_user="fdoc_deng", reason=hostile("改派"))
    sla.pause(ctx.at(nov(12, 11)), plan["id"], "health_sup_jy", hostile("暂停"))
    with ctx.db.unit_of_work() as session:
        notify(session, nov(12, 11), ["teacher_wang", "health_sup_jy"], "notice", hostile("通知标题"),
               hostile("通知正文"))

    again = services.start_instance(ctx.at(nov(12, 11)), "school_screening", VILLAGE, person="S-1")
    [screening] = again.tasks
    from engine import worklist
    worklist.save_draft(ctx.at(nov(12, 11)), screening["id"], "teacher_wang", {
        "grade": "g9", "screening_notes": hostile("草稿")})

    app = create_app(ctx, now=MovableClock(nov(12, 12)).now)
    yield World(app, ctx, person["id"], started.instance, plan["id"], screening["id"])
    ctx.db.dispose()
    drop()


def assert_escaped(page: str, where: str) -> None:
    for raw in RAW:
        assert raw not in page, f"{where}: {raw!r} appears unescaped"
    assert "onerror=alert(1)>" not in page.replace("onerror=alert(1)&gt;", ""), where


PAGES = [   # (user, page, the hostile values it shows as text)
    ("teacher_wang", "/tasks", {"用户", "路径", "任务"}),
    ("teacher_wang", "/tasks/{draft}", {"用户", "路径", "任务", "人名"}),
    ("teacher_wang", "/people/{person}", {"用户", "路径", "任务", "人名"}),
    ("teacher_wang", "/notifications", {"用户", "通知标题", "通知正文"}),
    ("expert_chen", "/instances/{instance}", {"路径", "任务", "人名", "表单", "意见"}),
    ("health_sup_jy", "/escalations", {"任务", "人名", "备注"}),
    ("health_sup_jy", "/dashboard", set()),
    ("health_sup_jy", "/people/{person}", {"用户", "路径", "任务", "人名"}),
    ("health_sup_jy", "/instances/{instance}", {"路径", "任务", "人名"}),
    ("health_sup_jy", "/notifications", {"任务", "通知标题", "通知正文"}),
    ("fdoc_deng", "/tasks", {"路径", "任务"}),
    ("fdoc_deng", "/tasks/{plan}", {"路径", "任务", "人名"}),
    ("analyst_xu", "/modeler", {"路径"}),
    ("analyst_xu", "/modeler/pathways/school_screening", {"路径"}),
    ("analyst_xu", "/modeler/forms/edit/{key}", {"表单键"}),        # the error page names the refused key
]
TAGS = ("用户", "路径", "任务", "人名", "表单", "意见", "备注", "改派", "暂停", "通知标题", "通知正文", "草稿", "表单键")


@pytest.mark.parametrize("username, template, shown", PAGES)
def test_every_page_shows_hostile_text_as_text(world, username, template, shown):
    client = WebClient(world.app)
    client.login(username)
    response = client.get(world.url(template))
    assert response.status_code == (400 if "{key}" in template else 200)
    page = response.get_data(as_text=True)
    assert_escaped(page, template)
    text = html.unescape(page)
    assert {tag for tag in TAGS if hostile(tag) in text} == shown


def test_the_task_page_hands_form_js_the_draft_as_data_not_markup(world):
    client = WebClient(world.app)
    client.login("teacher_wang")
    page = client.get(world.url("/tasks/{draft}")).get_data(as_text=True)
    values = json.loads(html.unescape(re.search(r'data-data="([^"]*)"', page).group(1)))
    assert values["screening_notes"] == hostile("草稿")
    assert "\\u003cscript\\u003e" in html.unescape(page)              # inside the attribute, as JSON escapes


def test_in_chromium_no_dialog_fires_and_no_injected_element_exists(world, new_page):
    require_bundles()
    with LiveServer(world.app) as server:
        page = new_page(server.url)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        log_in(page, "teacher_wang")

        page.goto(world.url("/tasks/{draft}"))
        page.wait_for_selector(".cp-form[data-ready=true]")
        notes = page.get_by_label("班主任观察记录")
        assert notes.input_value() == hostile("草稿")                   # form-js shows it as a value
        assert hostile("人名") in page.locator("[data-testid=person]").inner_text()
        injected_none(page)
        screenshot(page, "injection-task-page")

        page.goto(world.url("/people/{person}"))
        page.wait_for_selector(".cp-diagram[data-ready=true]")
        labels = page.locator(".cp-diagram svg text").all_text_contents()     # bpmn-js labels, as SVG text
        assert any("任务<script>alert(1)</script>" in label for label in labels), labels
        assert any("路径<script>alert(1)</script>" in label for label in labels), labels
        injected_none(page)
        screenshot(page, "injection-person-page")
        assert dialogs == [] and page.js_errors == []


def injected_none(page) -> None:
    """No element the hostile text would have made, anywhere in the document (SVG included)."""
    found = page.evaluate("""() => ({
        images: document.querySelectorAll('img[src="x"], img[onerror], image[onerror], [onerror]').length,
        scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('alert(1)')).length,
        evaluated: document.body.innerText.includes('甲49乙'),
    })""")
    assert found == {"images": 0, "scripts": 0, "evaluated": False}, found
