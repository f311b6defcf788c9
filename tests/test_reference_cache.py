"""Reference data cached per process behind one token (engine/store/reference.py, Alembic 0007).

The token moves with every change to pathway versions, org units, roles and calendar layers, made
by anyone, raw SQL included; a start reads only the token; changes another process makes are seen
at the next unit of work; a transaction sees its own changes and shares none it rolls back; a
database not yet at 0007 is read directly, and the cache comes back once it is upgraded.
"""
from __future__ import annotations

import os
from datetime import datetime

import pytest
from sqlalchemy import text

from conftest import BACKEND, ROOT, SHANGHAI, Cli, deploy_pathways
from driver_trace import statements_sent
from engine.pathways import latest_version_or_fail
from engine.runtime import services
from engine.runtime.routing import Directory
from engine.store import reference
from engine.store.migrations import runner

VILLAGE = "510781001001"        # 太平村
FIRST_TASK = "学生心理筛查（PHQ-9）"


def token(ctx) -> str:
    with ctx.db.engine.connect() as connection:
        return connection.execute(text("SELECT token FROM reference_token WHERE id = 1")).scalar_one()


def statements_of(ctx, work):
    with statements_sent(ctx.db.engine) as sent:
        result = work()
    return sent, result


def start(ctx):
    return services.start_instance(ctx, "school_screening", VILLAGE, {})


# --- the token ------------------------------------------------------------------------------------

CHANGES = {
    "org_units": ["INSERT INTO org_units (code, name, level, parent_code, path) "
                  "VALUES ('510781001009', '测试村', 'village', '510781001', '/510000/510700/510781/510781001/510781001009/')",
                  "UPDATE org_units SET name = '测试新村' WHERE code = '510781001009'",
                  "DELETE FROM org_units WHERE code = '510781001009'"],
    "roles": ["INSERT INTO roles (code, name) VALUES ('test.role', '测试角色')",
              "UPDATE roles SET name = '测试角色二' WHERE code = 'test.role'",
              "DELETE FROM roles WHERE code = 'test.role'"],
    "pathway_versions": ["UPDATE pathway_versions SET comment = 'x'"],
    "calendar_layers": ["INSERT INTO calendar_layers (sha256, filename, region, source, official, rules, years, "
                        "imported_at) VALUES ('ab', 'x.yaml', NULL, '测试', true, '[]', '[]', '2026-11-02 01:00:00')",
                        "UPDATE calendar_layers SET source = '测试二'",
                        "DELETE FROM calendar_layers"],
}


def test_every_change_to_reference_data_moves_the_token_and_nothing_else_does(region):
    deploy_pathways(region, "school_screening")
    seen = {token(region)}
    for table, statements in CHANGES.items():
        for statement in statements:
            with region.db.engine.begin() as connection:
                connection.exec_driver_sql(statement)
            now = token(region)
            assert now not in seen, f"{table}: {statement} left the token as it was"
            seen.add(now)
    before = token(region)
    start(region)                                    # instances, tasks, grants, events: not reference data
    with region.db.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE users SET name = name")
    assert token(region) == before
    if BACKEND == "postgresql":
        with region.db.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE calendar_layers")
        assert token(region) != before


def test_a_rolled_back_change_leaves_the_token_it_found(region):
    before = token(region)
    with region.db.engine.connect() as connection:
        connection.exec_driver_sql(CHANGES["roles"][0])
        connection.rollback()
    assert token(region) == before


# --- one read per unit of work --------------------------------------------------------------------

def test_a_start_reads_the_token_and_nothing_else(region):
    deploy_pathways(region, "school_screening")
    start(region)                                    # the process's copy is filled here
    sent, outcome = statements_of(region, lambda: start(region))
    reads = [s for s in sent if s.upper().startswith("SELECT")]
    assert reads == ["SELECT token FROM reference_token WHERE id = 1"], reads
    assert [t["name"] for t in outcome.tasks] == [FIRST_TASK]
    assert outcome.tasks[0]["due_at"] == datetime(2026, 11, 9, 18, 0, tzinfo=SHANGHAI)    # 5 working days


# --- another process's changes --------------------------------------------------------------------

@pytest.fixture
def other_process(region, tmp_path):
    """The `carepath` command on the same database: a process with a cache of its own."""
    return Cli(region.settings.database_url)


def test_what_another_process_deploys_imports_or_loads_is_seen_at_the_next_unit_of_work(region, other_process,
                                                                                        tmp_path):
    deploy_pathways(region, "school_screening")
    first = start(region)
    assert first.tasks[0]["name"] == FIRST_TASK and first.tasks[0]["org"] == VILLAGE

    # a new version of the pathway, deployed by another process
    (tmp_path / "pathways").mkdir()
    os.symlink(ROOT / "forms", tmp_path / "forms")
    changed = tmp_path / "pathways" / "school_screening.bpmn"
    changed.write_text((ROOT / "pathways" / "school_screening.bpmn").read_text(encoding="utf-8")
                       .replace(f'name="{FIRST_TASK}"', 'name="学生心理筛查（第二版）"'), encoding="utf-8")
    other_process.run("pathway", "deploy", str(changed))
    second = start(region)
    assert second.tasks[0]["name"] == "学生心理筛查（第二版）"
    with region.db.unit_of_work() as session:
        assert latest_version_or_fail(session, "school_screening").version == 2

    # a working-day calendar imported by another process: 3–6 November off, so the 5 working days
    # after Monday 2 November are 9–13 November (instead of 3–9)
    layer = tmp_path / "off.yaml"
    layer.write_text("source: 测试样例（虚构）\nofficial: true\nyears: [2026]\ndays:\n"
                     + "".join(f"  - {{date: 2026-11-0{d}, kind: off, name: 测试休息日}}\n" for d in (3, 4, 5, 6)),
                     encoding="utf-8")
    other_process.run("calendar", "import", str(layer))
    third = start(region)
    assert third.tasks[0]["due_at"] == datetime(2026, 11, 13, 18, 0, tzinfo=SHANGHAI)

    # the village renamed, the teacher role renamed, by another process
    with region.db.engine.begin() as connection:        # (a connection of no session: raw SQL)
        connection.exec_driver_sql("UPDATE org_units SET name = '太平新村' WHERE code = '510781001001'")
        connection.exec_driver_sql("UPDATE roles SET name = '班主任' WHERE code = 'education.teacher'")
    with region.db.unit_of_work() as session:
        directory = Directory.of(session)
        assert directory.unit(VILLAGE).name == "太平新村"
        assert directory.roles()[0]["education.teacher"] == "班主任"


# --- a transaction's own changes ------------------------------------------------------------------

def test_a_transaction_sees_its_own_changes_and_shares_none_it_rolls_back(region):
    deploy_pathways(region, "school_screening")
    with region.db.unit_of_work() as session:
        assert Directory.of(session).unit(VILLAGE).name == "太平村"            # kept for the process
    session = region.db.session()
    try:
        assert reference.snapshot(session) is not None
        session.execute(text("UPDATE org_units SET name = '改名未提交' WHERE code = :code"), {"code": VILLAGE})
        session.execute(text("UPDATE pathway_versions SET version = 7"))
        assert reference.snapshot(session) is None                          # read directly from now on
        assert Directory(session).unit(VILLAGE).name == "改名未提交"
        assert latest_version_or_fail(session, "school_screening").version == 7
        session.rollback()
    finally:
        session.close()
    with region.db.unit_of_work() as session:
        assert reference.snapshot(session) is not None
        assert Directory.of(session).unit(VILLAGE).name == "太平村"
        assert latest_version_or_fail(session, "school_screening").version == 1
    start(region)                                   # (the pathway's spec is read once per process)
    sent, _ = statements_of(region, lambda: start(region))
    assert sum(s.upper().startswith("SELECT") for s in sent) == 1           # and the copy is used again


# --- a database before 0007 -----------------------------------------------------------------------

def test_a_database_before_0007_is_read_directly_and_cached_again_once_upgraded(region):
    deploy_pathways(region, "school_screening")
    start(region)                                   # (the pathway's spec is read once per process)
    region.db.engine.dispose()
    assert runner.downgrade(region.db, "0006_simulations") == ["0008_lean_indexes", "0007_reference_token"]
    start(region)                                   # asks once whether the table is there
    sent, outcome = statements_of(region, lambda: start(region))
    assert outcome.tasks[0]["name"] == FIRST_TASK
    reads = [s for s in sent if s.upper().startswith("SELECT")]
    assert not any("reference_token" in s for s in reads) and len(reads) == 4   # version, unit, roles, calendar
    region.db.engine.dispose()
    assert runner.upgrade(region.db).applied == ["0007_reference_token", "0008_lean_indexes"]
    start(region)                                   # fills the copy under the new token
    sent, _ = statements_of(region, lambda: start(region))
    reads = [s for s in sent if s.upper().startswith("SELECT")]
    assert len(reads) == 1 and "reference_token" in reads[0], reads
