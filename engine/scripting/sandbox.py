"""Run-time side of the CarePath script sandbox.

:class:`SandboxEnvironment` is a SpiffWorkflow script environment with exactly the
data semantics of ``TaskDataEnvironment`` (expressions read task data as
variables; scripts run with task data as their namespace and callables, helpers
and ``__builtins__`` are removed afterwards) but runs code compiled by
:mod:`engine.scripting.policy` with the small builtin set and the guards of
:mod:`engine.scripting.guards`, under a per-call time limit (:class:`Deadline`).

Allowed: arithmetic, comparisons, boolean logic, ``if``/``for``/``while``,
comprehensions, literals and the safe methods of dict/list/set/str/tuple,
f-strings and ``str.format`` with plain fields, ``len min max sum abs round sorted
any all int float str bool list dict set frozenset tuple range enumerate zip map
filter reversed isinstance``, ``def``/``lambda``, ``try/except`` and whatever
helpers (e.g. ``workdays``, ``datetime``) the engine passes through the
environment globals or ``external_context``.

A script is all or nothing: when it fails, the task data is put back as it was
before it ran, and what a script leaves must fit ``max_variable``/``max_depth``
(a list grown by ``append`` until the time limit, or nested deeper than the
stored state's recursive serializers can write, is refused, not stored).
"""
from __future__ import annotations

import copy
import dis
import functools
import sys
import time
from dataclasses import replace
from types import CodeType, FrameType, TracebackType
from typing import Any, Mapping

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from .errors import (
    ScriptError, ScriptLimitError, ScriptNameError, ScriptOverwriteError, ScriptRuntimeError, ScriptTimeout,
)
from .guards import RESERVED_NAMES, RuntimeGuards, SandboxLimits
from .policy import SCRIPT_FILENAME, compile_or_raise, compile_source

_UNSET: Any = object()
_BACKWARD_JUMPS = frozenset(dis.opmap[name] for name in ("JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
                            if name in dis.opmap)


@functools.lru_cache(maxsize=2048)
def deadline_can_fire(code: CodeType) -> bool:
    """Whether the time limit could ever stop `code`. Its tracer acts only at line events of
    sandboxed frames; code that spans one line, has no loop (no backward jump) and makes no frames
    of its own (no lambda, comprehension or ``def``) has a single such event, at its start, before
    any time has passed. Such code (``workdays(2)``, ``score >= 10``: most expressions) runs
    without the tracer, whose callback would otherwise run for every frame a helper enters."""
    if not _BACKWARD_JUMPS:
        return True     # a Python whose loops this does not recognise: always traced
    if any(isinstance(const, CodeType) for const in code.co_consts):
        return True
    if len({line for _start, _end, line in code.co_lines() if line}) > 1:     # (line 0: the frame set-up)
        return True
    return any(instruction.opcode in _BACKWARD_JUMPS for instruction in dis.get_instructions(code))


def script_line(tb: TracebackType | None) -> int | None:
    """Line of the innermost sandboxed frame in a traceback."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SCRIPT_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Deadline:
    """Per-run time limit enforced with ``sys.settrace`` in the current thread.

    A global trace function attaches a local tracer only to frames of sandboxed
    code; the local tracer raises :class:`ScriptTimeout` on the first line event
    after the monotonic deadline.  CPython switches tracing off once a tracer
    raises, which is why the policy forbids ``finally``/``with`` and routes every
    ``except`` through :meth:`exc_guard`, which re-raises sandbox errors: a
    timed-out script cannot catch its own timeout and loop on.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.expired = False
        self._deadline = float("inf")
        self._previous: Any = None

    def __enter__(self) -> Deadline:
        if self.seconds is not None:
            self._previous = sys.gettrace()
            self._deadline = time.monotonic() + self.seconds
            sys.settrace(self._global_trace)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.seconds is not None:
            sys.settrace(self._previous)

    def _global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != SCRIPT_FILENAME:
            return None  # helpers and guards run untraced
        return self._local_trace(frame, event, arg)

    def _local_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() >= self._deadline:  # stays true once passed: every later event raises
            raise self.timeout(frame.f_lineno)
        return self._local_trace

    def timeout(self, line: int | None) -> ScriptTimeout:
        """Mark the run expired and build the error to raise."""
        self.expired = True
        return ScriptTimeout(f"脚本执行超时: 超过 {self.seconds} 秒", line)

    def tick(self) -> None:
        """``_loop_tick_``: called at the top of every ``while`` body."""
        if time.monotonic() >= self._deadline:
            raise self.timeout(sys._getframe(1).f_lineno)

    def exc_guard(self, *exc_types: Any) -> Any:
        """Evaluated as the type of every ``except`` clause (see class docstring)."""
        current = sys.exc_info()[1]
        if isinstance(current, ScriptError):
            if current.line is None:
                current.line = script_line(current.__traceback__)
            raise current
        if time.monotonic() >= self._deadline:
            raise self.timeout(sys._getframe(1).f_lineno)
        if not exc_types:
            return Exception
        return exc_types[0]


def _translate(err: Exception, line: int | None) -> ScriptError:
    """Turn a non-sandbox exception raised by script code into a ScriptError."""
    if isinstance(err, RecursionError):
        return ScriptLimitError("递归层数过深 (RecursionError)", line)
    if isinstance(err, MemoryError):
        return ScriptLimitError("内存不足 (MemoryError)", line)
    if isinstance(err, NameError):
        return ScriptNameError(str(err), line)
    detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return ScriptRuntimeError(detail, line)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """RestrictedPython-based replacement for SpiffWorkflow's ``TaskDataEnvironment``.

    :param environment_globals: helpers visible to every script (functions,
        classes such as ``datetime``, constants); names may not start with ``_``.
    :param limits: resource limits (:class:`SandboxLimits`; default 1 s, ...).
    :param timeout: shortcut overriding ``limits.timeout`` (seconds, None = off).
    """

    def __init__(self, environment_globals: Mapping[str, Any] | None = None,
                 limits: SandboxLimits | None = None, *, timeout: float | None = _UNSET) -> None:
        super().__init__(dict(environment_globals or {}))
        bad = sorted(name for name in self.globals if name.startswith("_"))
        if bad:
            raise ValueError(f"helper names must not start with '_': {bad}")
        limits = limits or SandboxLimits()
        self.limits = limits if timeout is _UNSET else replace(limits, timeout=timeout)

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        """Value of ``expression`` with task data (then helpers) as variables."""
        code = compile_or_raise(expression, "eval")
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        my_globals.update(context)
        for name in RESERVED_NAMES:
            my_globals.pop(name, None)
        return self._run(code, my_globals, is_eval=True)

    def execute(self, script: str, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        """Run ``script`` with task data as namespace; new variables become task data.

        All or nothing: a script that fails (refused, timed out, too big a result) leaves the task
        data exactly as it found it, so a retry starts from the same data."""
        self.check_for_overwrite(context, external_context or {})
        code = compile_or_raise(script, "exec")
        try:
            snapshot = copy.deepcopy(context)
        except (TypeError, copy.Error, RecursionError):
            snapshot = dict(context)
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        context.update(my_globals)
        saved = {name: context.pop(name) for name in RESERVED_NAMES if name in context}
        before = set(context)
        succeeded = False
        try:
            self._run(code, context, is_eval=False)
            succeeded = True
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            for name in [n for n in context if n.startswith("_") and n not in before]:
                del context[name]  # _print, _tmpN left by the policy's rewrites
            context.update(saved)
            problem = self._oversized(context) if succeeded else None
            if not succeeded or problem is not None:
                context.clear()
                context.update(snapshot)
        if problem is not None:
            raise ScriptLimitError(problem, None)
        return True

    def _oversized(self, context: Mapping[str, Any]) -> str | None:
        """What is wrong with the task data a script left, if a variable is nested deeper than
        ``max_depth`` or holds more than ``max_variable`` items/characters; walked without
        recursion and only as far as the limits."""
        limits = self.limits
        for name, value in context.items():
            items, stack = 0, [(value, 1)]
            while stack:
                node, depth = stack.pop()
                if isinstance(node, (str, bytes)):
                    items += len(node)
                elif isinstance(node, (dict, list, tuple, set, frozenset)):
                    if depth > limits.max_depth:
                        return f"脚本留下的变量 {name} 嵌套超过 {limits.max_depth} 层"
                    items += len(node)
                    if items <= limits.max_variable:
                        stack.extend((child, depth + 1) for child in node)          # dict: its keys
                        if isinstance(node, dict):
                            stack.extend((child, depth + 1) for child in node.values())
                if items > limits.max_variable:
                    return (f"脚本留下的变量 {name} 过大: 超过 {limits.max_variable} 个元素/字符 "
                            f"(上限 {limits.max_variable})")
        return None

    def _run(self, code: CodeType, namespace: dict[str, Any], *, is_eval: bool) -> Any:
        """Run ``code`` in ``namespace`` with fresh guards, under the deadline; wrap errors."""
        deadline = Deadline(self.limits.timeout if deadline_can_fire(code) else None)
        namespace["__builtins__"] = RuntimeGuards(self.limits).builtins(deadline.exc_guard, deadline.tick)
        try:
            with deadline:
                result = eval(code, namespace) if is_eval else exec(code, namespace)  # noqa: S307
        except ScriptError as err:
            if err.line is None:
                err.line = script_line(err.__traceback__)
            raise
        except SpiffWorkflowException:
            raise  # raised on purpose by a helper; SpiffWorkflow knows how to report it
        except Exception as err:
            raise _translate(err, script_line(err.__traceback__)) from err
        finally:
            if is_eval:
                namespace.pop("__builtins__", None)
        if deadline.expired:
            raise deadline.timeout(None)
        return result

    def _prepare_context(self, context: dict[str, Any]) -> None:
        """Hook kept from ``TaskDataEnvironment`` (subclasses may adjust task data)."""

    def _remove_globals_and_functions_from_context(self, context: dict[str, Any],
                                                   external_context: Mapping[str, Any] | None = None) -> None:
        """As in ``TaskDataEnvironment``: drop builtins, callables, helpers and external names."""
        for key in list(context):
            if (key == "__builtins__" or hasattr(context[key], "__call__") or key in self.globals
                    or (external_context and key in external_context)):
                context.pop(key)

    def check_for_overwrite(self, context: Mapping[str, Any], external_context: Mapping[str, Any]) -> None:
        """SpiffWorkflow's check, raising :class:`ScriptOverwriteError` (a ValueError)."""
        overwrites = set(self.globals).intersection(context) | set(external_context).intersection(context)
        if overwrites:
            raise ScriptOverwriteError(
                "You have task data that overwrites a predefined function(s). Please change the "
                f"following variable or field name(s) to something else: {sorted(overwrites)}")


class SandboxScriptEngine(PythonScriptEngine):
    """``PythonScriptEngine`` whose errors carry the sandbox's message and line.

    ``SandboxScriptEngine(environment=SandboxEnvironment({"workdays": workdays}))``
    """

    def __init__(self, environment: BasePythonScriptEngineEnvironment | None = None) -> None:
        super().__init__(environment=environment if environment is not None else SandboxEnvironment())

    def validate(self, expression: str) -> None:
        """Raise the first static problem of ``expression`` (checked as a script)."""
        compiled = compile_source(expression, "exec")
        if compiled.problems:
            raise compiled.problems[0].to_error()

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        """As ``PythonScriptEngine.evaluate``, but the error names the refusal and its line."""
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except ScriptError as err:
            raise self._wrap(task, expression, err, f"Error evaluating expression '{expression}': ") from err
        except Exception as err:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}'", task=task,
                                        exception=err) from err

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        """Report the sandbox's own line (Spiff looks for '<string>' frames, which we do not use)."""
        if isinstance(err, ScriptError):
            return self._wrap(task, script, err, "")
        return super().create_task_exec_exception(task, script, err)

    @staticmethod
    def _wrap(task: Any, source: str, err: ScriptError, prefix: str) -> WorkflowTaskException:
        lines = source.splitlines() if isinstance(source, str) else []
        line = err.line or 0
        error_line = lines[line - 1] if 0 < line <= len(lines) else ""
        wrapped = WorkflowTaskException(f"{prefix}{type(err).__name__}: {err}", task=task, exception=err,
                                        line_number=line, error_line=error_line)
        wrapped.exception = err  # type: ignore[attr-defined]
        wrapped.__cause__ = err
        return wrapped
