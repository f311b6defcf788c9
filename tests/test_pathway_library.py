"""The pathway library as analysts receive it: every file validates clean against the demo
directory, carries a complete diagram, and follows the library's conventions."""
from __future__ import annotations

import json

import pytest
from lxml import etree

from engine.bpmn.layout import di_gaps
from engine.directory import parse_directory
from engine.forms import check_form
from engine.stages import STAGES

from conftest import DEMO_DIRECTORY, FORMS, PATHWAYS

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "camunda": "http://camunda.org/schema/1.0/bpmn"}
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"
FILES = sorted(PATHWAYS.glob("*.bpmn"))
EXPECTED = {"school_screening", "severe_registration", "severe_followup", "community_rehab",
            "depression_social_work", "diagnosis", "relief", "justice_medical",
            "crisis_intervention", "care_chain"}


def _roles() -> dict[str, str]:
    data = parse_directory(DEMO_DIRECTORY.read_text(encoding="utf-8"))
    return {r["code"]: r["name"] for r in data["roles"]}


def test_every_programme_is_in_the_library():
    assert {f.stem for f in FILES} == EXPECTED


def test_validate_is_clean_against_the_demo_directory(cli):
    cli.run("directory", "load", str(DEMO_DIRECTORY))
    result = cli.run("pathway", "validate", *map(str, FILES), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(FILES)} 个文件校验通过" in result.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_diagram_is_complete(path):
    assert di_gaps(path.read_bytes(), str(path)) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_conventions(path):
    roles = _roles()
    tree = etree.parse(str(path))
    processes = tree.xpath("//bpmn:process[@isExecutable='true']", namespaces=NS)
    assert [p.get("id") for p in processes] == [path.stem]
    process = processes[0]
    assert process.get("name") and process.xpath("./bpmn:documentation", namespaces=NS)
    assert len(tree.xpath("//bpmn:participant", namespaces=NS)) == 1
    lane_names = {lane.get("name") for lane in tree.xpath("//bpmn:lane", namespaces=NS)}
    assert lane_names <= set(roles.values()), lane_names - set(roles.values())
    lane_of = {ref.text: lane.get("name") for lane in tree.xpath("//bpmn:lane", namespaces=NS)
               for ref in lane.xpath("./bpmn:flowNodeRef", namespaces=NS)}
    refs = tree.xpath("//bpmn:lane/bpmn:flowNodeRef/text()", namespaces=NS)
    nodes = [el.get("id") for el in process if isinstance(el.tag, str) and etree.QName(el).localname
             not in ("laneSet", "sequenceFlow", "documentation", "extensionElements")]
    assert set(nodes) <= set(refs) and len(refs) == len(set(refs)), set(nodes) - set(refs)
    for task in tree.xpath("//bpmn:userTask", namespaces=NS):
        where = f"{path.name}:{task.sourceline} {task.get('id')}"
        role = task.get(f"{CAMUNDA}candidateGroups")
        assert task.get("name"), where
        assert role in roles and lane_of.get(task.get("id")) == roles[role], where
        assert task.get(f"{CAMUNDA}dueDate"), where
        assert task.xpath("./bpmn:documentation", namespaces=NS), where
        key = task.get(f"{CAMUNDA}formKey")
        assert key == f"{path.stem}/{task.get('id')}.form", where
        form = json.loads((FORMS / key).read_text(encoding="utf-8"))
        assert form["id"] == f"{path.stem}_{task.get('id')}" and form["schemaVersion"] == 16, where
        keys = [c["key"] for c in form["components"] if "key" in c]
        assert keys and len(keys) == len(set(keys)), where


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_user_task_states_a_known_care_stage(path):
    """The engine accepts a task without a stage (BPMN from elsewhere); the library does not:
    the supervisors' indicators count every library task on the chain."""
    tree = etree.parse(str(path))
    tasks = tree.xpath("//bpmn:userTask | //bpmn:manualTask", namespaces=NS)
    assert tasks
    for task in tasks:
        where = f"{path.name}:{task.sourceline} {task.get('id')}"
        stages = task.xpath("./bpmn:extensionElements/camunda:properties/camunda:property"
                            "[@name='stage']/@value", namespaces=NS)
        assert len(stages) == 1 and stages[0] in STAGES, (where, stages)


def test_every_form_is_used_and_well_formed():
    used = set()
    for path in FILES:
        tree = etree.parse(str(path))
        used |= {t.get(f"{CAMUNDA}formKey") for t in tree.xpath("//bpmn:userTask", namespaces=NS)}
    on_disk = {str(p.relative_to(FORMS)) for p in FORMS.rglob("*.form")}
    assert on_disk == used
    for key in sorted(on_disk):
        form = json.loads((FORMS / key).read_text(encoding="utf-8"))
        assert check_form(form, key) == [], key
        labels = [c.get("label", "") for c in form["components"] if c.get("key")]
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in labels), key
