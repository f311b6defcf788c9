"""Size guards for building text: f-strings, ``str.format``, ``%`` and str/list methods.

Formatting is where a short script can ask C code for a huge string
(``f"{x:>999999999}"``, ``"%s" * n % args``, ``s.ljust(10**9)``,
``sep.join(many_big_strings)``) or, through ``"{0.__class__}".format(x)``, walk
attributes without passing ``_getattr_``.  :class:`TextGuards` (mixed into
:class:`~engine.scripting.guards.RuntimeGuards`) predicts result sizes before
the C call and routes format-field lookups through the attribute guard.
"""
from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import _string

from .errors import ScriptLimitError, ScriptSecurityError

if TYPE_CHECKING:
    from .guards import SandboxLimits

SIZED = (str, bytes, bytearray, list, tuple)
#: Methods whose result size is chosen by an argument (wrapped on instances, refused on the type).
SIZE_METHODS = frozenset({"format", "format_map", "join", "replace", "center", "ljust", "rjust", "zfill",
                          "expandtabs", "translate", "extend"})
_PERCENT_DIRECTIVE = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class _SafeFormatter(string.Formatter):
    """``str.format`` whose ``{0.attr}`` / ``{0[key]}`` lookups use the sandbox guards."""

    def __init__(self, guards: TextGuards) -> None:
        self.guards = guards
        self.size = 0

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = self.guards.getattr(obj, key) if is_attr else obj[key]
        return obj, first

    def format_field(self, value: Any, format_spec: str) -> str:
        result = self.guards.format_value(value, -1, format_spec)
        self.size += len(result)
        self.guards.check_len(self.size, "str.format()", charge=False)
        return result


class TextGuards:
    """Text-building guards; the host class provides ``limits``, ``check_len`` and ``getattr``."""

    limits: SandboxLimits

    def check_len(self, size: int, what: str, charge: bool = True) -> None:
        """Refuse a too large result (implemented by the host class)."""
        raise NotImplementedError

    def getattr(self, obj: Any, name: Any) -> Any:
        """The sandbox attribute guard (implemented by the host class)."""
        raise NotImplementedError

    def _check_spec(self, spec: Any) -> None:
        """Refuse format specs with a width/precision above ``max_sequence``."""
        if isinstance(spec, str) and any(len(d) > 7 or int(d) > self.limits.max_sequence
                                         for d in _DIGITS.findall(spec)):
            raise ScriptLimitError(f"格式宽度/精度过大: '{spec[:40]}' (上限 {self.limits.max_sequence})")

    def check_percent(self, fmt: str | bytes, args: Any) -> None:
        """``fmt % args``: no ``*`` widths, bounded widths, estimated result size bounded."""
        text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
        directives = 0
        for match in _PERCENT_DIRECTIVE.finditer(text):
            directives += 1
            for group in match.groups():
                if group == "*":
                    raise ScriptSecurityError("% 格式中的 * 宽度/精度被禁止")
                if group is not None:
                    self._check_spec(group)
        if isinstance(args, tuple):
            size = sum(len(a) for a in args if isinstance(a, (str, bytes)))
        else:
            values: Iterable[Any] = args.values() if isinstance(args, Mapping) else (args,)
            size = directives * max((len(v) for v in values if isinstance(v, (str, bytes))), default=0)
        self.check_len(len(text) + size, "% 格式化")

    def format_value(self, value: Any, conversion: int, spec: Any) -> str:
        """One ``{value!conv:spec}`` field of an f-string or ``str.format``."""
        if conversion == ord("s"):
            value = str(value)
        elif conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("a"):
            value = ascii(value)
        self._check_spec(spec)
        result = format(value, spec)
        self.check_len(len(result), "格式化")
        return result

    def fstring(self, *parts: str) -> str:
        """Join the pieces of an f-string after checking the total size."""
        self.check_len(sum(map(len, parts)), "f-string")
        return "".join(parts)

    def sized_method(self, obj: Any, name: str) -> Callable[..., Any]:
        """``obj.name`` for a :data:`SIZE_METHODS` name: the method behind a size check."""
        method = getattr(obj, name)  # AttributeError for e.g. list.join, as usual
        what = f"{type(obj).__name__}.{name}()"
        if name == "format":
            return lambda *args, **kwargs: _SafeFormatter(self).vformat(obj, args, kwargs)
        if name == "format_map":
            return lambda mapping: _SafeFormatter(self).vformat(obj, (), mapping)

        def join(iterable: Iterable[Any]) -> Any:
            items = iterable if isinstance(iterable, (list, tuple)) else list(iterable)
            if all(isinstance(item, SIZED) for item in items):
                self.check_len(sum(map(len, items)) + len(obj) * max(len(items) - 1, 0), what)
            return method(items)

        def replace(old: Any, new: Any, count: int = -1) -> Any:
            hits = obj.count(old) if len(old) else len(obj) + 1
            hits = hits if count < 0 else min(hits, count)
            self.check_len(len(obj) + hits * (len(new) - len(old)), what)
            return method(old, new, count)

        def pad(width: int, *args: Any) -> Any:
            self.check_len(width, what)
            return method(width, *args)

        def expandtabs(tabsize: int = 8) -> Any:
            self.check_len(len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * tabsize, what)
            return method(tabsize)

        def translate(table: Any, *args: Any) -> Any:
            values = table.values() if isinstance(table, Mapping) else table if isinstance(table, list) else ()
            widest = max((len(v) for v in values if isinstance(v, str)), default=1)
            self.check_len(len(obj) * max(widest, 1), what)
            return method(table, *args)

        def extend(iterable: Any) -> None:
            if hasattr(iterable, "__len__"):
                self.check_len(len(obj) + len(iterable), what)
            method(iterable)

        wrappers: dict[str, Callable[..., Any]] = {
            "join": join, "replace": replace, "center": pad, "ljust": pad, "rjust": pad, "zfill": pad,
            "expandtabs": expandtabs, "translate": translate, "extend": extend,
        }
        return wrappers[name]
