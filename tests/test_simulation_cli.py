"""`carepath simulate` as a user runs it: JSON on stdout (progress on stderr), the CSV written,
the forecast stored for /simulations unless --no-save, and a wrong plan refused with exit 1
saying what is wrong."""
from __future__ import annotations

import json

from engine.simulation.saved import get_simulation

from conftest import PATHWAYS, Cli

ARGS = ("simulate", "school_screening", "--cohort", "15", "--from", "2026-11-02", "--days", "5",
        "--branches", "data", "--seed", "3")


def test_simulate_prints_json_writes_csv_and_stores_the_forecast(region, tmp_path):
    cli = Cli(region.db.url)
    cli.run("pathway", "deploy", str(PATHWAYS / "school_screening.bpmn"))
    csv_path = tmp_path / "load.csv"
    run = cli.run(*ARGS, "--csv", str(csv_path), "--user", "analyst_xu", "--json")
    result = json.loads(run.stdout)                          # stdout is the JSON alone
    assert "预测 school_screening" in run.stderr              # the progress, on stderr
    assert result["totals"]["people"] == 15 and result["pathway"] == "school_screening"
    assert result["from"] == "2026-11-02" and result["days"] == 5 and result["seed"] == 3
    rows = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("week_start,role,role_name,org,org_name")
    assert sum(int(line.split(",")[5]) for line in rows[1:]) == result["totals"]["tasks"] > 15

    stored = get_simulation(region, result["id"])
    assert stored["result"]["totals"] == result["totals"] and stored["created_by"] == "analyst_xu"

    again = json.loads(cli.run(*ARGS, "--no-save", "--json").stdout)
    assert "id" not in again and again["load"] == result["load"]       # same seed, same forecast
    human = cli.run(*ARGS, "--no-save").stdout
    assert "负荷最重的队列" in human and "15 人" in human


def test_a_wrong_plan_exits_1_saying_what_is_wrong(region, tmp_path):
    cli = Cli(region.db.url)
    cli.run("pathway", "deploy", str(PATHWAYS / "school_screening.bpmn"))
    staff = tmp_path / "staff.yaml"
    staff.write_text("roles:\n  education.teacher: {staff: many}\n", encoding="utf-8")
    run = cli.run(*ARGS, "--staff", str(staff), check=False)
    assert run.returncode == 1 and "staff.yaml: roles.education.teacher.staff 应为正整数" in run.stderr
    run = cli.run("simulate", "no_such", "--cohort", "5", "--from", "2026-11-02", "--days", "5", check=False)
    assert run.returncode == 1 and "路径 no_such 尚未部署" in run.stderr
