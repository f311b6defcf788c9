"""The analyst's modeler in a real browser (Debian's Chromium driven by Playwright), as the issue
tells it: an analyst opens school screening, changes the remote consult's due date to
`${workdays(3)}` in the properties panel, sees a lint error (and the engine's) for an unknown
role, fixes it with the directory's role list, deploys v2 with a comment, previews and migrates
one running instance; the migrated instance and a new one get the new deadline, the instance left
on v1 keeps the old one. The draft bpmn-js saved is still a BPMN 2.0 file the Camunda Modeler
reads, with every Camunda extension of the original kept.

Screenshots are saved in tests/artifacts/ (looked at when the test was written)."""
from __future__ import annotations

from datetime import datetime

import pytest
from lxml import etree
from sqlalchemy import select

from engine.bpmn.validate import _bpmn_schema
from engine.runtime import services
from engine.store.models import Instance, PathwayVersion

from conftest import PATHWAYS, SHANGHAI, deploy_pathways, task_by_element
from web import LiveServer, MovableClock, log_in, require_bundles, screenshot

VILLAGE = "510781001001"
SCREENING = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
             "phq9_score": 14, "phq9_item9": 0}
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def live(region):
    from webui import create_app
    require_bundles()
    deploy_pathways(region, "school_screening")
    at = region.at(nov(2, 9))
    moved = services.start_instance(at, "school_screening", VILLAGE, {}).instance
    stays = services.start_instance(at, "school_screening", VILLAGE, {}).instance
    clock = MovableClock(nov(2, 9, 30))
    with LiveServer(create_app(region, now=clock.now)) as server:
        yield server, region, moved, stays


def checks(page) -> int:
    return int(page.locator(".cp-modeler").get_attribute("data-checks") or 0)


def wait_for_engine_check(page, after: int) -> None:
    page.wait_for_function(f"() => Number(document.querySelector('.cp-modeler').dataset.checks) > {after}")


def camunda_extensions(tree) -> set[tuple]:
    """Every Camunda attribute and extension element of the flow elements, as (element id, name, value)."""
    found = set()
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        owner = element
        while owner is not None and owner.get("id") is None:
            owner = owner.getparent()
        for name, value in element.attrib.items():
            if name.startswith(f"{{{CAMUNDA}}}"):
                found.add((owner.get("id"), name.split("}")[1], value))
        if element.tag.startswith(f"{{{CAMUNDA}}}") and element.get("name"):
            found.add((owner.get("id"), element.get("name"), element.get("value") or (element.text or "").strip()))
    return found


def test_an_analyst_changes_a_deadline_fixes_a_lint_error_deploys_v2_and_migrates_an_instance(live, new_page):
    server, ctx, moved, stays = live
    page = new_page(server.url)
    log_in(page, "analyst_xu")

    # The library: school screening, v1 with two running instances.
    page.goto("/modeler")
    row = page.locator("tr[data-process=school_screening]")
    assert "v1: 2" in row.inner_text()
    row.get_by_role("link").first.click()
    page.wait_for_selector(".cp-modeler[data-ready=true]")
    wait_for_engine_check(page, 0)
    assert page.locator(".cp-modeler").get_attribute("data-problem-count") == "0"
    screenshot(page, "modeler-1-opened")

    # A walk-through first: the token simulation runs a token from the start event, then is put away.
    simulate = page.locator("button.cp-modeler-simulate")
    simulate.click()
    assert simulate.get_attribute("aria-pressed") == "true"
    page.evaluate("""() => { const canvas = window.CarePath.modelers[0].get('canvas');
                            canvas.zoom(1); canvas.scrollToElement('start_screening'); }""")
    page.locator(".djs-overlays[data-container-id=start_screening] .bts-context-pad").click()
    page.locator(".bts-token").first.wait_for()
    screenshot(page, "modeler-1b-token-simulation")
    simulate.click()
    assert simulate.get_attribute("aria-pressed") == "false"

    # The remote consult: due in 3 working days instead of 2, typed in the Camunda panel.
    page.locator('g.djs-element[data-element-id="remote_consult"]').click()
    due = page.locator("#bio-properties-panel-dueDate")
    assert due.input_value() == "${workdays(2)}"
    before = checks(page)
    due.fill("${workdays(3)}")
    wait_for_engine_check(page, before)

    # An unknown role in the candidate groups: lint and the engine both say so, on the element.
    before = checks(page)
    page.locator("#bio-properties-panel-candidateGroups").fill("health.nobody")
    lint = page.locator('ul.cp-problems li[data-element=remote_consult][data-source=lint]')
    lint.first.wait_for()
    assert "角色 health.nobody 不存在" in lint.first.inner_text()
    wait_for_engine_check(page, before)
    engine = page.locator('ul.cp-problems li[data-element=remote_consult][data-source=engine]')
    assert "health.nobody" in engine.first.inner_text()
    assert "cp-problem-error" in page.locator('g.djs-element[data-element-id="remote_consult"]').get_attribute("class")
    assert int(page.locator(".cp-modeler").get_attribute("data-problem-count")) >= 2
    screenshot(page, "modeler-2-unknown-role")

    # Fixed from the directory's role list.
    owner = page.locator("select#bio-properties-panel-carepathOwnerRole")
    assert owner.locator("option[value='health.mh_center_expert']").count() == 1
    before = checks(page)
    owner.select_option("health.mh_center_expert")
    wait_for_engine_check(page, before)
    page.wait_for_function("() => document.querySelector('.cp-modeler').dataset.problemCount === '0'")
    assert page.locator("ul.cp-problems li[data-severity=error]").count() == 0

    # Deploy v2 with a comment (the island saves the draft first).
    page.fill("input.cp-deploy-comment", "远程会诊时限改为 3 个工作日（市卫健委 2026 年 11 月通知）")
    page.click("button.cp-deploy")
    page.wait_for_selector("[data-testid=versions] tr[data-version='2']")
    assert "已部署 school_screening 第 2 版" in page.locator(".flash").inner_text()
    v2 = page.locator("[data-testid=versions] tr[data-version='2']").inner_text()
    assert "远程会诊时限改为 3 个工作日" in v2 and "analyst_xu" in v2
    assert page.js_errors == []
    screenshot(page, "modeler-3-deployed")

    # What bpmn-js saved is BPMN 2.0 the Camunda Modeler reads, every Camunda extension kept.
    saved = page.request.get(f"{server.url}/modeler/pathways/school_screening/source.bpmn").body()
    tree = etree.fromstring(saved)
    assert _bpmn_schema().validate(etree.ElementTree(etree.fromstring(saved))), _bpmn_schema().error_log
    original = camunda_extensions(etree.fromstring((PATHWAYS / "school_screening.bpmn").read_bytes()))
    expected = {e for e in original if e[:2] != ("remote_consult", "dueDate")} | {
        ("remote_consult", "dueDate", "${workdays(3)}")}
    assert camunda_extensions(tree) == expected

    # Migrate one of the two running instances, after a preview of where its token lands.
    page.click("text=迁移实例到此版本")
    page.wait_for_selector("[data-testid=candidates]")
    page.check(f"tr[data-instance='{moved}'] input[name=instance]")
    page.click("button[value=preview]")
    plan = page.locator(f"tr[data-instance='{moved}']")
    plan.wait_for()
    assert plan.get_attribute("data-ok") == "true"
    token = plan.locator(".token[data-element=screening]")
    assert token.get_attribute("data-lands-on") == "screening"
    screenshot(page, "modeler-4-preview")
    page.click("button[value=migrate]")
    page.wait_for_selector(f"[data-testid=results] tr[data-instance='{moved}'][data-outcome=migrated]")
    assert "已迁移 1 个实例到第 2 版" in page.locator(".flash").inner_text()
    assert page.locator(f"[data-testid=candidates] tr[data-instance='{stays}']").count() == 1
    assert page.locator(f"[data-testid=candidates] tr[data-instance='{moved}']").count() == 0
    assert page.js_errors == []

    # The migrated instance and a new one get 3 working days; the one left on v1 keeps 2.
    with ctx.db.unit_of_work() as session:
        v1, v2 = (session.scalar(select(PathwayVersion.id).where(
            PathwayVersion.process_id == "school_screening", PathwayVersion.version == n)) for n in (1, 2))
        assert session.get(Instance, moved).version_id == v2
        assert session.get(Instance, stays).version_id == v1
    new = services.start_instance(ctx.at(nov(2, 9)), "school_screening", VILLAGE, {}).instance
    due = {}
    for instance in (moved, stays, new):
        screening = task_by_element(services.list_tasks(ctx, instance_id=instance), "screening")
        done = services.complete(ctx.at(nov(2, 10)), screening["id"], "teacher_wang", SCREENING)
        due[instance] = task_by_element(done.tasks, "remote_consult")["due_at"].astimezone(SHANGHAI)
    assert due == {moved: nov(5, 18), stays: nov(4, 18), new: nov(5, 18)}


def test_an_analyst_opens_a_tasks_form_from_the_modeler_edits_a_label_and_saves_it(live, new_page):
    server, ctx, _moved, _stays = live
    page = new_page(server.url)
    log_in(page, "analyst_xu")
    page.goto("/modeler/pathways/school_screening")
    page.wait_for_selector(".cp-modeler[data-ready=true]")
    page.locator('g.djs-element[data-element-id="remote_consult"]').click()
    link = page.locator("a.cp-form-edit-link")
    assert link.get_attribute("href") == "/modeler/forms/edit/school_screening/remote_consult.form"
    with page.context.expect_page() as opened:       # a new tab: the diagram's unsaved work stays open
        link.click()
    page = opened.value
    page.js_errors = []
    page.on("pageerror", lambda err: page.js_errors.append(str(err)))
    page.wait_for_selector(".cp-form-editor[data-ready=true]")
    assert page.locator(".cp-form-editor").get_attribute("data-revision") == "0"

    page.locator(".fjs-editor-container .fjs-form-field", has_text="会诊方式").first.click()
    label = page.locator("#bio-properties-panel-label")
    if not label.is_visible():                     # the General group starts closed
        page.locator(".bio-properties-panel-group-header", has_text="General").first.click()
    label.fill("会诊方式（视频优先）")
    page.wait_for_function("() => document.querySelector('.cp-form-editor').dataset.dirty === 'true'")
    page.click("button.cp-form-editor-save")
    page.wait_for_function("() => document.querySelector('.cp-form-editor').dataset.revision === '1'")
    screenshot(page, "form-editor-saved")
    assert page.js_errors == []
    saved = page.request.get(f"{server.url}/modeler/forms/source/school_screening/remote_consult.form").json()
    labels = [c.get("label") for c in saved["components"]]
    assert "会诊方式（视频优先）" in labels and "会诊方式" not in labels
