"""A person's journey and an instance's page through the real app: the timeline across agencies,
current tasks, the diagram with its markers and its BPMN served for the viewer; another county
gets exactly what a missing id gets."""
from __future__ import annotations

import html
import json
import re
from datetime import datetime

import pytest

from engine.people import register_person
from engine.runtime import services

from conftest import SHANGHAI, deploy_pathways
from pathway_steps import do
from web import MovableClock, WebClient, text_of

VILLAGE = "510781001001"
SCREENING = {"student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
             "phq9_score": 14, "phq9_item9": 0}


def nov(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def journey(region):
    from webui import create_app
    deploy_pathways(region, "school_screening")
    at = region.at(nov(2, 9))
    person = register_person(at, "S-1", "张一", VILLAGE, gender="男", birth_date="2010-12-15")
    started = services.start_instance(at, "school_screening", VILLAGE, person="S-1")
    do(region, nov(2, 10), "teacher_wang", "screening", SCREENING)
    services.tick(region.at(nov(4, 18)))                       # the consult is due: level 1
    app = create_app(region, now=MovableClock(nov(5, 9)).now)
    return app, person["id"], started.instance


def signed_in(app, username):
    client = WebClient(app)
    client.login(username)
    return client


def test_the_journey_shows_every_agency_step_in_order(journey):
    app, person, _ = journey
    page = signed_in(app, "teacher_wang").get(f"/people/{person}")
    text = text_of(page)
    assert page.status_code == 200 and "张一" in text and "S-1" in text
    kinds = re.findall(r'data-kind="(\w+)"', page.get_data(as_text=True))
    assert kinds[:4] == ["person_registered", "instance_started", "task_created", "task_completed"] or \
        kinds[:5] == ["person_registered", "instance_started", "task_created", "task_claimed", "task_completed"]
    assert "escalation_raised" in kinds
    assert "学生心理筛查（PHQ-9）" in text and "王老师" in text and "按时" in text
    assert "远程会诊" in text and "已超期" in text                   # current task, overdue since Wed 18:00


def test_the_instance_page_has_the_diagram_markers_and_its_bpmn(journey):
    app, _, instance = journey
    expert = signed_in(app, "expert_chen")                      # the city expert holds its task
    page = expert.get(f"/instances/{instance}")
    assert page.status_code == 200
    markers = json.loads(html.unescape(re.search(r'data-markers="([^"]*)"', page.get_data(as_text=True)).group(1)))
    assert "screening" in markers["completed"] and "remote_consult" in markers["overdue"]
    xml = expert.get(f"/instances/{instance}/diagram.bpmn?process=school_screening")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert b'<bpmn:process id="school_screening"' in xml.data and b"bpmndi:BPMNDiagram" in xml.data
    assert "phq9_score" in text_of(page)                       # the pathway's data
    assert expert.get(f"/instances/{instance}/diagram.bpmn?process=nonsense").status_code == 404


def test_another_county_sees_nothing_of_the_person_or_the_instance(journey):
    app, person, instance = journey
    outsider = signed_in(app, "teacher_song")                  # 涪城区
    for url, missing in ((f"/people/{person}", "/people/999999"), (f"/instances/{instance}", "/instances/999999"),
                         (f"/instances/{instance}/diagram.bpmn", "/instances/999999/diagram.bpmn")):
        response, nothing = outsider.get(url), outsider.get(missing)
        assert response.status_code == nothing.status_code == 404
        assert text_of(response).replace(re.search(r"\d+", url).group(0), "999999") == text_of(nothing)
        assert "张一" not in text_of(response)
    refused = outsider.post(f"/instances/{instance}/retry")
    assert refused.status_code in (403, 404) and "张一" not in text_of(refused)
