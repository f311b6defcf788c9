"""The script sandbox (engine.scripting): escapes refused, analyst scripts work, limits hold.

Real RestrictedPython and real SpiffWorkflow throughout; no mocks.
"""
from __future__ import annotations

import pickle
import sys
import threading
import time
from datetime import date, datetime, timedelta

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.scripting import (
    SandboxEnvironment, SandboxLimits, SandboxScriptEngine, ScriptError, ScriptLimitError, ScriptNameError,
    ScriptOverwriteError, ScriptRuntimeError, ScriptSecurityError, ScriptSyntaxError, ScriptTimeout,
    check_expression, check_script, compile_source,
)

START = datetime(2026, 11, 2, 9, 0)


def workdays(n: int) -> datetime:
    """Stand-in for the engine's calendar helper: n days after START at 17:00."""
    return (START + timedelta(days=n)).replace(hour=17)


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment({"datetime": datetime, "date": date, "timedelta": timedelta})


def run(env: SandboxEnvironment, script: str, data: dict | None = None, external: dict | None = None) -> dict:
    data = dict(data or {})
    env.execute(script, data, external)
    return data


# --------------------------------------------------------------------------- escapes

ESCAPES = [
    # (source, mode, exception class, line, text that must appear in the message)
    ("import os", "exec", ScriptSecurityError, 1, "import os"),
    ("x = 1\nfrom os import path", "exec", ScriptSecurityError, 2, "import"),
    ("__import__('os')", "eval", ScriptSecurityError, 1, "__import__"),
    ("().__class__.__bases__[0].__subclasses__()", "eval", ScriptSecurityError, 1, "__class__"),
    ("x = 1\ny = ().__class__.__bases__[0].__subclasses__()", "exec", ScriptSecurityError, 2, "__class__"),
    ("helper.__globals__", "eval", ScriptSecurityError, 1, "__globals__"),
    ("__builtins__", "eval", ScriptSecurityError, 1, "__builtins__"),
    ("getattr(1, '__class__')", "eval", ScriptSecurityError, 1, "getattr"),
    ("setattr(helper, 'x', 1)", "eval", ScriptSecurityError, 1, "setattr"),
    ("eval('1')", "eval", ScriptSecurityError, 1, "eval"),
    ("a = 1\nexec('b = 2')", "exec", ScriptSecurityError, 2, "exec"),
    ("open('/etc/passwd').read()", "eval", ScriptSecurityError, 1, "open"),
    ("compile('1', 'f', 'eval')", "eval", ScriptSecurityError, 1, "compile"),
    ("globals()", "eval", ScriptSecurityError, 1, "globals"),
    ("vars()", "eval", ScriptSecurityError, 1, "vars"),
    ("type(1)", "eval", ScriptSecurityError, 1, "type"),
    ("type.__subclasses__(object)", "eval", ScriptSecurityError, 1, "__subclasses__"),
    ("x = 1\ng = (i for i in [1])\nf = g.gi_frame", "exec", ScriptSecurityError, 3, "gi_frame"),
    ("frame.f_back", "eval", ScriptSecurityError, 1, "f_back"),
    ("tb.tb_frame", "eval", ScriptSecurityError, 1, "tb_frame"),
    ("helper.x = 1", "exec", ScriptSecurityError, 1, ".x"),
    ("class A:\n    pass", "exec", ScriptSecurityError, 1, "class"),
    ("with x:\n    pass", "exec", ScriptSecurityError, 1, "with"),
    ("try:\n    x = 1\nfinally:\n    x = 2", "exec", ScriptSecurityError, 1, "finally"),
    ("def f():\n    yield 1", "exec", ScriptSecurityError, 2, "yield"),
    ("x = (", "exec", ScriptSyntaxError, 1, "语法错误"),
    ("a = 1\nb = = 2", "exec", ScriptSyntaxError, 2, "语法错误"),
    ("x >", "eval", ScriptSyntaxError, 1, "语法错误"),
]


@pytest.mark.parametrize(("source", "mode", "error", "line", "token"), ESCAPES)
def test_escape_is_refused_with_class_and_line(env, source, mode, error, line, token):
    data = {"helper": workdays}
    with pytest.raises(error) as caught:
        if mode == "eval":
            env.evaluate(source, data)
        else:
            env.execute(source, data)
    assert caught.value.line == line
    assert token in caught.value.message
    assert str(caught.value).endswith(f"(line {line})")
    # the static check reports the same problem without running anything
    problems = check_expression(source) if mode == "eval" else check_script(source)
    assert problems and problems[0].line == line and problems[0].kind is error


RUNTIME_ESCAPES = [
    # refused only when they run: aliases, str.format field tricks, writes to non-containers
    ("g = getattr\nx = g(1, 'real')", 2, "getattr"),
    ("t = type\nx = t(1)", 2, "type"),
    ("x = 1\ny = '{0.__class__}'.format(x)", 2, "__class__"),
    ("y = '{x.__class__.__mro__}'.format_map({'x': 1})", 1, "__class__"),
    ("y = '{0.gi_frame}'.format((i for i in []))", 1, "gi_frame"),
    ("f = str.format\ny = f('{0.__class__}', 1)", 1, "str.format"),
    ("s = 'x'\nj = str.join(s, ['a'])", 2, "str.join"),
    ("t = (1, 2)\nt[0] = 5", 2, "tuple"),
    ("d = start\nd[0] = 1", 2, "datetime"),
    ("x = start.year\nm = helper_module.path", 2, "模块"),
]


@pytest.mark.parametrize(("source", "line", "token"), RUNTIME_ESCAPES)
def test_runtime_escape_is_refused(env, source, line, token):
    import datetime as datetime_module
    external = {"start": START, "helper_module": datetime_module}
    setattr(datetime_module, "path", sys)  # a module reachable through another module's attribute
    try:
        with pytest.raises(ScriptSecurityError) as caught:
            run(env, source, external=external)
    finally:
        delattr(datetime_module, "path")
    assert caught.value.line == line
    assert token in caught.value.message
    assert check_script(source) == []  # statically fine: the guard decides at run time


def test_sandbox_errors_cannot_be_swallowed_by_the_script(env):
    script = "try:\n    x = '{0.__class__}'.format(1)\nexcept Exception:\n    x = 'caught'\n"
    with pytest.raises(ScriptSecurityError) as caught:
        run(env, script)
    assert caught.value.line == 2
    bare = "try:\n    x = [0] * 10 ** 9\nexcept:\n    x = 'caught'\n"
    with pytest.raises(ScriptLimitError):
        run(env, bare)


def test_ordinary_exceptions_can_still_be_caught(env):
    script = "d = {}\ntry:\n    v = d['missing']\nexcept KeyError:\n    v = 'default'\n"
    assert run(env, script)["v"] == "default"


# --------------------------------------------------------------------------- allowed

def test_expressions_read_task_data(env):
    data = {"a": 7, "b": 2, "c": [1, 2, 3], "name": "Zhang San", "type": "urgent"}
    assert env.evaluate("a * 2 + b ** 3 - a // b % 3 > 10 and not (a == b) or False", data) is True
    assert env.evaluate("len(c) == 3 and sum(c) == 6 and max(c) == 3 and min(c) == 1", data)
    assert env.evaluate("name.lower().startswith('zhang') and name.split()[1] == 'San'", data)
    assert env.evaluate("type == 'urgent'", data)  # a data field may be called `type`
    assert env.evaluate("  a > 1", data)  # leading blanks as in BPMN XML
    assert data == {"a": 7, "b": 2, "c": [1, 2, 3], "name": "Zhang San", "type": "urgent"}


def test_analyst_script_constructs(env):
    script = """\
total = 0
for i in range(10):
    if i % 2:
        total += i
n = 0
while n < 5:
    n += 1
squares = [i * i for i in range(5) if i]
evens = {i for i in range(6) if i % 2 == 0}
lookup = {k: v for k, v in zip('abc', [1, 2, 3])}
first, second = squares[0], squares[-1]
head, *rest = [1, 2, 3]
for idx, (k, v) in enumerate(sorted(lookup.items())):
    last = f'{idx}:{k}={v:03d}'
counts = {'a': 1}
counts['a'] += 2
counts.update({'b': 5})
popped = counts.pop('b')
items = [3, 1, 2]
items.append(4)
items.sort()
items[0] = 10
words = ' Care, Path '.strip().upper().split(', ')
joined = '-'.join(words)
plain = 'Dear {}, your {kind} is due'.format('Li', kind='review')
ratio = round(abs(-2.345), 2)
flags = [any([False, True]), all([True, True]), bool(0), isinstance(1.5, (int, float))]
conv = [int('7'), float('1.5'), str(3), list((1, 2)), tuple([1]), dict(a=1), set([1, 1])]
by_len = sorted(['ccc', 'a', 'bb'], key=lambda s: len(s))
sliced = 'abcdef'[1:4] + 'abcdef'[::-1][0]
got = lookup.get('z', 0) + len(lookup.keys()) + len(list(lookup.values()))
print('ignored')
"""
    data = run(env, script)
    assert data["total"] == 25 and data["n"] == 5
    assert data["squares"] == [1, 4, 9, 16] and data["evens"] == {0, 2, 4}
    assert (data["first"], data["second"], data["head"], data["rest"]) == (1, 16, 1, [2, 3])
    assert data["last"] == "2:c=003" and data["counts"] == {"a": 3} and data["popped"] == 5
    assert data["items"] == [10, 2, 3, 4] and data["joined"] == "CARE-PATH"
    assert data["plain"] == "Dear Li, your review is due" and data["ratio"] == 2.35
    assert data["flags"] == [True, True, False, True]
    assert data["conv"] == [7, 1.5, "3", [1, 2], (1,), {"a": 1}, {1}]
    assert data["by_len"] == ["a", "bb", "ccc"] and data["sliced"] == "bcdf" and data["got"] == 6
    # helpers, callables and internals never end up in task data
    assert not any(key.startswith("_") for key in data)
    assert "datetime" not in data and not any(callable(v) for v in data.values())


def test_datetime_helpers_via_external_context_and_globals():
    env = SandboxEnvironment({"timedelta": timedelta, "datetime": datetime})
    script = """\
due = workdays(2) + timedelta(hours=1)
label = due.strftime('%Y-%m-%d %H:%M')
gap = (due - start).days
late = due > start
iso = due.date().isoformat()
parsed = datetime.strptime('2026-11-05', '%Y-%m-%d')
text = f'{due:%d/%m} {due.year}'
"""
    data = run(env, script, {"start": START}, external={"workdays": workdays})
    assert data["due"] == datetime(2026, 11, 4, 18, 0)
    assert data["label"] == "2026-11-04 18:00" and data["gap"] == 2 and data["late"] is True
    assert data["iso"] == "2026-11-04" and data["parsed"] == datetime(2026, 11, 5)
    assert data["text"] == "04/11 2026"
    assert "workdays" not in data and "timedelta" not in data and "__builtins__" not in data
    assert env.evaluate("workdays(1) < due", data, {"workdays": workdays}) is True


def test_check_for_overwrite_is_kept():
    env = SandboxEnvironment({"workdays": workdays})
    with pytest.raises(ScriptOverwriteError) as caught:
        env.execute("x = 1", {"workdays": 3})
    assert isinstance(caught.value, ValueError) and "workdays" in str(caught.value)


def test_runtime_errors_are_wrapped_with_line_and_cause(env):
    with pytest.raises(ScriptRuntimeError) as caught:
        run(env, "a = 1\nb = 0\nc = a / b\n")
    assert caught.value.line == 3 and isinstance(caught.value.__cause__, ZeroDivisionError)
    assert "ZeroDivisionError" in caught.value.message
    with pytest.raises(ScriptNameError) as missing:
        env.evaluate("x + 1", {"y": 1})
    assert isinstance(missing.value, NameError) and missing.value.line == 1


def test_errors_pickle_with_their_line():
    err = pickle.loads(pickle.dumps(ScriptTimeout("too slow", 4)))
    assert type(err) is ScriptTimeout and err.line == 4 and str(err) == "too slow (line 4)"
    assert isinstance(err, ScriptError)


def test_compiled_code_is_cached_by_source(env):
    source = "x > 41 and x < 43  # cache probe"
    before = compile_source.cache_info().hits
    for _ in range(3):
        assert env.evaluate(source, {"x": 42}) is True
    assert compile_source.cache_info().hits >= before + 2


def test_static_check_does_not_run_code():
    started = time.monotonic()
    assert check_script("x = undefined_helper(1)\nwhile True:\n    pass") == []  # compiled, never run
    assert check_expression("undefined_helper(2) > 0") == []
    assert time.monotonic() - started < 0.5
    problems = check_script("import os\nx = ().__class__\nhelper.y = 1")
    assert [p.line for p in problems] == [1, 2, 3]


# --------------------------------------------------------------------------- time limit

@pytest.mark.parametrize(("script", "line"), [
    ("while True: pass", 1),
    ("x = 0\nwhile True:\n    x = x + 1\n", 3),
    ("t = 0\nfor i in range(1000000):\n    for j in range(1000000):\n        t += i * j\n", 4),
    ("n = 0\nwhile True:\n    try:\n        while True:\n            pass\n    except Exception:\n        n += 1\n", 5),
    ("def spin(n):\n    while n >= 0:\n        n = n + 1\nspin(0)\n", 3),
])
def test_long_scripts_stop_with_script_timeout(script, line):
    env = SandboxEnvironment(timeout=0.3)
    tracer_before = sys.gettrace()
    started = time.monotonic()
    with pytest.raises(ScriptTimeout) as caught:
        env.execute(script, {})
    assert time.monotonic() - started < 1.5
    assert caught.value.line in (line, line - 1, line + 1)
    assert sys.gettrace() is tracer_before


def test_timeout_of_expression_and_default_limit():
    env = SandboxEnvironment()
    assert env.limits.timeout == 1.0
    started = time.monotonic()
    with pytest.raises(ScriptTimeout):
        env.evaluate("sum(1 for i in range(10 ** 6) for j in range(10 ** 6))", {})
    assert 0.9 < time.monotonic() - started < 2.5


@pytest.mark.parametrize(("source", "mode", "can_fire"), [
    ("workdays(2)", "eval", False),
    ("score >= 10 and not flagged", "eval", False),
    ("x = 1 if a else 2", "exec", False),
    ("(a\n + b)", "eval", True),                             # two lines: a line event after the first
    ("[x for x in y]", "eval", True),                        # its own frame, looping
    ("sum(1 for i in r)", "eval", True),
    ("(lambda: 1)()", "eval", True),
    ("while True: pass", "exec", True),                     # one line, but a loop
    ("for i in r: pass", "exec", True),
    ("x = 1\ny = 2", "exec", True),
])
def test_the_tracer_runs_only_where_the_time_limit_could_fire(source, mode, can_fire):
    from engine.scripting.policy import compile_or_raise
    from engine.scripting.sandbox import deadline_can_fire
    assert deadline_can_fire(compile_or_raise(source, mode)) is can_fire


def test_a_one_line_expression_calls_its_helpers_untraced_and_a_looping_one_traced():
    seen = []

    def probe() -> int:
        seen.append(sys.gettrace() is not None)
        return 1
    env = SandboxEnvironment({"probe": probe}, timeout=1.0)
    tracer_before = sys.gettrace()
    assert env.evaluate("probe() + 1", {}) == 2
    assert env.evaluate("sum(probe() for _ in range(2))", {}) == 2
    assert seen == [tracer_before is not None, True, True]
    assert sys.gettrace() is tracer_before


def test_timeout_in_a_worker_thread_leaves_other_threads_alone():
    env = SandboxEnvironment(timeout=0.2)
    outcome: list[BaseException] = []

    def worker() -> None:
        try:
            env.execute("while True:\n    pass\n", {})
        except ScriptTimeout as err:
            outcome.append(err)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert not thread.is_alive() and len(outcome) == 1
    assert run(env, "x = sum(range(1000))")["x"] == 499500


# --------------------------------------------------------------------------- size limits

LIMITS = [
    "'a' * 10 ** 10",
    "[0] * 10 ** 9",
    "10 ** 10 ** 10",
    "1 << 10 ** 9",
    "sum(range(10 ** 12))",
    "round(5, -10 ** 7)",
    "'{:>100000000}'.format(1)",
    "f'{1:>100000000}'",
    "'%100000000d' % 1",
    "('a' * 10 ** 6) + ('a' * 10 ** 6)",
    "','.join(['a' * 10 ** 6] * 2)",
    "('a' * 1000).replace('', 'b' * 1000)",
    "'a'.ljust(10 ** 9)",
    "(2 ** 4000) * (2 ** 4000)",
    "[[0] * 10 ** 6 for i in range(10 ** 6)]",  # per-run budget (max_total)
    "[list(range(10 ** 6)) for i in range(1000)]",
]


@pytest.mark.parametrize("expression", LIMITS)
def test_big_results_fail_fast(env, expression):
    started = time.monotonic()
    with pytest.raises(ScriptLimitError) as caught:
        env.evaluate(expression, {})
    assert time.monotonic() - started < 0.5
    assert caught.value.line == 1 and "上限" in caught.value.message


@pytest.mark.parametrize("script", [
    "x = 'a'\nx *= 10 ** 9",
    "big = [0] * 10 ** 6\nbig.extend(big)",
    "big = [0] * 10 ** 6\nbig[:0] = big",
    "s = 'a' * 10 ** 6\nt = f'{s}{s}'",
])
def test_big_results_in_scripts_fail_fast(env, script):
    with pytest.raises(ScriptLimitError) as caught:
        run(env, script)
    assert caught.value.line == 2


def test_limits_are_configurable_and_allow_what_fits():
    env = SandboxEnvironment(limits=SandboxLimits(max_range=10, max_sequence=100, max_int_bits=64))
    assert env.evaluate("list(range(10))", {}) == list(range(10))
    assert env.evaluate("'a' * 100", {}) == "a" * 100
    for refused in ("range(11)", "'a' * 101", "2 ** 65"):
        with pytest.raises(ScriptLimitError):
            env.evaluate(refused, {})
    default = SandboxEnvironment()
    assert default.evaluate("len('a' * 10 ** 6) + len(range(10 ** 6))", {}) == 2 * 10 ** 6
    assert default.evaluate("2 ** 4000 > 0", {}) is True


# --------------------------------------------------------------------------- through SpiffWorkflow

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://carepath.test">
  <bpmn:process id="gate" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="calc" name="Calc">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>x = a + 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>to_high</bpmn:outgoing><bpmn:outgoing>to_low</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:scriptTask id="high"><bpmn:incoming>to_high</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>branch = "high"</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="low"><bpmn:incoming>to_low</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>branch = "low"</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc"/>
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="gw"/>
    <bpmn:sequenceFlow id="to_high" sourceRef="gw" targetRef="high">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">x &gt; 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_low" sourceRef="gw" targetRef="low">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">x &lt;= 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="high" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="low" targetRef="end"/>
  </bpmn:process>
  <bpmn:process id="escape" isExecutable="true">
    <bpmn:startEvent id="start2"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="evil" name="Evil">
      <bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing>
      <bpmn:script>y = 1
z = ().__class__.__bases__[0].__subclasses__()</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end2"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="g1" sourceRef="start2" targetRef="evil"/>
    <bpmn:sequenceFlow id="g2" sourceRef="evil" targetRef="end2"/>
  </bpmn:process>
  <bpmn:process id="helpers" isExecutable="true">
    <bpmn:startEvent id="start3"><bpmn:outgoing>h1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="plan" name="Plan">
      <bpmn:incoming>h1</bpmn:incoming><bpmn:outgoing>h2</bpmn:outgoing>
      <bpmn:script>due = workdays(2)
when = due.strftime('%Y-%m-%d')
ratio = 10 / divisor</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end3"><bpmn:incoming>h2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="h1" sourceRef="start3" targetRef="plan"/>
    <bpmn:sequenceFlow id="h2" sourceRef="plan" targetRef="end3"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(process_id: str, data: dict, environment: SandboxEnvironment | None = None) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(BPMN.encode("utf-8"))
    engine = SandboxScriptEngine(environment=environment or SandboxEnvironment())
    workflow = BpmnWorkflow(parser.get_spec(process_id), script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    return workflow


@pytest.mark.parametrize(("a", "branch"), [(10, "high"), (4, "low"), (5, "high")])
def test_gateway_takes_the_branch_computed_in_the_sandbox(a, branch):
    workflow = _workflow("gate", {"a": a})
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.data == {"a": a, "x": a + 1, "branch": branch}


def test_escape_attempt_errors_the_task_and_points_at_the_line():
    tracer_before = sys.gettrace()
    workflow = _workflow("escape", {})
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    err = caught.value
    assert err.line_number == 2
    assert err.error_line == "z = ().__class__.__bases__[0].__subclasses__()"
    assert "__class__" in str(err) and "(line 2)" in str(err)
    assert isinstance(err.exception, ScriptSecurityError) and err.__cause__ is err.exception
    assert err.error_type == "ScriptSecurityError"
    [evil] = [t for t in workflow.get_tasks() if t.task_spec.name == "evil"]
    assert evil.state == TaskState.ERROR
    assert "z" not in evil.data and "y" not in evil.data  # refused before anything ran
    # the process is unharmed: tracing restored, other workflows still run in the sandbox
    assert sys.gettrace() is tracer_before
    healthy = _workflow("gate", {"a": 1})
    healthy.do_engine_steps()
    assert healthy.data["branch"] == "low"


def test_helpers_from_globals_and_runtime_errors_through_spiff():
    environment = SandboxEnvironment({"workdays": workdays})
    workflow = _workflow("helpers", {"divisor": 4}, environment)
    workflow.do_engine_steps()
    assert workflow.data == {"divisor": 4, "due": datetime(2026, 11, 4, 17, 0), "when": "2026-11-04", "ratio": 2.5}

    failing = _workflow("helpers", {"divisor": 0}, SandboxEnvironment({"workdays": workdays}))
    with pytest.raises(WorkflowTaskException) as caught:
        failing.do_engine_steps()
    assert caught.value.line_number == 3 and caught.value.error_line == "ratio = 10 / divisor"
    assert isinstance(caught.value.exception, ScriptRuntimeError)
    assert isinstance(caught.value.exception.__cause__, ZeroDivisionError)


def test_condition_errors_are_reported_by_the_engine():
    engine = SandboxScriptEngine()
    workflow = _workflow("gate", {"a": 1})
    task = workflow.get_tasks(state=TaskState.READY)[0]
    with pytest.raises(WorkflowTaskException) as caught:
        engine.evaluate(task, "a.__class__ is int")
    assert "__class__" in str(caught.value) and isinstance(caught.value.exception, ScriptSecurityError)
    assert caught.value.line_number == 1
    with pytest.raises(ScriptSecurityError):
        engine.validate("import os")
    with pytest.raises(SyntaxError):  # SpiffWorkflow's DMN engine relies on SyntaxError here
        engine.validate("> 5")
    engine.validate("x > 5")
    assert engine.evaluate(task, "a + 1") == 2


def test_timeout_through_spiff_marks_the_task_in_error():
    parser = CamundaParser()
    parser.add_bpmn_str(BPMN.replace("x = a + 1", "x = a + 1\nwhile True:\n    pass").encode("utf-8"))
    engine = SandboxScriptEngine(environment=SandboxEnvironment(timeout=0.2))
    workflow = BpmnWorkflow(parser.get_spec("gate"), script_engine=engine)
    workflow.get_tasks(state=TaskState.READY)[0].data["a"] = 1
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    assert isinstance(caught.value.exception, ScriptTimeout)
    assert caught.value.line_number in (2, 3)
    [calc] = [t for t in workflow.get_tasks() if t.task_spec.name == "calc"]
    assert calc.state == TaskState.ERROR
