"""Two people completing the same task at once: exactly one succeeds, the other is told why,
and nothing is applied twice."""
from __future__ import annotations

import subprocess
import threading

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict
from engine.pathways import deploy_files
from engine.runtime import instances, services
from engine.store.models import Event, HumanTask

from conftest import BPMN, task_by_element

TOWNSHIP_A = "510781001"


def _positive_screen(ctx):
    started = services.start_instance(ctx, "school_screening", TOWNSHIP_A, {"student": "S"})
    services.complete(ctx, task_by_element(started.tasks, "screen")["id"], "teacher_a", {"score": 15})
    consult = task_by_element(services.list_tasks(ctx, instance_id=started.instance), "consult")
    services.complete(ctx, consult["id"], "expert", {})
    plan = task_by_element(services.list_tasks(ctx, instance_id=started.instance), "joint_plan")
    return started.instance, plan


@pytest.mark.parametrize("round_", range(5))
def test_two_threads_complete_the_same_task(ctx, round_):
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    instance_id, plan = _positive_screen(ctx)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def attempt(user):
        barrier.wait()
        try:
            results[user] = services.complete(ctx, plan["id"], user, {"by": user})
        except Conflict as err:
            results[user] = err

    threads = [threading.Thread(target=attempt, args=(u,)) for u in ("psych_a", "doctor_a")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [u for u, r in results.items() if not isinstance(r, Exception)]
    losers = [r for r in results.values() if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert winners[0] in str(losers[0]) or "其他" in str(losers[0])
    with ctx.db.unit_of_work() as session:
        completions = session.scalar(select(func.count()).select_from(Event).where(
            Event.kind == "task_completed", Event.task_id == plan["id"]))
        row = session.get(HumanTask, plan["id"])
    assert completions == 1
    assert (row.status, row.completed_by) == ("completed", winners[0])
    _, workflow = _load(ctx, instance_id)
    assert workflow.is_completed()
    assert workflow.get_tasks(spec_name="joint_plan")[0].data["by"] == winners[0]


def _load(ctx, instance_id):
    with ctx.db.unit_of_work() as session:
        return instances.load(ctx, session, instance_id)


def test_a_stale_instance_write_is_refused(ctx):
    """The instance row's version column refuses a writer that loaded an older state."""
    deploy_files(ctx, [BPMN / "school_screening.bpmn"])
    started = services.start_instance(ctx, "school_screening", TOWNSHIP_A, {})
    first, second = ctx.db.session(), ctx.db.session()
    try:
        row_a, wf_a = instances.load(ctx, first, started.instance)
        row_b, wf_b = instances.load(ctx, second, started.instance)
        instances.persist(ctx, first, row_a, wf_a)
        first.commit()
        with pytest.raises(Conflict, match="已被其他操作修改"):
            instances.persist(ctx, second, row_b, wf_b)
        second.rollback()
    finally:
        first.close()
        second.close()


def test_two_processes_complete_the_same_task(ctx, cli):
    cli.run("pathway", "deploy", str(BPMN / "school_screening.bpmn"))
    started = cli.json("start", "school_screening", "--org", TOWNSHIP_A, "--data", '{"student": "S"}')
    screen = started["tasks"][0]["id"]
    command = [cli.exe, "complete", str(screen), "--user", "teacher_a", "--data", '{"score": 1}']
    county = [cli.exe, "complete", str(screen), "--user", "teacher_county", "--data", '{"score": 2}']
    procs = [subprocess.Popen(c, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in (command, county)]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(err for code, _, err in outcomes if code == 1)
    assert "任务" in loser and ("已由" in loser or "其他" in loser)
    tasks = cli.json("tasks", "--instance", str(started["instance"]), "--status", "all")
    assert [(t["element"], t["status"]) for t in tasks] == [("screen", "completed")]
