"""Comparing versions and migrating instances on the modeler's pages (Flask test client, real
SQLite, the real school screening pathway): the diff lists what the analyst changed and marks it
on both diagrams; the migration page lists only instances in the analyst's jurisdiction, previews
where each token lands, refuses an instance whose token has nowhere to go (changing nothing), and
refuses one that changed after its preview."""
from __future__ import annotations

import html
import json
import re
from datetime import datetime

import pytest

from engine.directory import hash_password
from engine.runtime import services
from engine.store import directory as directory_repo
from engine.store.models import Instance

from conftest import SHANGHAI, deploy_pathways, task_by_element
from test_modeler_workspace import SCREENING, edited, post_json, post_xml
from test_pathway_school_screening import CONSULT_NOT_CONFIRMED, screening_form
from test_version_diff import school_v2
from web import MovableClock, WebClient, text_of

VILLAGE = "510781001001"


def nov(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def app(region):
    from webui import create_app
    deploy_pathways(region, "school_screening")
    with region.db.unit_of_work() as session:      # an analyst of another county (涪城区)
        user = directory_repo.upsert_user(session, "analyst_fc", "涪析", hash_password("carepath-demo"))
        session.flush()
        directory_repo.replace_memberships(session, user, [("admin.analyst", "510703")])
    return create_app(region, now=MovableClock(nov(2, 11)).now)


def deploy_v2(client: WebClient, data: bytes, comment: str = "v2") -> None:
    client.get("/modeler/pathways/school_screening")
    revision = re.search(r'data-revision="(\d+)"', client.get("/modeler/pathways/school_screening")
                         .get_data(as_text=True)).group(1)
    assert post_xml(client, "/modeler/pathways/school_screening/save", data, int(revision)).status_code == 200
    done = post_json(client, "/modeler/pathways/school_screening/deploy",
                     {"comment": comment, "revision": int(revision) + 1})
    assert done.status_code == 200, done.get_json()


def analyst(app, username: str = "analyst_xu") -> WebClient:
    client = WebClient(app)
    client.login(username)
    return client


def test_the_diff_lists_the_changed_deadline_and_marks_both_diagrams(app):
    client = analyst(app)
    assert "只有一个版本" in text_of(client.get("/modeler/pathways/school_screening/diff"))
    deploy_v2(client, edited())
    page = client.get("/modeler/pathways/school_screening/diff")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    rows = re.findall(r'<tr class="diff-(\w+)" data-element="([^"]+)"', body)
    assert rows == [("changed", "remote_consult")]
    row = body.split('data-element="remote_consult"', 1)[1].split("</tr>", 1)[0]
    assert "camunda:dueDate" in row and "${workdays(2)}" in row and "${workdays(3)}" in row
    markers = [json.loads(html.unescape(m)) for m in re.findall(r'data-markers="([^"]+)"', body)]
    assert markers == [{"removed": [], "changed": ["remote_consult"]}, {"added": [], "changed": ["remote_consult"]}]
    assert 'data-bpmn-url="/modeler/pathways/school_screening/source.bpmn?version=1"' in body
    assert "与上一版比较" in client.get("/modeler/pathways/school_screening").get_data(as_text=True)


def test_migration_lists_only_the_analysts_jurisdiction_and_moves_what_was_previewed(app, region):
    first = services.start_instance(region.at(nov(2, 9)), "school_screening", VILLAGE, {}).instance
    second = services.start_instance(region.at(nov(2, 9)), "school_screening", VILLAGE, {}).instance
    client = analyst(app)
    deploy_v2(client, edited())

    elsewhere = analyst(app, "analyst_fc")
    page = elsewhere.get("/modeler/pathways/school_screening/migrate")
    assert "没有在其他版本上运行的实例" in text_of(page)
    refused = elsewhere.post("/modeler/pathways/school_screening/migrate",
                             {"to": "2", "instance": str(first), "action": "migrate"})
    assert refused.status_code == 404
    assert version_of(region, first) == version_of(region, second)          # not moved

    page = client.get("/modeler/pathways/school_screening/migrate")
    listed = re.findall(r'<tr data-instance="(\d+)"', page.get_data(as_text=True))
    assert listed == [str(first), str(second)]
    preview = client.post("/modeler/pathways/school_screening/migrate",
                          {"to": "2", "instance": str(first), "action": "preview"})
    body = preview.get_data(as_text=True)
    assert f'<tr data-instance="{first}" data-ok="true">' in body
    assert 'data-element="screening" data-lands-on="screening"' in body
    lock = re.search(rf'name="lock_{first}" value="(\d+)"', body).group(1)
    done = client.post("/modeler/pathways/school_screening/migrate",
                       {"to": "2", "instance": str(first), f"lock_{first}": lock, "action": "migrate"})
    text = text_of(done)
    assert "已迁移 1 个实例到第 2 版，0 个未迁移" in text and "已从第 1 版迁移到第 2 版" in text
    assert re.findall(r'<tr data-instance="(\d+)"', done.get_data(as_text=True).split('data-testid="candidates"')[1]) \
        == [str(second)]
    assert version_of(region, first) != version_of(region, second)

    # An instance that moved on after its preview is refused, not migrated on a stale plan.
    preview = client.post("/modeler/pathways/school_screening/migrate",
                          {"to": "2", "instance": str(second), "action": "preview"})
    lock = re.search(rf'name="lock_{second}" value="(\d+)"', preview.get_data(as_text=True)).group(1)
    screening = task_by_element(services.list_tasks(region, instance_id=second), "screening")
    services.complete(region.at(nov(2, 10)), screening["id"], "teacher_wang", SCREENING)
    stale = client.post("/modeler/pathways/school_screening/migrate",
                        {"to": "2", "instance": str(second), f"lock_{second}": lock, "action": "migrate"})
    assert "已迁移 0 个实例到第 2 版，1 个未迁移" in text_of(stale)
    assert f'data-instance="{second}" data-outcome="conflict"' in stale.get_data(as_text=True)
    assert version_of(region, second) != version_of(region, first)


def version_of(region, instance_id: int) -> int:
    with region.db.unit_of_work() as session:
        return session.get(Instance, instance_id).version_id


def test_an_instance_whose_token_has_nowhere_to_go_is_refused_and_nothing_changes(app, region):
    """v2 (the version-diff test's) removes the teacher's follow-up talk: an instance waiting on
    that talk has nowhere to go."""
    waiting = services.start_instance(region.at(nov(2, 9)), "school_screening", VILLAGE, {}).instance
    screening = task_by_element(services.list_tasks(region, instance_id=waiting), "screening")
    done = services.complete(region.at(nov(2, 10)), screening["id"], "teacher_wang", screening_form(18))
    consult = task_by_element(done.tasks, "remote_consult")
    done = services.complete(region.at(nov(3, 10)), consult["id"], "expert_chen", CONSULT_NOT_CONFIRMED)
    assert [t["element"] for t in done.tasks] == ["followup_talk"]
    client = analyst(app)
    deploy_v2(client, school_v2(), "取消跟进谈话")
    before = version_of(region, waiting)

    preview = client.post("/modeler/pathways/school_screening/migrate",
                          {"to": "2", "instance": str(waiting), "action": "preview"})
    body = preview.get_data(as_text=True)
    assert f'<tr data-instance="{waiting}" data-ok="false">' in body
    assert 'data-element="followup_talk" data-lands-on=""' in body
    assert "在版本 2 中不存在，令牌无处可去" in body and "无处可去" in body
    assert re.search(rf'name="instance" value="{waiting}"\s+disabled', body)
    done = client.post("/modeler/pathways/school_screening/migrate",
                       {"to": "2", "instance": str(waiting), "action": "migrate"})
    assert "已迁移 0 个实例到第 2 版，1 个未迁移" in text_of(done)
    assert f'data-instance="{waiting}" data-outcome="refused"' in done.get_data(as_text=True)
    assert version_of(region, waiting) == before
    assert task_by_element(services.list_tasks(region, instance_id=waiting), "followup_talk")["status"] == "open"
