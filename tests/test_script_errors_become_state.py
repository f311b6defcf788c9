"""Scripts run sandboxed: an escape attempt, an endless loop or a missing variable puts the
instance in an error state that says what and where; the user's input is kept; retry works."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.queries import instance_detail
from engine.settings import Settings

from conftest import BPMN, SHANGHAI, T0, task_by_element

TOWNSHIP_A = "510781001"


def _start_and_assess(ctx, process="scored_referral", data=None):
    started = services.start_instance(ctx, process, TOWNSHIP_A, {})
    task = task_by_element(started.tasks, started.tasks[0]["element"])
    return started.instance, services.complete(ctx, task["id"], "doctor_a", data or {})


def test_script_and_gateway_route_by_score(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    _, urgent = _start_and_assess(ctx, data={"phq9": 19})
    assert [(t["element"], t["role"]) for t in urgent.tasks] == [("refer", "health.psychiatrist")]
    _, routine = _start_and_assess(ctx, data={"phq9": 6})
    follow = task_by_element(routine.tasks, "follow_up")
    # workdays(2) from Monday 2 Nov 2026 09:00: Tue is day 1, Wed 4 Nov is day 2, closing 18:00.
    assert follow["due_at"] == datetime(2026, 11, 4, 18, 0, tzinfo=SHANGHAI)


def test_escape_attempt_is_refused_at_deploy_with_its_line(ctx):
    from engine.errors import PathwayInvalid
    with pytest.raises(PathwayInvalid) as caught:
        deploy_files(ctx, [BPMN / "escape_attempt.bpmn"])
    assert any(p.element == "sneaky" and p.line == 12 for p in caught.value.problems), caught.value.problems


def test_runtime_script_failure_records_what_and_where_and_retry_resumes(ctx):
    deploy_files(ctx, [BPMN / "scored_referral.bpmn"])
    instance_id, outcome = _start_and_assess(ctx, data={"note": "phq9 missing"})
    assert outcome.status == "error"
    error = outcome.error
    assert error["element"] == "score" and error["script_line"] == 1
    assert "phq9" in error["message"]
    detail = instance_detail(ctx, instance_id)
    assert [t["status"] for t in detail["tasks"]] == ["completed"]      # the doctor's work is kept
    assert detail["events"][-1]["kind"] == "instance_error"

    # Retrying without fixing anything fails the same way, and says so again.
    again = services.retry_instance(ctx, instance_id)
    assert again.status == "error" and again.error["element"] == "score"


def test_escape_at_run_time_is_refused_inside_the_sandbox(ctx, tmp_path):
    """An escape that no validator can see, because it comes from the data (a format string
    typed into a form), is refused by the sandbox at run time."""
    text = (BPMN / "escape_attempt.bpmn").read_text(encoding="utf-8").replace(
        'handle = getattr(note, "__class__")', 'handle = template.format(note)')
    path = tmp_path / "escape_attempt.bpmn"
    path.write_text(text, encoding="utf-8")
    deploy_files(ctx, [path])
    instance_id, outcome = _start_and_assess(ctx, "escape_attempt", {"template": "{0.__class__}"})
    assert outcome.status == "error"
    assert outcome.error["element"] == "sneaky" and outcome.error["script_line"] == 2
    assert "__class__" in outcome.error["message"]


def test_routing_error_is_retried_after_the_directory_is_fixed(ctx, tmp_path):
    from engine.directory import load_directory
    text = (BPMN / "scored_referral.bpmn").read_text(encoding="utf-8").replace(
        'camunda:candidateGroups="health.psychiatrist"', 'camunda:candidateGroups="${referral_role}"')
    path = tmp_path / "scored_referral.bpmn"
    path.write_text(text, encoding="utf-8")
    deploy_files(ctx, [path])
    instance_id, outcome = _start_and_assess(
        ctx, data={"phq9": 20, "referral_role": "health.crisis_team"})
    assert outcome.status == "error" and outcome.error["element"] == "refer"
    assert "health.crisis_team" in outcome.error["message"]

    extra = tmp_path / "crisis.yaml"
    extra.write_text("roles: [{code: health.crisis_team, name: 危机干预队}]\n", encoding="utf-8")
    load_directory(ctx.db, extra)
    resumed = services.retry_instance(ctx, instance_id)
    assert resumed.status == "running"
    assert [(t["element"], t["role"]) for t in resumed.tasks] == [("refer", "health.crisis_team")]


def test_endless_loop_is_stopped_by_the_time_limit(ctx, tmp_path):
    from engine.context import EngineContext
    looping = (BPMN / "scored_referral.bpmn").read_text(encoding="utf-8").replace(
        "risk = min(5, max(0, int(phq9) // 5))", "while True:\n    pass")
    path = tmp_path / "scored_referral.bpmn"
    path.write_text(looping, encoding="utf-8")
    quick = EngineContext(Settings(database_url=ctx.settings.database_url, script_time_limit=0.3), now=T0,
                          db=ctx.db)
    deploy_files(quick, [path])
    _, outcome = _start_and_assess(quick, data={"phq9": 3})
    assert outcome.status == "error"
    assert outcome.error["element"] == "score"
    assert "Timeout" in outcome.error["kind"] or "超时" in outcome.error["message"]


def test_time_helpers_refuse_absurd_arguments(ctx, tmp_path):
    """Helpers run outside the sandbox's tracer, so they bound their own arguments."""
    text = (BPMN / "scored_referral.bpmn").read_text(encoding="utf-8").replace(
        'camunda:dueDate="workdays(2)"', 'camunda:dueDate="workdays(10 ** 9)"')
    path = tmp_path / "scored_referral.bpmn"
    path.write_text(text, encoding="utf-8")
    deploy_files(ctx, [path])
    _, outcome = _start_and_assess(ctx, data={"phq9": 1})
    assert outcome.status == "error" and outcome.error["element"] == "follow_up"
    assert "workdays" in outcome.error["message"] and "2500" in outcome.error["message"]
