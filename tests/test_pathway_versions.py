"""Deploying stores a new immutable version only when content changed; specs are restored once
per version; running instances stay on their version."""
from __future__ import annotations

import shutil

from engine.pathways import deploy_files
from engine.runtime import services

from conftest import BPMN, task_by_element

TOWNSHIP_A = "510781001"


def test_redeploying_unchanged_content_creates_no_version(ctx):
    first = deploy_files(ctx, [BPMN / "school_screening.bpmn"], comment="初版")
    again = deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    assert [(r.version, r.changed) for r in first] == [(1, True)]
    assert [(r.version, r.changed, r.version_id) for r in again] == [(1, False, first[0].version_id)]


def test_running_instances_stay_on_their_version(ctx, tmp_path):
    v1 = deploy_files(ctx, [BPMN / "school_screening.bpmn"])[0]
    old = services.start_instance(ctx, "school_screening", TOWNSHIP_A, {})

    (tmp_path / "bpmn").mkdir()
    shutil.copytree(BPMN.parent / "forms", tmp_path / "forms")   # forms travel with the pathway
    changed = tmp_path / "bpmn" / "school_screening.bpmn"
    shutil.copy(BPMN / "school_screening.bpmn", changed)
    changed.write_text(changed.read_text(encoding="utf-8").replace('camunda:dueDate="P2D"', 'camunda:dueDate="P4D"'),
                       encoding="utf-8")
    v2 = deploy_files(ctx, [changed], comment="会诊时限改为4天")[0]
    assert (v2.version, v2.changed) == (2, True)

    new = services.start_instance(ctx, "school_screening", TOWNSHIP_A, {})
    for instance in (old, new):
        services.complete(ctx, task_by_element(instance.tasks, "screen")["id"], "teacher_a", {"score": 11})
    old_consult = task_by_element(services.list_tasks(ctx, instance_id=old.instance), "consult")
    new_consult = task_by_element(services.list_tasks(ctx, instance_id=new.instance), "consult")
    assert (new_consult["due_at"] - old_consult["due_at"]).days == 2

    from engine.runtime.queries import instance_detail
    assert instance_detail(ctx, old.instance)["version_id"] == v1.version_id
    assert instance_detail(ctx, new.instance)["version_id"] == v2.version_id


def test_specs_are_restored_once_per_version_not_per_request(ctx):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    calls = []
    original = ctx.serializer.specs_from_json
    ctx.serializer.specs_from_json = lambda text: calls.append(1) or original(text)
    for _ in range(4):
        started = services.start_instance(ctx, "school_screening", TOWNSHIP_A, {})
        services.complete(ctx, started.tasks[0]["id"], "teacher_a", {"score": 1})
    assert len(calls) == 1


def test_instance_state_does_not_embed_the_spec(ctx):
    import zlib, json
    from engine.store.models import Instance
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    started = services.start_instance(ctx, "school_screening", TOWNSHIP_A, {})
    with ctx.db.unit_of_work() as session:
        state = json.loads(zlib.decompress(session.get(Instance, started.instance).state))
    assert "spec" not in state["workflow"] and "subprocess_specs" not in state["workflow"]
    assert "远程会诊" not in json.dumps(state, ensure_ascii=False)   # task names live in the spec


def test_pathway_list_cli(cli):
    cli.run("pathway", "deploy", str(BPMN / "diagnosis.bpmn"), str(BPMN / "relief.bpmn"))
    rows = cli.json("pathway", "list")
    assert [(r["process_id"], r["version"], r["message_starts"]) for r in rows] == [
        ("diagnosis", 1, []), ("relief", 1, ["diagnosis_confirmed"])]
