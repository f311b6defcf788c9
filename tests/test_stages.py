"""Care stages: analysts state the stage of every user task in the BPMN (`camunda:properties`
entry `stage`); `pathway validate` refuses a stage outside the chain; the stage travels onto the
task row and into task dicts; a database created before schema v3 gets the column on upgrade."""
from __future__ import annotations

import pytest
from lxml import etree
from sqlalchemy import inspect, select, text

from engine.bpmn.validate import validate_bytes
from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.queries import instance_detail
from engine.runtime.routing import task_stage
from engine.stages import STAGES, stage_label
from engine.store.db import Database
from engine.store.migrations import runner
from engine.store.models import SCHEMA_VERSION, HumanTask, SchemaInfo

from conftest import BPMN, PATHWAYS, deploy_pathways, task_by_element

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "camunda": "http://camunda.org/schema/1.0/bpmn"}
VILLAGE = "510781001001"
CHAIN = "prevention/screening/referral/diagnosis/treatment/rehabilitation/reintegration/crisis/relief"


def one_task_pathway(properties: str) -> bytes:
    """A pathway of one user task whose camunda:properties are `properties`."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="defs_staged" targetNamespace="http://carepath.example/bpmn">
  <bpmn:process id="staged" name="阶段" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="visit"/>
    <bpmn:userTask id="visit" name="随访" camunda:candidateGroups="health.family_doctor"
                   camunda:dueDate="workdays(2)">
      <bpmn:extensionElements>
        <camunda:properties>
{properties}
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="visit" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


# --- the list and its labels ---------------------------------------------------------------------

def test_stages_run_along_the_chain_with_chinese_and_english_labels():
    assert "/".join(STAGES) == CHAIN
    assert [stage_label(code) for code in STAGES] == [
        "预防", "筛查", "转介", "诊断", "治疗", "康复", "社会融入", "危机干预", "救助结算"]
    assert stage_label("reintegration", "en") == "Social reintegration"
    assert stage_label("referral", "zh_CN") == "转介"
    assert stage_label(None) == "未标注阶段" and stage_label(None, "en") == "No stage"
    assert stage_label("triage") == "triage"


# --- validation ----------------------------------------------------------------------------------

def test_validate_refuses_a_stage_outside_the_chain_naming_the_task_and_the_choices(cli, tmp_path):
    path = tmp_path / "staged.bpmn"
    path.write_bytes(one_task_pathway('          <camunda:property name="stage" value="triage"/>'))
    result = cli.run("pathway", "validate", str(path), check=False)
    assert result.returncode == 1
    assert f"{path}:12: visit: 服务阶段 stage 必须是 {CHAIN} 之一，得到 'triage'" in result.stdout, result.stdout


@pytest.mark.parametrize("properties", [
    '          <camunda:property name="stage" value="screening"/>',
    '          <camunda:property name="orgLevel" value="county"/>',     # no stage: the engine allows it
])
def test_a_known_stage_or_none_at_all_is_no_problem(properties):
    assert validate_bytes(one_task_pathway(properties), "staged.bpmn") == []


def test_an_empty_stage_is_refused():
    problems = validate_bytes(one_task_pathway('          <camunda:property name="stage" value=""/>'),
                              "staged.bpmn")
    assert [(p.element, p.message) for p in problems] == [
        ("visit", f"服务阶段 stage 必须是 {CHAIN} 之一，得到 ''")]


def test_the_stage_a_task_row_takes():
    assert task_stage({"stage": "relief"}) == "relief"
    assert task_stage({"stage": " crisis "}) == "crisis"
    assert task_stage({"orgLevel": "county"}) is None
    assert task_stage({"stage": "triage"}) is None       # validate refuses it; the engine stores nothing


# --- persistence ---------------------------------------------------------------------------------

def stated_stages(process_id: str) -> dict[str, str]:
    tree = etree.parse(str(PATHWAYS / f"{process_id}.bpmn"))
    return {task.get("id"): task.xpath("./bpmn:extensionElements/camunda:properties/"
                                       "camunda:property[@name='stage']/@value", namespaces=NS)[0]
            for task in tree.xpath("//bpmn:userTask", namespaces=NS)}


def test_tasks_carry_the_stage_their_pathway_states(region):
    deploy_pathways(region, "school_screening", "crisis_intervention", "care_chain", "diagnosis",
                    "community_rehab")
    firsts = {"school_screening": "screening", "crisis_intervention": "hotline_intake",
              "care_chain": "prevention_screen", "diagnosis": "diagnose"}
    seen = {}
    for process_id, element in firsts.items():
        started = services.start_instance(region, process_id, VILLAGE, {})
        task = task_by_element(started.tasks, element)
        assert task["stage"] == stated_stages(process_id)[element]
        seen[element] = task["stage"]
        with region.db.unit_of_work() as session:
            assert session.get(HumanTask, task["id"]).stage == task["stage"]
        assert task_by_element(instance_detail(region, started.instance)["tasks"], element)["stage"] == task["stage"]
    assert seen == {"screening": "screening", "hotline_intake": "crisis",
                    "prevention_screen": "prevention", "diagnose": "diagnosis"}

    # The next task of a pathway takes its own stage: a positive screen goes to diagnosis.
    school = services.list_tasks(region, org=VILLAGE)[0]
    done = services.complete(region, school["id"], "teacher_wang", {
        "student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
        "phq9_score": 15, "phq9_item9": 0, "screening_notes": "情绪低落"})
    assert [(t["element"], t["stage"]) for t in done.tasks] == [("remote_consult", "diagnosis")]
    assert [t["stage"] for t in services.tasks_for_user(region, "expert_chen")] == ["diagnosis"]


def test_a_pathway_that_states_no_stage_runs_with_none(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    started = services.start_instance(ctx, "scored_referral", VILLAGE, {})
    assert [(t["element"], t["stage"]) for t in started.tasks] == [("assess", None)]


# --- schema v2 → v3 --------------------------------------------------------------------------------

def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("human_tasks")}


def _indexes(db: Database, table: str) -> set[str]:
    return {i["name"] for i in inspect(db.engine).get_indexes(table)}


def _make_v2(db: Database) -> None:
    """What a database created by CarePath before schema v3 looks like (so before Alembic too):
    every revision after the baseline undone, then what v3–v5 added taken away."""
    runner.downgrade(db, runner.BASELINE)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql("DROP INDEX ix_human_tasks_status_completed")
        connection.exec_driver_sql("DROP INDEX ix_instances_process_started")
        connection.exec_driver_sql("ALTER TABLE human_tasks DROP COLUMN stage")
        connection.exec_driver_sql("ALTER TABLE pathway_versions DROP COLUMN decision_sources")
        connection.exec_driver_sql("DROP TABLE workspace_files")
        connection.exec_driver_sql("ALTER TABLE roles DROP COLUMN tiers")
        for table in ("consents", "break_glass", "audit_log", "login_attempts"):
            connection.exec_driver_sql(f"DROP TABLE {table}")
        connection.exec_driver_sql("UPDATE schema_info SET version = 2")


def _task_rows(db: Database) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(
            "SELECT id, instance_id, element, status, org_path, due_at, created_at FROM human_tasks ORDER BY id"))]


def test_a_v2_database_gets_the_stage_column_and_its_indexes_and_keeps_its_data(region):
    deploy_pathways(region, "school_screening")
    first = services.start_instance(region, "school_screening", VILLAGE, {})
    second = services.start_instance(region, "school_screening", VILLAGE, {})
    url = region.db.url
    region.db.dispose()

    old = Database(url)
    _make_v2(old)
    assert "stage" not in _columns(old)
    assert "ix_human_tasks_status_completed" not in _indexes(old, "human_tasks")
    before = _task_rows(old)
    assert len(before) == 2
    old.dispose()

    upgraded = Database(url)
    assert SCHEMA_VERSION == 5
    assert upgraded.create_schema() == 5
    assert "stage" in _columns(upgraded)
    assert "decision_sources" in {c["name"] for c in inspect(upgraded.engine).get_columns("pathway_versions")}
    assert {"workspace_files", "consents", "break_glass", "audit_log", "login_attempts"} <= set(
        inspect(upgraded.engine).get_table_names())
    assert "tiers" in {c["name"] for c in inspect(upgraded.engine).get_columns("roles")}
    assert "ix_human_tasks_status_completed" in _indexes(upgraded, "human_tasks")
    assert "ix_instances_process_started" in _indexes(upgraded, "instances")
    assert _task_rows(upgraded) == before
    with upgraded.unit_of_work() as session:
        assert session.scalar(select(SchemaInfo.version)) == 5
        assert [t.stage for t in session.scalars(select(HumanTask).order_by(HumanTask.id))] == [None, None]
    assert upgraded.create_schema() == 5          # running it again changes nothing
    assert _task_rows(upgraded) == before
    upgraded.dispose()

    # The engine runs on: old tasks complete, new tasks carry their stage.
    old_task = task_by_element(first.tasks, "screening")
    done = services.complete(region, old_task["id"], "teacher_wang", {
        "student_birth_date": "2010-12-15", "grade": "g9", "screening_date": "2026-11-02",
        "phq9_score": 15, "phq9_item9": 0, "screening_notes": "情绪低落"})
    assert [(t["element"], t["stage"]) for t in done.tasks] == [("remote_consult", "diagnosis")]
    third = services.start_instance(region, "school_screening", VILLAGE, {})
    assert [t["stage"] for t in third.tasks] == ["screening"]
    assert second.instance != third.instance


def test_an_upgrade_interrupted_after_the_column_completes_its_indexes(region):
    url = region.db.url
    region.db.create_schema()
    region.db.dispose()
    db = Database(url)
    runner.downgrade(db, runner.BASELINE)       # the legacy steps had run, Alembic had not
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")     # interrupted before Alembic came
        connection.exec_driver_sql("DROP INDEX ix_human_tasks_status_completed")
        connection.exec_driver_sql("UPDATE schema_info SET version = 2")
    assert db.create_schema() == 5
    assert "ix_human_tasks_status_completed" in _indexes(db, "human_tasks")
    db.dispose()


def test_a_database_newer_than_the_code_is_refused(region):
    with region.db.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE schema_info SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match=f"v{SCHEMA_VERSION + 1} is newer than this CarePath"):
        region.db.create_schema()
