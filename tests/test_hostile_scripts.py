"""Scripts in a deployed pathway: escapes, endless loops, CPU and memory bombs put the instance in
error naming the element and the cause, within the time limit, leaving its data as it was; escapes
visible in the source are refused at deploy naming the element and the line."""
from __future__ import annotations

import resource
import time

import pytest

from engine.errors import PathwayInvalid
from engine.pathways import deploy_files
from engine.runtime import services
from engine.runtime.queries import instance_detail

from conftest import PATHWAYS, task_by_element
from hostile import VILLAGE, counts, library, nov  # noqa: F401  (library is a fixture)
from web import MovableClock, WebClient, text_of

DIAGNOSIS = (PATHWAYS / "diagnosis.bpmn").read_text(encoding="utf-8")
ORIGINAL = "relief_referred = household_type in ('dibao', 'tekun') and consent_share_civil == True"
SCRIPT_AT = DIAGNOSIS[:DIAGNOSIS.index(ORIGINAL)].count("\n") + 1        # the script's first line in the file
CONFIRMED = {"diagnosis_result": "confirmed", "icd10_code": "F20.0", "diagnosis_name": "偏执型精神分裂症",
             "severity": "severe", "household_type": "dibao", "consent_share_civil": True}
TIME_LIMIT = 0.3


def with_script(script: str) -> str:
    """The real diagnosis pathway with its decision script (decide_relief) replaced."""
    return DIAGNOSIS.replace(ORIGINAL, script.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


@pytest.fixture
def clinic(region):
    """The demo region on an engine whose scripts may run TIME_LIMIT seconds, with 张某 registered."""
    from engine.context import EngineContext
    from engine.people import register_person
    from engine.settings import Settings
    quick = EngineContext(Settings(database_url=region.settings.database_url, script_time_limit=TIME_LIMIT),
                          now=nov(2, 9), db=region.db)
    register_person(quick, "P-A", "张某", VILLAGE)
    return quick


def deploy_script(ctx, library, script: str):
    """Deploy the diagnosis pathway with `script` as its decision script; its DeployResult."""
    path = library / "pathways" / "diagnosis.bpmn"
    path.write_text(with_script(script), encoding="utf-8")
    return deploy_files(ctx, [path])[0]


def diagnosed(ctx, data: dict = CONFIRMED):
    """A diagnosis started for 张某 and its first task completed with `data`: (instance, outcome)."""
    started = services.start_instance(ctx, "diagnosis", VILLAGE, {}, person="P-A")
    task = task_by_element(started.tasks, "diagnose")
    return started.instance, services.complete(ctx, task["id"], "psychiatrist_zheng", data)


@pytest.mark.parametrize("script, line, token", [
    ("x = __import__('os').system('id')", 1, "__import__"),
    ("x = ().__class__.__bases__[0].__subclasses__()", 1, "__class__"),
    ("relief_referred = True\nx = open('/etc/passwd').read()", 2, "open"),
    ("x = eval('1 + 1')", 1, "eval"),
    ("x = getattr(household_type, '__class__')", 1, "getattr"),
    ("g = (i for i in [1])\nf = g.gi_frame", 2, "gi_frame"),
])
def test_a_script_escape_is_refused_at_deploy_naming_the_element_and_line(clinic, library, script, line, token):
    before = counts(clinic)
    with pytest.raises(PathwayInvalid) as refused:
        deploy_script(clinic, library, script)
    problems = refused.value.problems                          # `().__class__.__bases__` is three refusals
    assert {(p.element, p.line) for p in problems} == {("decide_relief", SCRIPT_AT + line - 1)}
    assert any(f"脚本第 {line} 行" in p.message and token in p.message for p in problems), problems
    assert counts(clinic) == before


RUNTIME = [   # refused or stopped only when they run: (script, data typed into the form, kind, lines, token)
    ("g = getattr\nx = g(household_type, 'upper')", {}, "ScriptSecurityError", (2,), "getattr"),
    ("x = '{0.__class__.__mro__}'.format(household_type)", {}, "ScriptSecurityError", (1,), "__class__"),
    ("x = diagnosis_notes.format(household_type)", {"diagnosis_notes": "{0.__class__.__base__}"},
     "ScriptSecurityError", (1,), "__class__"),
    ("x = '{0.gi_frame}'.format((i for i in []))", {}, "ScriptSecurityError", (1,), "gi_frame"),
    ("relief_referred = True\nwhile True:\n    pass", {}, "ScriptTimeout", (2, 3), "超时"),   # stopped in the loop
    ("x = 10 ** 10 ** 10", {}, "ScriptLimitError", (1,), "上限"),
    ("x = 'a' * 10 ** 10", {}, "ScriptLimitError", (1,), "上限"),
    ("x = []\nwhile True:\n    x.append(household_type)", {}, "ScriptTimeout", (2, 3), "超时"),
    ("x = []\nwhile True:\n    x = [x]", {}, "ScriptTimeout", (2, 3), "超时"),
    ("x = []\nfor i in range(100):\n    x = [x]", {}, "ScriptLimitError", (), "嵌套超过 64 层"),   # what it left
    ("x = [list(range(1000)) for i in range(1001)]", {}, "ScriptLimitError", (), "过大"),
]


@pytest.mark.parametrize("script, typed, kind, lines, token", RUNTIME)
def test_a_script_that_escapes_loops_or_explodes_at_run_time_errors_its_instance_within_the_limit(
        clinic, library, script, typed, kind, lines, token):
    deploy_script(clinic, library, script)
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    instance, outcome = diagnosed(clinic, {**CONFIRMED, **typed})
    assert time.monotonic() - started < TIME_LIMIT + 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory < 1024 * 1024     # < 1 GB (KB units)
    assert outcome.status == "error" and outcome.tasks == []
    error = outcome.error
    assert (error["element"], error["element_name"], error["kind"]) == ("decide_relief", "判定是否触发救助", kind)
    assert token in error["message"], error
    assert error["script_line"] in lines if lines else "script_line" not in error, error
    detail = instance_detail(clinic, instance)
    assert [(t["element"], t["status"]) for t in detail["tasks"]] == [("diagnose", "completed")]   # the work is kept
    assert detail["data"]["diagnosis_name"] == "偏执型精神分裂症"
    assert not {"x", "g", "relief_referred"} & set(detail["data"])           # the script left nothing behind
    assert detail["events"][-1]["kind"] == "instance_error"


def test_an_endless_loop_leaves_other_instances_alone_and_a_fixed_pathway_resumes_it(clinic, library):
    from engine import migration
    from webui import create_app
    deploy_script(clinic, library, "while True:\n    pass")
    waiting = services.start_instance(clinic, "diagnosis", VILLAGE, {}, person="P-A")
    broken, outcome = diagnosed(clinic)
    assert outcome.status == "error" and outcome.error["kind"] == "ScriptTimeout"
    other = task_by_element(services.list_tasks(clinic, instance_id=waiting.instance), "diagnose")
    ended = services.complete(clinic, other["id"], "psychiatrist_zheng",
                              {"diagnosis_result": "not_confirmed", "diagnosis_notes": "两周后复诊"})
    assert ended.status == "completed"

    supervisor = WebClient(create_app(clinic, now=MovableClock(nov(2, 10)).now))
    supervisor.login("health_sup_jy")
    supervisor.get(f"/instances/{broken}")
    before = counts(clinic)
    retried = supervisor.post(f"/instances/{broken}/retry", follow_redirects=True)
    assert "重试后仍然出错" in text_of(retried) and "超时" in text_of(retried)
    after = counts(clinic)
    assert after["events"] == before["events"] + 2 and {k: v for k, v in after.items() if k != "events"} == \
        {k: v for k, v in before.items() if k != "events"}                   # instance_retried, instance_error
    assert instance_detail(clinic, broken)["status"] == "error"

    fixed = deploy_script(clinic, library, ORIGINAL)                 # the analyst mends the script
    [moved] = migration.migrate_instances_for_user(clinic, "analyst_xu", [broken], fixed.version_id)
    assert moved.ok, moved
    detail = instance_detail(clinic, broken)
    assert detail["status"] == "running" and detail["data"]["relief_referred"] is True
    assert [t["element"] for t in detail["tasks"] if t["status"] == "open"] == ["treatment_plan"]


HEAVY = ("total = 0\nfor i in range(1000):\n    for j in range(1000):\n        total += i * j\n"
         "        total -= j\n        total += 1\n" + ORIGINAL)


def test_a_supervisor_retry_after_the_cause_is_fixed_resumes_the_instance(clinic, library):
    """A slow but finite script stops at the time limit; once the operator has raised the limit
    (CAREPATH_SCRIPT_TIME_LIMIT), the supervisor's retry runs it to the end. (Instance data cannot
    be edited in CarePath: what can be fixed is the pathway — see above — the directory — see
    tests/test_script_errors_become_state.py — or the engine's settings, as here.)"""
    from engine.context import EngineContext
    from engine.settings import Settings
    from webui import create_app
    deploy_script(clinic, library, HEAVY)
    broken, outcome = diagnosed(clinic)
    assert outcome.status == "error" and outcome.error["kind"] == "ScriptTimeout"
    assert "total" not in instance_detail(clinic, broken)["data"]
    patient = EngineContext(Settings(database_url=clinic.settings.database_url, script_time_limit=60),
                            now=nov(2, 10), db=clinic.db)
    supervisor = WebClient(create_app(patient, now=MovableClock(nov(2, 10)).now))
    supervisor.login("health_sup_jy")
    supervisor.get(f"/instances/{broken}")
    resumed = supervisor.post(f"/instances/{broken}/retry", follow_redirects=True)
    assert "实例已恢复运行" in text_of(resumed)
    detail = instance_detail(patient, broken)
    assert detail["status"] == "running" and detail["data"]["total"] == 499_500 * 499_500 - 1_000 * 499_500 + 1_000_000
    assert [t["element"] for t in detail["tasks"] if t["status"] == "open"] == ["treatment_plan"]
    assert [e["actor"] for e in detail["events"] if e["kind"] == "instance_retried"] == ["health_sup_jy"]
