"""Forms travel with their pathway: every form key must name a readable form inside the forms
directory; forms are stored with the version, and a changed form is a new version."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from engine.bpmn.companions import FormFiles, FormKeyError, check_form_key
from engine.bpmn.validate import validate_file
from engine.errors import PathwayInvalid
from engine.pathways import deploy_files
from engine.store import pathways as repo

from conftest import DATA


@pytest.mark.parametrize("key", [
    "../secrets.form", "/etc/passwd", "a/../../b.form", "triage/.hidden.form", "triage\\x.form",
    "triage/assess.form\x00.json", "triage/assess.html", "", "C:/x.form", "triage//assess.form",
])
def test_hostile_or_odd_keys_are_refused_before_any_file_is_read(key):
    with pytest.raises(FormKeyError) as err:
        check_form_key(key)
    assert "表单键" in err.value.message


def test_symlink_out_of_the_forms_directory_is_refused(tmp_path):
    outside = tmp_path / "outside.form"
    outside.write_text("{}", encoding="utf-8")
    forms = tmp_path / "forms"
    forms.mkdir()
    os.symlink(outside, forms / "leak.form")
    with pytest.raises(FormKeyError, match="之外"):
        FormFiles(forms).read("leak.form")


@pytest.fixture
def layout(tmp_path):
    shutil.copytree(DATA / "decisions", tmp_path / "pathways")
    shutil.copytree(DATA / "forms", tmp_path / "forms")
    return tmp_path


def test_missing_form_is_reported_at_the_task_and_nothing_deploys(ctx, layout):
    (layout / "forms" / "triage" / "assess.form").unlink()
    problems = validate_file(str(layout / "pathways" / "triage.bpmn"))
    assert [(p.element, p.line) for p in problems] == [("assess", 8)]
    assert "triage/assess.form" in problems[0].message and "不存在" in problems[0].message
    with pytest.raises(PathwayInvalid):
        deploy_files(ctx, [layout / "pathways" / "triage.bpmn"])
    with ctx.db.unit_of_work() as session:
        assert repo.latest_version(session, "triage") is None


def test_broken_form_definition_is_reported_with_the_field(layout):
    path = layout / "forms" / "triage" / "assess.form"
    form = json.loads(path.read_text(encoding="utf-8"))
    form["components"][0]["validate"]["min"] = 9          # min above max
    path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    problems = validate_file(str(layout / "pathways" / "triage.bpmn"))
    assert len(problems) == 1 and problems[0].element == "assess"
    assert "components[0]" in problems[0].message


def test_forms_are_stored_with_the_version_and_a_changed_form_is_a_new_version(ctx, layout):
    bpmn = layout / "pathways" / "triage.bpmn"
    first = deploy_files(ctx, [bpmn])[0]
    with ctx.db.unit_of_work() as session:
        stored = repo.version_by_id(session, first.version_id).forms
    assert list(stored) == ["triage/assess.form"]
    assert stored["triage/assess.form"]["components"][0]["key"] == "danger_level"
    assert deploy_files(ctx, [bpmn])[0].changed is False

    path = layout / "forms" / "triage" / "assess.form"
    form = json.loads(path.read_text(encoding="utf-8"))
    form["components"][0]["label"] = "危险性评估等级"
    path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    second = deploy_files(ctx, [bpmn])[0]
    assert (second.version, second.changed) == (2, True)
    with ctx.db.unit_of_work() as session:
        assert repo.version_by_id(session, first.version_id).forms["triage/assess.form"][
            "components"][0]["label"] == "危险性等级"
