"""Compile-time side of the CarePath script sandbox.

Everything an analyst writes in a pathway (script tasks, gateway conditions,
timer and loop expressions) is parsed and rewritten here by a RestrictedPython
policy *before* it can run.  The policy refuses, with a line number:

* ``import`` statements and every name or attribute starting with ``_``
  (``__import__``, ``__builtins__``, ``().__class__`` ...), because dunders are
  the road to ``object.__subclasses__()`` and from there to ``os``;
* frame/generator/code/traceback attributes (``gi_frame``, ``f_back``,
  ``tb_frame``, ``co_code`` ...), which carry no underscore but leak frames;
* calls of introspection/evaluation builtins (``eval``, ``exec``, ``getattr``,
  ``type``, ``open``, ``globals``, ``vars`` ...);
* ``class``, ``with``, ``yield``, ``try ... finally`` and attribute assignment:
  pathway scripts do not need them, and ``finally`` / context managers could
  keep running after the time limit fired.

It rewrites the operators whose result size is not bounded by their operands
(``+ * ** << %``), f-strings and ``except`` clauses into calls of runtime guards
(see :mod:`engine.scripting.guards`) so that they can be size-checked and so
that a sandbox error can never be swallowed by the script.

Compiled code is cached by source text (bounded LRU): a gateway condition is
compiled once per process.
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from types import CodeType
from typing import Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations

from .errors import Problem, ScriptLimitError, ScriptSyntaxError

#: Filename of every compiled script; the time-limit tracer and the line-number
#: lookup recognise sandboxed frames by it.
SCRIPT_FILENAME = "<carepath-script>"
#: Longest accepted script or expression (characters).
MAX_SOURCE_CHARS = 100_000

Mode = Literal["eval", "exec"]

#: Attributes refused although they carry no leading underscore: they expose
#: frames, code objects or generator internals (RestrictedPython's list plus
#: the remaining frame/generator/Python-2 style names).
FORBIDDEN_ATTRIBUTES: frozenset[str] = INSPECT_ATTRIBUTES | frozenset({
    "f_lasti", "f_lineno", "f_trace_lines", "f_trace_opcodes", "tb_lasti", "tb_lineno",
    "gi_running", "gi_suspended", "cr_running", "cr_suspended", "ag_running",
    "co_consts", "co_names", "co_varnames", "co_filename", "co_name",
    "func_globals", "func_code", "func_closure", "func_defaults", "func_dict",
    "im_func", "im_self", "im_class",
})

#: Builtins whose *call* is refused at compile time (and which exist only as
#: refusing stubs at run time, so that task data with the same name still works).
FORBIDDEN_CALLS: frozenset[str] = frozenset({
    "eval", "exec", "compile", "open", "input", "breakpoint", "help", "exit", "quit",
    "getattr", "setattr", "delattr", "hasattr", "globals", "locals", "vars", "dir",
    "type", "object", "super", "classmethod", "staticmethod", "property", "memoryview",
})

#: Binary operators routed through ``_binop_guard_`` (their result can be far
#: larger than their operands: repetition, concatenation, powers, shifts, %-format).
GUARDED_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%",
}
_AUG_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.Mod: "%=", ast.Pow: "**=",
    ast.LShift: "<<=", ast.RShift: ">>=", ast.BitOr: "|=", ast.BitXor: "^=", ast.BitAnd: "&=",
    ast.FloorDiv: "//=", ast.MatMult: "@=",
}
_ERROR_RE = re.compile(r"^Line (\d+|None) Col (\d+|None): (.*)$", re.S)


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, like)
    return node


class CarePathPolicy(RestrictingNodeTransformer):
    """RestrictedPython policy for pathway scripts (see module docstring)."""

    def error(self, node: ast.AST, info: str) -> None:
        """Record a refusal with line and column (so problems sort in source order)."""
        col = getattr(node, "col_offset", None)
        self.errors.append(f"Line {getattr(node, 'lineno', None)} Col {None if col is None else col + 1}: {info}")

    def not_allowed(self, node: ast.AST) -> None:
        self.error(node, f"不允许使用该语法: {node.__class__.__name__}")

    def check_name(self, node: ast.AST, name: str | None, allow_magic_methods: bool = False) -> None:
        """Refuse every ``_``-prefixed name (no magic-method exception) and reserved names."""
        if name is None:
            return
        if name.startswith("_") and name != "_":
            self.error(node, f"使用以下划线开头的名称被禁止: {name}")
        elif name.endswith("__roles__") or name in ("print", "printed", "builtins", "breakpoint"):
            self.error(node, f"保留名称不可使用: {name}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        """``print`` is swallowed (rewritten to the no-op ``_print_``); ``printed`` is refused."""
        if node.id == "printed":
            self.error(node, "保留名称不可使用: printed")
            return node
        if node.id == "print" and isinstance(node.ctx, ast.Load):
            new_node = ast.Name("_print_", ast.Load())
            copy_locations(new_node, node)
            return new_node
        return super().visit_Name(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.error(node, f"import 语句被禁止: import {', '.join(a.name for a in node.names)}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.error(node, f"import 语句被禁止: from {node.module or '.'} import ...")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.error(node, f"定义类 (class) 被禁止: {node.name}")

    def visit_With(self, node: ast.With) -> None:
        self.error(node, "with 语句被禁止")

    def visit_Yield(self, node: ast.Yield) -> None:
        self.error(node, "yield (生成器函数) 被禁止")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        self.error(node, "yield from (生成器函数) 被禁止")

    def visit_While(self, node: ast.While) -> ast.AST:
        """Start every ``while`` body with ``_loop_tick_()``.

        CPython 3.11 emits no line event for a jump to the same instruction, so
        ``while True: pass`` would be invisible to the tracer; the tick checks the
        deadline itself.
        """
        node = self.node_contents_visit(node)
        tick = ast.Expr(_call("_loop_tick_", [], node))
        copy_locations(tick, node)
        node.body.insert(0, tick)
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST:
        if node.finalbody:
            self.error(node, "try ... finally 被禁止 (finally 块可能在超时后继续运行)")
        return self.node_contents_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        """``except T`` -> ``except _exc_guard_(T)``; a bare ``except`` catches Exception only."""
        node = self.node_contents_visit(node)
        self.check_name(node, node.name)
        node.type = _call("_exc_guard_", [] if node.type is None else [node.type], node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self.error(node, f"调用 {node.func.id}() 被禁止")
            return self.node_contents_visit(node)
        return super().visit_Call(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        attr = node.attr
        if attr.startswith("_"):
            problem = f"访问以下划线开头的属性被禁止: {attr}"
        elif attr in FORBIDDEN_ATTRIBUTES or attr.endswith("__roles__"):
            problem = f"访问帧/代码/生成器内部属性被禁止: {attr}"
        elif not isinstance(node.ctx, ast.Load):
            problem = f"给对象属性赋值或删除被禁止: .{attr} (只能修改字典和列表的元素)"
        else:
            return super().visit_Attribute(node)
        node = self.node_contents_visit(node)  # inner attributes first: problems in source order
        self.error(node, problem)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        """Route size-amplifying operators through ``_binop_guard_(op, left, right)``."""
        node = self.node_contents_visit(node)
        op = GUARDED_BINOPS.get(type(node.op))
        if op is None:
            return node
        return _call("_binop_guard_", [ast.Constant(op), node.left, node.right], node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        """``x += v`` (and ``*= **= <<= %=``) -> ``_inplacevar_``; ``d[k] op= v`` works too (k evaluated once)."""
        target = node.target
        if isinstance(target, ast.Attribute):
            self.error(node, f"对属性的增量赋值被禁止: .{target.attr}")
            return node
        if isinstance(target, ast.Name):
            if type(node.op) in GUARDED_BINOPS:
                return super().visit_AugAssign(node)
            return self.node_contents_visit(node)  # -= /= |= ... cannot amplify: keep native
        if not isinstance(target, ast.Subscript):
            return super().visit_AugAssign(node)
        key_nodes = target.slice.elts if isinstance(target.slice, ast.Tuple) else [target.slice]
        if any(isinstance(k, ast.Slice) for k in key_nodes):
            self.error(node, "对切片的增量赋值被禁止")
            return node
        obj, key, value = self.visit(target.value), self.visit(target.slice), self.visit(node.value)
        tmp_obj, tmp_key = self.gen_tmp_name(), self.gen_tmp_name()

        def load(name: str) -> ast.Name:
            return ast.Name(name, ast.Load())

        new_value = _call("_inplacevar_", [
            ast.Constant(_AUG_OPS[type(node.op)]), _call("_getitem_", [load(tmp_obj), load(tmp_key)], node), value,
        ], node)
        statements: list[ast.stmt] = [
            ast.Assign(targets=[ast.Name(tmp_obj, ast.Store())], value=obj),
            ast.Assign(targets=[ast.Name(tmp_key, ast.Store())], value=key),
            ast.Assign(targets=[ast.Subscript(value=_call("_write_", [load(tmp_obj)], node), slice=load(tmp_key),
                                              ctx=ast.Store())], value=new_value),
            ast.Delete(targets=[ast.Name(tmp_obj, ast.Del()), ast.Name(tmp_key, ast.Del())]),
        ]
        for statement in statements:
            copy_locations(statement, node)
        return statements

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        """``f"a{x}"`` -> ``_fstring_('a', _format_value_(x, -1, ''))`` (size-checked join)."""
        node = self.node_contents_visit(node)
        return _call("_fstring_", list(node.values), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        return _call("_format_value_", [node.value, ast.Constant(node.conversion), spec], node)


@dataclass(frozen=True)
class CompiledSource:
    """Result of :func:`compile_source`: code, or the problems that prevented it."""

    code: CodeType | None
    problems: tuple[Problem, ...]


def _parse_error(text: str) -> Problem:
    match = _ERROR_RE.match(text)
    if match is None:
        return Problem(None, text)
    line, col, message = match.groups()
    return Problem(None if line == "None" else int(line), message, column=None if col == "None" else int(col))


@functools.lru_cache(maxsize=2048)
def compile_source(source: str, mode: Mode) -> CompiledSource:
    """Parse ``source`` and compile it under :class:`CarePathPolicy`, never running it.

    ``eval`` mode strips leading blanks like the builtin ``eval`` does.  Cached by
    ``(source, mode)``.
    """
    if not isinstance(source, str):
        return CompiledSource(None, (Problem(None, f"脚本必须是字符串, 而不是 {type(source).__name__}",
                                             ScriptSyntaxError),))
    if len(source) > MAX_SOURCE_CHARS:
        return CompiledSource(None, (Problem(None, f"脚本过长: {len(source)} 个字符 (上限 {MAX_SOURCE_CHARS})",
                                             ScriptLimitError),))
    text = source.lstrip(" \t") if mode == "eval" else source
    try:
        tree = ast.parse(text, SCRIPT_FILENAME, mode)
    except SyntaxError as err:
        return CompiledSource(None, (Problem(err.lineno, f"语法错误: {err.msg}", ScriptSyntaxError, err.offset),))
    except ValueError as err:  # e.g. NUL bytes
        return CompiledSource(None, (Problem(None, f"无法解析脚本: {err}", ScriptSyntaxError),))
    except (RecursionError, MemoryError) as err:
        return CompiledSource(None, (Problem(None, f"脚本嵌套过深, 无法解析: {type(err).__name__}",
                                             ScriptLimitError),))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(tree, filename=SCRIPT_FILENAME, policy=CarePathPolicy)
    except (RecursionError, MemoryError) as err:
        return CompiledSource(None, (Problem(None, f"脚本嵌套过深, 无法编译: {type(err).__name__}",
                                             ScriptLimitError),))
    except SyntaxError as err:  # raised by compile() for e.g. 'return' outside a function
        return CompiledSource(None, (Problem(err.lineno, f"语法错误: {err.msg}", ScriptSyntaxError),))
    if result.errors:
        problems = sorted((_parse_error(e) for e in result.errors), key=lambda p: (p.line or 0, p.column or 0))
        return CompiledSource(None, tuple(problems))
    return CompiledSource(result.code, ())


def compile_or_raise(source: str, mode: Mode) -> CodeType:
    """Compiled code for ``source``; raises the first problem as a :class:`ScriptError`."""
    compiled = compile_source(source, mode)
    if compiled.code is None:
        raise compiled.problems[0].to_error()
    return compiled.code


def check_expression(src: str) -> list[Problem]:
    """Static check of an expression (gateway condition, timer, cardinality ...)."""
    return list(compile_source(src, "eval").problems)


def check_script(src: str) -> list[Problem]:
    """Static check of a script task body."""
    return list(compile_source(src, "exec").problems)
