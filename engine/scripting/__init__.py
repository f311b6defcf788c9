"""CarePath script sandbox: RestrictedPython-based scripting for SpiffWorkflow.

Typical use::

    from engine.scripting import SandboxEnvironment, SandboxLimits, SandboxScriptEngine

    env = SandboxEnvironment({"workdays": workdays, "datetime": datetime}, SandboxLimits(timeout=1.0))
    workflow = BpmnWorkflow(spec, script_engine=SandboxScriptEngine(environment=env))

Static checks for the validator: :func:`check_expression`, :func:`check_script`.

Modules: ``errors`` (exceptions, Problem), ``policy`` (compile-time rules and
cache), ``guards`` (run-time guards, builtins, limits), ``formatting`` (size
guards for text building), ``sandbox`` (environment, time limit, SpiffWorkflow
engine).
"""
from .errors import (
    Problem, ScriptError, ScriptLimitError, ScriptNameError, ScriptOverwriteError, ScriptRuntimeError,
    ScriptSecurityError, ScriptSyntaxError, ScriptTimeout,
)
from .guards import RuntimeGuards, SandboxLimits
from .policy import SCRIPT_FILENAME, CarePathPolicy, check_expression, check_script, compile_source
from .sandbox import Deadline, SandboxEnvironment, SandboxScriptEngine

__all__ = [
    "SCRIPT_FILENAME", "CarePathPolicy", "Deadline", "Problem", "RuntimeGuards", "SandboxEnvironment",
    "SandboxLimits", "SandboxScriptEngine", "ScriptError", "ScriptLimitError", "ScriptNameError",
    "ScriptOverwriteError", "ScriptRuntimeError", "ScriptSecurityError", "ScriptSyntaxError",
    "ScriptTimeout", "check_expression", "check_script", "compile_source",
]
