"""What changed between two versions of a pathway, as the analyst sees it: elements added, removed
and changed (with readable labels), forms added, removed and changed; the diagram's layout is
not a change. Version 2 of the real school-screening pathway is made here by editing its bytes:
the remote consult gets 3 working days instead of 2, the screening task is renamed, the
psychology teacher's follow-up talk is removed (an unconfirmed case now ends at once), a task
telling the guardian the consult's result is added before the joint plan, and one shape moves."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from engine.bpmn.versiondiff import Change, diff_forms, diff_sources
from engine.bpmn.xmlsafe import UnsafeXmlError
from engine.errors import NotFound
from engine.migration import diff_versions
from engine.pathways import deploy_files

from conftest import FORMS, PATHWAYS, Cli

SOURCE = (PATHWAYS / "school_screening.bpmn").read_bytes()
NEW_SCREENING_NAME = "学生心理筛查（PHQ-9 量表）"


def once(text: str, old: str, new: str, regex: bool = False) -> str:
    """Replace `old` (a literal, or a regex matching across lines), which must occur exactly once:
    if the pathway file changes under the test, the edit fails loudly instead of doing nothing."""
    found = len(re.findall(old, text, flags=re.S)) if regex else text.count(old)
    assert found == 1, f"expected one {old!r} in the pathway, found {found}"
    return re.sub(old, lambda _: new, text, flags=re.S) if regex else text.replace(old, new)


GUARDIAN_NOTICE = '''    <bpmn:userTask id="guardian_notice" name="告知监护人会诊结论"
                   camunda:candidateGroups="education.school_psychologist"
                   camunda:dueDate="${workdays(1)}">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="stage" value="diagnosis"/>
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="flow_notice_done" sourceRef="guardian_notice" targetRef="fork_joint_plan"/>
'''


def school_v2(source: bytes = SOURCE) -> bytes:
    text = source.decode("utf-8")
    # changed: the consult's deadline, the screening task's name
    text = once(text, 'camunda:dueDate="${workdays(2)}"', 'camunda:dueDate="${workdays(3)}"')
    text = once(text, 'name="学生心理筛查（PHQ-9）"', f'name="{NEW_SCREENING_NAME}"')
    # removed: the follow-up talk (an unconfirmed case ends at once)
    text = once(text, "        <bpmn:flowNodeRef>followup_talk</bpmn:flowNodeRef>\n", "")
    text = once(text, 'sourceRef="gw_confirmed" targetRef="followup_talk"',
                'sourceRef="gw_confirmed" targetRef="end_not_confirmed"')
    text = once(text, r'    <bpmn:userTask id="followup_talk".*?</bpmn:userTask>\n', "", regex=True)
    text = once(text, r'    <bpmn:sequenceFlow id="flow_talk_done"[^\n]*\n', "", regex=True)
    text = once(text, r'      <bpmndi:BPMNShape id="followup_talk_di".*?</bpmndi:BPMNShape>\n', "", regex=True)
    text = once(text, r'      <bpmndi:BPMNEdge id="flow_talk_done_di".*?</bpmndi:BPMNEdge>\n', "", regex=True)
    # added: tell the guardian before the joint plan
    text = once(text, 'sourceRef="gw_confirmed" targetRef="fork_joint_plan"',
                'sourceRef="gw_confirmed" targetRef="guardian_notice"')
    text = once(text, '    <bpmn:parallelGateway id="fork_joint_plan"',
                GUARDIAN_NOTICE + '    <bpmn:parallelGateway id="fork_joint_plan"')
    text = once(text, "        <bpmn:flowNodeRef>fork_joint_plan</bpmn:flowNodeRef>\n",
                "        <bpmn:flowNodeRef>fork_joint_plan</bpmn:flowNodeRef>\n"
                "        <bpmn:flowNodeRef>guardian_notice</bpmn:flowNodeRef>\n")
    # layout only: a gateway's shape moves
    text = once(text, '<dc:Bounds x="975" y="325" width="50" height="50"/>',
                '<dc:Bounds x="985" y="335" width="50" height="50"/>')
    return text.encode("utf-8")


def treatment_every_two_months(text: str) -> str:
    """The severe case's treatment is reviewed every two months instead of monthly."""
    wait = '<bpmn:intermediateCatchEvent id="treatment_wait" name="治疗一个月">\n' \
           '      <bpmn:timerEventDefinition>\n        <bpmn:timeDuration>'
    return once(text, wait + "P1M</bpmn:timeDuration>", wait + "P2M</bpmn:timeDuration>")


def copy_library(tmp_path: Path) -> Path:
    """pathways/ and forms/ side by side in tmp_path (forms are found beside the pathways); the
    pathways directory is returned, its files free to edit."""
    library = tmp_path / "library"
    shutil.copytree(PATHWAYS, library / "pathways")
    shutil.copytree(FORMS, library / "forms")
    return library / "pathways"


def deploy_version(ctx, pathways: Path, process_id: str, content: bytes, *also: str):
    """Write a pathway's new content into the copied library and deploy it (with `also`)."""
    (pathways / f"{process_id}.bpmn").write_bytes(content)
    results = deploy_files(ctx, [pathways / f"{name}.bpmn" for name in (*also, process_id)])
    return next(r for r in results if r.process_id == process_id)


def by_id(elements) -> dict:
    return {e.id: e for e in elements}


# --- the BPMN ------------------------------------------------------------------------------------

def test_the_diff_lists_exactly_the_edits_and_not_the_layout():
    diff = diff_sources(SOURCE, school_v2())

    assert [(e.id, e.type, e.name) for e in diff.added] == [
        ("guardian_notice", "userTask", "告知监护人会诊结论"), ("flow_notice_done", "sequenceFlow", None)]
    assert [(e.id, e.type, e.name) for e in diff.removed] == [
        ("followup_talk", "userTask", "心理教师跟进谈话"), ("flow_talk_done", "sequenceFlow", None)]
    changed = {e.id: e.changes for e in diff.changed}
    assert changed == {
        "lane_school_psychologist": (Change(
            "泳道成员",
            "end_not_confirmed, followup_talk, fork_joint_plan, gw_intervention_recovered, gw_severity, "
            "intervention_review, intervention_wait, join_joint_plan, joint_plan_school, school_intervention",
            "end_not_confirmed, fork_joint_plan, guardian_notice, gw_intervention_recovered, gw_severity, "
            "intervention_review, intervention_wait, join_joint_plan, joint_plan_school, school_intervention"),),
        "screening": (Change("名称", "学生心理筛查（PHQ-9）", NEW_SCREENING_NAME),),
        "remote_consult": (Change("camunda:dueDate", "${workdays(2)}", "${workdays(3)}"),),
        "flow_not_confirmed": (Change("targetRef", "followup_talk", "end_not_confirmed"),),
        "flow_confirmed": (Change("targetRef", "fork_joint_plan", "guardian_notice"),),
    }
    assert by_id(diff.changed)["screening"].name == NEW_SCREENING_NAME   # named as in the new version
    assert "gw_confirmed" not in changed                                   # its shape moved: layout only
    assert (diff.forms_added, diff.forms_removed, diff.forms_changed) == ((), (), ())
    assert not diff.is_empty


def test_moving_every_shape_and_reformatting_is_no_change():
    text = SOURCE.decode("utf-8")
    moved = re.sub(r'(<(?:dc:Bounds|di:waypoint) x=")(\d+)', lambda m: f"{m.group(1)}{int(m.group(2)) + 40}", text)
    assert moved.count('x="') == text.count('x="') and moved != text
    # the same element written another way: attributes reordered, whitespace around texts
    moved = once(moved, '<bpmn:sequenceFlow id="flow_start_screening" sourceRef="start_screening" targetRef="screening"/>',
                 '<bpmn:sequenceFlow targetRef="screening" sourceRef="start_screening"\n      id="flow_start_screening" />')
    moved = once(moved, "<bpmn:conditionExpression>phq9_score &gt;= 10 or phq9_item9 &gt;= 1</bpmn:conditionExpression>",
                 "<bpmn:conditionExpression>\n        phq9_score &gt;= 10 or phq9_item9 &gt;= 1\n      </bpmn:conditionExpression>")
    diff = diff_sources(SOURCE, moved.encode("utf-8"))
    assert diff.is_empty, diff.to_json()


def test_timers_conditions_scripts_properties_documentation_and_owners_are_named():
    text = SOURCE.decode("utf-8")
    text = treatment_every_two_months(text)
    text = once(text, "phq9_score &gt;= 10 or", "phq9_score &gt;= 12 or")
    text = once(text, "followups_done = followups_done + 1", "followups_done += 1")
    text = once(text, '<camunda:property name="orgLevel" value="city"/>', '<camunda:property name="orgLevel" value="county"/>')
    text = once(text, "班主任为学生完成 PHQ-9 抑郁筛查", "班主任为学生完成 PHQ-9 筛查")
    text = once(text, 'camunda:candidateGroups="health.family_doctor"', 'camunda:candidateGroups="health.village_doctor"')

    changed = {e.id: e.changes for e in diff_sources(SOURCE, text.encode("utf-8")).changed}

    assert changed["treatment_wait"] == (Change("定时器 timeDuration", "P1M", "P2M"),)
    assert changed["flow_positive"] == (Change("条件", "phq9_score >= 10 or phq9_item9 >= 1",
                                               "phq9_score >= 12 or phq9_item9 >= 1"),)
    assert changed["count_followup"] == (Change("脚本", "followups_done = followups_done + 1", "followups_done += 1"),)
    assert changed["remote_consult"] == (Change("属性 orgLevel", "city", "county"),)
    assert [c.what for c in changed["screening"]] == ["说明"]
    assert changed["joint_plan_medical"] == (Change("camunda:candidateGroups", "health.family_doctor",
                                                    "health.village_doctor"),)
    assert set(changed) == {"treatment_wait", "flow_positive", "count_followup", "remote_consult", "screening",
                            "joint_plan_medical"}


def test_hostile_documents_are_refused_by_the_hardened_reader():
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><d>&a;</d>'
    with pytest.raises(UnsafeXmlError, match="DOCTYPE"):
        diff_sources(SOURCE, bomb)


# --- forms ---------------------------------------------------------------------------------------

def load_forms(process: str) -> dict:
    return {f"{process}/{path.name}": json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((FORMS / process).glob("*.form"))}


def test_forms_added_removed_and_changed_name_their_fields():
    old = load_forms("school_screening")
    new = json.loads(json.dumps(old))
    consult = new["school_screening/remote_consult.form"]["components"]
    next(c for c in consult if c.get("key") == "diagnosis")["label"] = "初步诊断"
    consult[:] = [c for c in consult if c.get("key") != "severity"]
    consult.append({"type": "textfield", "key": "guardian_informed_by", "label": "告知人", "id": "Field_informed"})
    del new["school_screening/followup_talk.form"]
    new["school_screening/guardian_notice.form"] = {"type": "default", "components": []}
    new["school_screening/screening.form"]["exporter"] = {"name": "another modeler", "version": "9"}

    added, removed, changed = diff_forms(old, new)

    assert added == ("school_screening/guardian_notice.form",)
    assert removed == ("school_screening/followup_talk.form",)
    assert [(f.key, f.added_fields, f.removed_fields, f.changed_fields) for f in changed] == [
        ("school_screening/remote_consult.form", ("guardian_informed_by",), ("severity",), ("diagnosis",))]


# --- deployed versions ---------------------------------------------------------------------------

def test_two_deployed_versions_are_compared_with_their_forms(region, tmp_path):
    pathways = copy_library(tmp_path)
    deploy_version(region, pathways, "school_screening", SOURCE)
    v2 = deploy_version(region, pathways, "school_screening", school_v2())
    assert (v2.version, v2.changed) == (2, True)

    diff = diff_versions(region, "school_screening", 1, 2)

    assert diff.added == diff_sources(SOURCE, school_v2()).added
    assert [e.id for e in diff.removed] == ["followup_talk", "flow_talk_done"]
    # no task of version 2 uses the follow-up talk's form, so it was not deployed with it
    assert (diff.forms_added, diff.forms_removed, diff.forms_changed) == (
        (), ("school_screening/followup_talk.form",), ())
    assert diff_versions(region, "school_screening", 2, 1).added == diff.removed
    with pytest.raises(NotFound, match="路径 school_screening 没有版本 3"):
        diff_versions(region, "school_screening", 1, 3)


def test_pathway_diff_command(region, tmp_path):
    pathways = copy_library(tmp_path)
    deploy_version(region, pathways, "school_screening", SOURCE)
    deploy_version(region, pathways, "school_screening", school_v2())
    cli = Cli(region.settings.database_url)

    data = cli.json("pathway", "diff", "school_screening", "1", "2")
    assert [e["id"] for e in data["added"]] == ["guardian_notice", "flow_notice_done"]
    assert data["forms_removed"] == ["school_screening/followup_talk.form"] and data["is_empty"] is False

    human = cli.run("pathway", "diff", "school_screening", "1", "2").stdout
    assert "+ userTask guardian_notice（告知监护人会诊结论）" in human
    assert "- userTask followup_talk（心理教师跟进谈话）" in human
    assert "camunda:dueDate: ${workdays(2)} → ${workdays(3)}" in human
    assert "两个版本没有语义差异" in cli.run("pathway", "diff", "school_screening", "2", "2").stdout

    missing = cli.run("pathway", "diff", "school_screening", "1", "7", check=False)
    assert missing.returncode == 1 and "路径 school_screening 没有版本 7" in missing.stderr
