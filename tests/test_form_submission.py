"""Every completion is checked against the task's form as deployed with its pathway: errors name
the field, and a refused submission changes nothing. Tasks without a form accept only the
variables they declare."""
from __future__ import annotations

import json
import shutil

import pytest

from engine.errors import FormInvalid
from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import DATA, task_by_element

ORG = "510781001"


@pytest.fixture
def triage(ctx, tmp_path):
    shutil.copytree(DATA / "decisions", tmp_path / "pathways")
    shutil.copytree(DATA / "forms", tmp_path / "forms")
    deploy_files(ctx, [tmp_path / "pathways" / "triage.bpmn"])
    ctx.tmp = tmp_path
    return ctx


def _assess(ctx) -> tuple[int, dict]:
    outcome = services.start_instance(ctx, "triage", ORG, {})
    return outcome.instance, task_by_element(outcome.tasks, "assess")


def test_invalid_values_are_refused_naming_each_field_and_nothing_changes(triage):
    instance, assess = _assess(triage)
    before = instance_detail(triage, instance)
    with pytest.raises(FormInvalid) as refused:
        services.complete(triage, assess["id"], "doctor_a", {"danger_level": 7, "summary": "x" * 201})
    assert set(refused.value.fields) == {"danger_level", "summary"}
    assert "危险性等级" in refused.value.fields["danger_level"][0]
    assert "评估摘要" in refused.value.fields["summary"][0]
    assert refused.value.fields_en["danger_level"]

    after = instance_detail(triage, instance)
    assert after["tasks"] == before["tasks"] and after["events"] == before["events"]
    assert task_by_element(services.list_tasks(triage, instance_id=instance), "assess")["status"] == "open"


def test_required_missing_and_unknown_fields_are_named(triage):
    _, assess = _assess(triage)
    with pytest.raises(FormInvalid) as refused:
        services.complete(triage, assess["id"], "doctor_a", {"dangerlevel": 2})
    assert set(refused.value.fields) == {"danger_level", "dangerlevel"}


def test_hidden_field_is_not_kept_and_a_shown_one_is(triage):
    low_instance, low = _assess(triage)
    services.complete(triage, low["id"], "doctor_a", {"danger_level": 1, "police_needed": True})
    assert "police_needed" not in instance_detail(triage, low_instance)["data"]

    high_instance, high = _assess(triage)
    services.complete(triage, high["id"], "doctor_a", {"danger_level": 4, "police_needed": True})
    assert instance_detail(triage, high_instance)["data"]["police_needed"] is True


def test_task_without_form_accepts_only_declared_variables(triage):
    instance, assess = _assess(triage)
    after = services.complete(triage, assess["id"], "doctor_a", {"danger_level": 0})
    note = task_by_element(after.tasks, "note")
    with pytest.raises(FormInvalid) as refused:
        services.complete(triage, note["id"], "doctor_a", {"remark": "好", "next_days": 1})
    assert list(refused.value.fields) == ["next_days"]     # may not overwrite the decision
    with pytest.raises(FormInvalid) as too_long:
        services.complete(triage, note["id"], "doctor_a", {"remark": "很" * 21})
    assert list(too_long.value.fields) == ["remark"]
    services.complete(triage, note["id"], "doctor_a", {"remark": "已电话告知"})
    assert instance_detail(triage, instance)["data"]["next_days"] == 90


def test_running_instances_keep_the_form_they_started_with(triage):
    instance, assess = _assess(triage)
    path = triage.tmp / "forms" / "triage" / "assess.form"
    form = json.loads(path.read_text(encoding="utf-8"))
    form["components"][0]["validate"]["max"] = 3
    path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    assert deploy_files(triage, [triage.tmp / "pathways" / "triage.bpmn"])[0].version == 2

    services.complete(triage, assess["id"], "doctor_a", {"danger_level": 5})   # v1 allows 5
    _, newer = _assess(triage)
    with pytest.raises(FormInvalid):
        services.complete(triage, newer["id"], "doctor_a", {"danger_level": 5})
