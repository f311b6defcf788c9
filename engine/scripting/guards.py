"""Run-time guards that the code rewritten by :mod:`engine.scripting.policy` calls.

RestrictedPython turns ``a.b`` into ``_getattr_(a, 'b')``, ``a[k] = v`` into
``_write_(a)[k] = v``, ``x += 1`` into ``x = _inplacevar_('+=', x, 1)`` and so on;
our policy adds ``_binop_guard_``, ``_format_value_``/``_fstring_`` and
``_exc_guard_``.  This module supplies those names (through ``__builtins__``, so
they never appear in task data) plus the small builtin set scripts may use.

Why each guard exists:

* ``_getattr_`` refuses ``_``-prefixed and frame/generator attributes, gives
  ``str.format``/``format_map`` a formatter whose field lookups go through this
  same guard (``"{0.__class__}".format(x)`` is refused), wraps the str/list
  methods whose output size is chosen by an argument, and refuses reaching a
  module through another object's attribute.
* ``_write_`` lets scripts assign items of plain dicts and lists only.
* C-level work cannot be interrupted by the time limit, so everything whose
  result can dwarf its inputs is size-checked *before* it runs: ``range``,
  ``*``/``+``/``%`` on sequences, ``**``/``<<``/``*`` on integers, ``round`` with
  huge negative digits; text building (format widths, ``join``, ``ljust`` ...)
  is checked by :mod:`engine.scripting.formatting`.
* Builtins are an allow-list; ``eval``/``getattr``/``type``/``open`` ... exist only
  as stubs that raise :class:`ScriptSecurityError` (task data of the same name
  still shadows them, e.g. a form field called ``type``).
"""
from __future__ import annotations

import builtins
import math
import operator
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from .errors import ScriptLimitError, ScriptSecurityError
from .formatting import SIZE_METHODS, SIZED, TextGuards
from .policy import FORBIDDEN_ATTRIBUTES, FORBIDDEN_CALLS


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one :class:`~engine.scripting.sandbox.SandboxEnvironment`.

    :param timeout: seconds per evaluate/execute call (None disables the limit).
    :param max_range: most items a ``range()`` may have.
    :param max_sequence: most items/characters produced by repetition,
        concatenation, joins, padding and formatting.
    :param max_int_bits: largest integer result of ``**``, ``<<`` and ``*``.
    :param max_total: budget of items/characters per run, summed over every
        checked result and every ``range()`` created (stops e.g.
        ``[[0] * 10**6 for i in range(10**6)]`` long before the time limit).
    :param max_variable: most items/characters one task variable may hold after
        a script (what ``x.append`` in a loop builds until the time limit).
    :param max_depth: deepest nesting of lists/dicts in a task variable after a
        script (the stored state is written by recursive serializers).
    """

    timeout: float | None = 1.0
    max_range: int = 1_000_000
    max_sequence: int = 1_000_000
    max_int_bits: int = 4096
    max_total: int = 5_000_000
    max_variable: int = 1_000_000
    max_depth: int = 64


#: Names looked up by rewritten code; never taken from task data or helpers.
RESERVED_NAMES: frozenset[str] = frozenset({
    "__builtins__", "_getattr_", "_getitem_", "_getiter_", "_write_", "_inplacevar_", "_apply_",
    "_print_", "_print", "_unpack_sequence_", "_iter_unpack_sequence_", "_binop_guard_",
    "_format_value_", "_fstring_", "_exc_guard_", "_loop_tick_",
})
SAFE_BUILTIN_NAMES: tuple[str, ...] = (
    "abs", "all", "any", "bool", "callable", "chr", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "next", "ord", "repr", "reversed",
    "set", "sorted", "str", "sum", "tuple", "zip",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError",
    "LookupError", "NameError", "OverflowError", "RuntimeError", "StopIteration", "TypeError",
    "ValueError", "ZeroDivisionError",
)
_WRITABLE_MAPPINGS = (dict, OrderedDict, defaultdict)
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift, "%": operator.mod,
}
_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
    "@=": operator.imatmul,
}


def _refusing(name: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ScriptSecurityError(f"调用 {name}() 被禁止")
    refused.__name__ = name
    return refused


#: Modules that C code (``datetime.strftime``/``strptime``) imports through the
#: current ``__builtins__``; scripts themselves cannot import (compile-time refusal).
_INTERNAL_IMPORTS = frozenset({"time", "_strptime", "locale", "calendar", "datetime", "_datetime"})


def _internal_import(name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (),
                     level: int = 0) -> ModuleType:
    """``__import__`` for C-level helpers only; anything else is refused."""
    if level == 0 and name in _INTERNAL_IMPORTS:
        return builtins.__import__(name, globals_, locals_, fromlist, level)
    raise ScriptSecurityError(f"import 被禁止: {name}")


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Target of ``f(*a, **kw)`` calls after RestrictedPython's rewrite."""
    return func(*args, **kwargs)


def _discard_print(*objects: Any, **kwargs: Any) -> None:
    """``print`` is swallowed: scripts have no output channel."""
    return None


class _Refused:
    """Write proxy for anything that is not a plain dict or list."""

    __slots__ = ("_name",)

    def __init__(self, target: object) -> None:
        object.__setattr__(self, "_name", type(target).__name__)

    def _refuse(self, *args: Any) -> None:
        raise ScriptSecurityError(f"只能修改字典和列表的元素, 不能修改 {self._name} 对象")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _refuse


class _ListWriter:
    """Write proxy for lists: slice assignment may not grow past the size limit."""

    __slots__ = ("_target", "_guards")

    def __init__(self, target: list[Any], guards: RuntimeGuards) -> None:
        self._target, self._guards = target, guards

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice) and hasattr(value, "__len__"):
            self._guards.check_len(len(self._target) + len(value), "列表切片赋值")
        self._target[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._target[key]


_BASE_BUILTINS: dict[str, Any] = {
    **{name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES},
    **{name: _refusing(name) for name in FORBIDDEN_CALLS},
    "__import__": _internal_import, "_getitem_": operator.getitem, "_getiter_": iter, "_apply_": _apply,
    "_print_": _discard_print, "_unpack_sequence_": guarded_unpack_sequence,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
}


class RuntimeGuards(TextGuards):
    """The guard functions of ONE run (evaluate/execute call), bound to its limits.

    Per run because of the ``max_total`` budget; also keeps concurrent runs of
    a shared environment (web requests, workers) independent.
    """

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self.total = 0

    def builtins(self, exc_guard: Callable[..., Any], loop_tick: Callable[[], None]) -> dict[str, Any]:
        """The ``__builtins__`` of the run: safe builtins, refusing stubs and the guards."""
        return dict(
            _BASE_BUILTINS, range=self.range, round=self.round, _getattr_=self.getattr, _write_=self.write,
            _inplacevar_=self.inplacevar, _binop_guard_=self.binop, _format_value_=self.format_value,
            _fstring_=self.fstring, _exc_guard_=exc_guard, _loop_tick_=loop_tick,
        )

    # -- size checks -------------------------------------------------------
    def check_len(self, size: int, what: str, charge: bool = True) -> None:
        """Refuse a result above ``max_sequence``; charge it to the run's ``max_total``."""
        if size > self.limits.max_sequence:
            raise ScriptLimitError(f"{what} 的结果过大: {size} 个元素/字符 (上限 {self.limits.max_sequence})")
        if charge:
            self.total += max(size, 0)
            if self.total > self.limits.max_total:
                raise ScriptLimitError(f"本次运行生成的数据累计过多: {self.total} 个元素/字符 "
                                       f"(上限 {self.limits.max_total})")

    def _check_bits(self, bits: float, what: str) -> None:
        if bits > self.limits.max_int_bits:
            raise ScriptLimitError(f"整数运算 {what} 的结果过大: 约 {int(bits)} 位 "
                                   f"(上限 {self.limits.max_int_bits} 位)")

    def _check_binop(self, op: str, a: Any, b: Any) -> None:
        a_int, b_int = isinstance(a, int), isinstance(b, int)
        if op == "+" and isinstance(a, SIZED) and isinstance(b, SIZED):
            self.check_len(len(a) + len(b), "拼接 (+)")
        elif op == "*" and isinstance(a, SIZED) and b_int:
            self.check_len(len(a) * b, "重复 (*)")
        elif op == "*" and isinstance(b, SIZED) and a_int:
            self.check_len(len(b) * a, "重复 (*)")
        elif op == "*" and a_int and b_int:
            self._check_bits(a.bit_length() + b.bit_length(), "a * b")
        elif op == "**" and a_int and b_int and b > 0 and abs(a) > 1:
            self._check_bits(b if b > self.limits.max_int_bits else b * math.log2(abs(a)), "a ** b")
        elif op == "<<" and a_int and b_int and a and b > 0:
            self._check_bits(a.bit_length() + b, "a << b")
        elif op == "%" and isinstance(a, (str, bytes)):
            self.check_percent(a, b)

    # -- guards called by rewritten code ----------------------------------
    def binop(self, op: str, a: Any, b: Any) -> Any:
        """``a op b`` for ``+ * ** << %`` after the size checks (fast path for plain numbers)."""
        type_a, type_b = type(a), type(b)
        if not (type_a is float or type_b is float or (type_a is int and type_b is int and (
                op == "+" or (op == "*" and a.bit_length() + b.bit_length() <= self.limits.max_int_bits)))):
            self._check_binop(op, a, b)
        return _BINARY[op](a, b)

    def inplacevar(self, op: str, a: Any, b: Any) -> Any:
        """``a op= b`` (RestrictedPython's ``_inplacevar_``) after the same checks."""
        if op not in _INPLACE:
            raise ScriptSecurityError(f"不支持的增量赋值运算符: {op}")
        type_a, type_b = type(a), type(b)
        if not (type_a is float or type_b is float or (op == "+=" and type_a is int and type_b is int)):
            self._check_binop(op[:-1], a, b)
        return _INPLACE[op](a, b)

    def range(self, *args: Any) -> range:
        """``range`` with at most ``max_range`` items."""
        result = range(*args)
        try:
            size = len(result)
        except OverflowError:
            size = self.limits.max_range + 1
        if size > self.limits.max_range:
            raise ScriptLimitError(f"range() 过大: {size} 项 (上限 {self.limits.max_range})")
        self.check_len(size, "range()")
        return result

    def round(self, number: Any, ndigits: Any = None) -> Any:
        """``round``; a huge negative ``ndigits`` on an int would compute 10**n in C."""
        if ndigits is None:
            return round(number)
        most = int(self.limits.max_int_bits / 3.33)
        if isinstance(ndigits, int) and abs(ndigits) > most:
            raise ScriptLimitError(f"round() 的位数过大: {ndigits} (上限 ±{most})")
        return round(number, ndigits)

    def write(self, obj: Any) -> Any:
        """``_write_``: item assignment on plain dicts and lists only."""
        if type(obj) in _WRITABLE_MAPPINGS:
            return obj
        if type(obj) is list:
            return _ListWriter(obj, self)
        return _Refused(obj)

    def getattr(self, obj: Any, name: Any) -> Any:
        """``_getattr_``: attribute read (see module docstring for what is refused)."""
        if not isinstance(name, str):
            raise ScriptSecurityError("属性名必须是字符串")
        if name.startswith("_"):
            raise ScriptSecurityError(f"访问以下划线开头的属性被禁止: {name}")
        if name in FORBIDDEN_ATTRIBUTES:
            raise ScriptSecurityError(f"访问帧/代码/生成器内部属性被禁止: {name}")
        if name in SIZE_METHODS:
            if isinstance(obj, type) and issubclass(obj, (str, bytes, list)):
                raise ScriptSecurityError(f"通过类型访问 {obj.__name__}.{name} 被禁止, 请在实例上调用")
            if isinstance(obj, (str, bytes, list)):
                return self.sized_method(obj, name)
        value = getattr(obj, name)
        if isinstance(value, ModuleType):
            raise ScriptSecurityError(f"通过属性访问模块被禁止: {name}")
        return value
