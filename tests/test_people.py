"""People the pathways carry: registered once, linked to every instance of their journey —
including pathways started by a message another pathway sent about them."""
from __future__ import annotations

import pytest

from engine.errors import InvalidInput, NotFound
from engine.pathways import deploy_files
from engine.people import register_person
from engine.runtime import services
from engine.runtime.queries import instance_detail
from engine.store import people as people_repo

from conftest import BPMN, task_by_element

COUNTY = "510781"


def test_register_is_idempotent_and_refuses_a_different_person_under_the_same_ref(ctx):
    first = register_person(ctx, "P-1", "张三", "510781001001", gender="男", birth_date="2009-03-01")
    assert first == {"id": first["id"], "ref": "P-1", "name": "张三", "gender": "男", "birth_date": "2009-03-01",
                     "org": "510781001001"}
    assert register_person(ctx, "P-1", "张三", "510781001001") == first
    with pytest.raises(InvalidInput, match="已登记为另一人"):
        register_person(ctx, "P-1", "李四", "510781001001")
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        register_person(ctx, "P-2", "王五", "510781001001", birth_date="2009/03/01")
    with pytest.raises(NotFound, match="机构"):
        register_person(ctx, "P-3", "赵六", "999999")


def test_instances_of_a_person_include_the_ones_a_message_started(ctx):
    deploy_files(ctx, [BPMN / "diagnosis.bpmn", BPMN / "relief.bpmn"])
    register_person(ctx, "P-9", "钱七", "510781001001")
    started = services.start_instance(ctx, "diagnosis", COUNTY, {"person_id": "P-9"}, person="P-9")
    assert instance_detail(ctx, started.instance)["data"]["person_ref"] == "P-9"
    confirm = task_by_element(started.tasks, "confirm")
    services.complete(ctx, confirm["id"], "doctor_a", {"diagnosis": "抑郁症", "low_income": True})

    with ctx.db.unit_of_work() as session:
        person = people_repo.person_by_ref(session, "P-9")
        journey = [(row.process_id, row.parent_instance_id)
                   for row in people_repo.instances_of_person(session, person.id)]
    assert journey == [("diagnosis", None), ("relief", started.instance)]


def test_starting_for_an_unknown_person_is_refused_and_starts_nothing(ctx):
    deploy_files(ctx, [BPMN / "diagnosis.bpmn"])
    with pytest.raises(NotFound, match="未登记"):
        services.start_instance(ctx, "diagnosis", COUNTY, {}, person="NOBODY")
    assert services.list_tasks(ctx) == []


def test_cli_registers_and_starts_for_a_person(cli):
    from conftest import BPMN as bpmn_dir
    cli.run("pathway", "deploy", str(bpmn_dir / "diagnosis.bpmn"))
    person = cli.json("person", "register", "P-5", "--name", "孙八", "--org", "510781001001",
                      "--gender", "女", "--birth-date", "1990-05-06")
    assert person["birth_date"] == "1990-05-06"
    outcome = cli.json("start", "diagnosis", "--org", COUNTY, "--person", "P-5")
    assert outcome["status"] == "running"
    refused = cli.run("start", "diagnosis", "--org", COUNTY, "--person", "P-404", check=False)
    assert refused.returncode != 0 and "P-404" in refused.stderr
