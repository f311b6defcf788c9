"""Decision tables (DMN) beside a pathway: found, checked, deployed with the version, evaluated in
the sandbox; a changed table makes a new version, a broken one is reported with its line."""
from __future__ import annotations

import shutil

import pytest

from engine.bpmn.validate import validate_file
from engine.errors import PathwayInvalid
from engine.pathways import deploy_files
from engine.runtime import services

from conftest import DATA, task_by_element

ORG = "510781001"


@pytest.fixture
def triage_dir(tmp_path):
    """A copy of the triage pathway and its table, with forms beside as in the repo layout."""
    shutil.copytree(DATA / "decisions", tmp_path / "pathways")
    shutil.copytree(DATA / "forms", tmp_path / "forms")
    return tmp_path / "pathways"


def _run_to_note(ctx, level: int) -> dict:
    outcome = services.start_instance(ctx, "triage", ORG, {})
    assess = task_by_element(outcome.tasks, "assess")
    after = services.complete(ctx, assess["id"], "doctor_a", {"danger_level": level})
    assert after.error is None, after.error
    return after


@pytest.mark.parametrize("level, days", [(0, 90), (2, 14), (4, 0)])
def test_table_beside_the_pathway_decides_the_interval(ctx, triage_dir, level, days):
    deploy_files(ctx, [triage_dir / "triage.bpmn"])
    after = _run_to_note(ctx, level)
    note = task_by_element(after.tasks, "note")
    detail = services.complete(ctx, note["id"], "doctor_a", {"remark": "已告知家属"})
    assert detail.status == "completed"
    from engine.runtime.queries import instance_detail
    assert instance_detail(ctx, after.instance)["data"]["next_days"] == days


def test_changed_table_is_a_new_version_and_running_instances_keep_theirs(ctx, triage_dir):
    first = deploy_files(ctx, [triage_dir / "triage.bpmn"])[0]
    running = _run_to_note(ctx, 0)
    table = triage_dir / "triage.dmn"
    table.write_text(table.read_text(encoding="utf-8").replace("<text>90</text>", "<text>60</text>"),
                     encoding="utf-8")
    second = deploy_files(ctx, [triage_dir / "triage.bpmn"])[0]
    assert (first.version, second.version, second.changed) == (1, 2, True)
    assert deploy_files(ctx, [triage_dir / "triage.bpmn"])[0].changed is False

    from engine.runtime.queries import instance_detail
    assert instance_detail(ctx, running.instance)["data"]["next_days"] == 90
    assert instance_detail(ctx, _run_to_note(ctx, 0).instance)["data"]["next_days"] == 60


def test_missing_decision_is_reported_at_the_task(ctx, triage_dir):
    (triage_dir / "triage.dmn").unlink()
    problems = validate_file(str(triage_dir / "triage.bpmn"))
    found = [p for p in problems if p.element == "decide"]
    assert len(found) == 1 and "triage_interval" in found[0].message and found[0].line == 11
    with pytest.raises(PathwayInvalid):
        deploy_files(ctx, [triage_dir / "triage.bpmn"])


def test_bad_rule_is_reported_with_its_line(triage_dir):
    table = triage_dir / "triage.dmn"
    table.write_text(table.read_text(encoding="utf-8").replace(
        "<text>&lt;= 2</text>", "<text>&lt;= 2 +</text>").replace(
        "<text>14</text>", "<text>__import__('os')</text>"), encoding="utf-8")
    problems = validate_file(str(triage_dir / "triage.bpmn"))
    assert sorted((p.element, p.line) for p in problems) == [("r_basic", 15), ("r_basic", 16)]
    assert all(p.file.endswith("triage.dmn") for p in problems)
    assert "'<= 2 +'" in problems[0].message + problems[1].message


def test_hostile_table_is_refused_before_parsing(triage_dir):
    (triage_dir / "triage.dmn").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">&x;</definitions>\n',
        encoding="utf-8")
    problems = validate_file(str(triage_dir / "triage.bpmn"))
    assert any(p.file.endswith("triage.dmn") and "DOCTYPE" in p.message.upper() for p in problems), problems
