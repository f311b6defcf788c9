"""The FEEL subset form-js authors write in `conditional.hide`, `readonly` and expression fields.

Literals (numbers, "strings", true, false, null, [lists]), names and paths `a.b`, 1-based
`xs[1]`, `+ - * /`, `= != < <= > >=`, `between`, `in` (a value, a list, `(t1, t2)`, `< e`,
intervals `[a..b]`), `and`, `or`, `not(e)`, `if c then a else b`; a leading `=` is ignored.
As in FEEL, numbers are decimals, an undefined name is null, an operation on null or on wrong
types is null, and `and`/`or` are three-valued. Evaluation never raises and reads only dict keys
and list items of the variables, never Python attributes.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Context, Decimal, DecimalException
from typing import Any, Mapping

MAX_LENGTH = 500          # characters of one expression
MAX_NESTING = 24          # nested brackets, `if`s and `in` tests while parsing
MAX_DEPTH = 64            # depth of the parsed tree
_MAX_VALUE_DEPTH = 32     # nesting of lists/dicts compared or returned
_DECIMAL = Context(prec=34, Emax=6144, Emin=-6143)
_ARITH = {"+": _DECIMAL.add, "-": _DECIMAL.subtract, "*": _DECIMAL.multiply, "/": _DECIMAL.divide}
_KEYWORDS = {"and", "or", "true", "false", "null", "in", "between", "if", "then", "else", "not"}
_MARKER = re.compile(r"\s*=?")     # form-js marks an expression with a leading `=`
_ESCAPES = {'"': '"', "\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\\'nrt])')
_TOKEN = re.compile(r"""\s+|(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)
    |(?P<str>"(?:[^"\\]|\\(?:u[0-9a-fA-F]{4}|["\\'nrt]))*")
    |(?P<name>[^\W\d]\w*)|(?P<op>\.\.|!=|<=|>=|[=<>+\-*/()\[\],.])""", re.VERBOSE)


class FeelError(ValueError):
    """An expression outside the supported subset; `position` is a 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (位置 {position})")
        self.message, self.position = message, position


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression: `kind` names the construct, `args` its parts."""
    kind: str
    args: tuple


def _node(kind: str, *args: Any) -> Node:
    return Node(kind, args)


# ---------------------------------------------------------------- tokenizer

def _tokenize(text: str, i: int) -> list[tuple[str, Any, int]]:
    tokens: list[tuple[str, Any, int]] = []
    while i < len(text):
        match = _TOKEN.match(text, i)
        if match is None:
            if text[i] == '"':
                raise FeelError("字符串没有结束引号或有无效的转义 (bad string literal)", i)
            raise FeelError(f"无法识别的字符 {text[i]!r} (unexpected character)", i)
        kind, raw = match.lastgroup, match.group()
        if kind == "str":
            raw = _ESCAPE.sub(lambda m: _ESCAPES.get(m[1]) or chr(int(m[1][1:], 16)), raw[1:-1])
        if kind:
            kind = "kw" if kind == "name" and raw in _KEYWORDS else kind
            tokens.append((kind, Decimal(raw) if kind == "num" else raw, i))
        i = match.end()
    tokens.append(("end", None, len(text)))
    return tokens


# ---------------------------------------------------------------- parser

class _Parser:
    def __init__(self, tokens: list[tuple[str, Any, int]]) -> None:
        self.tokens, self.pos, self.nesting, self.no_index = tokens, 0, 0, False

    @property
    def tok(self) -> tuple[str, Any, int]:
        return self.tokens[self.pos]

    def at(self, *values: str) -> bool:
        return self.tok[0] in ("op", "kw") and self.tok[1] in values

    def accept(self, *values: str) -> str | None:
        """Consume and return the current operator or keyword if it is one of `values`."""
        if self.at(*values):
            self.pos += 1
            return self.tokens[self.pos - 1][1]
        return None

    def take(self, value: str) -> None:
        if self.accept(value) is None:
            raise FeelError(f"此处应为 {value!r} (expected {value!r})", self.tok[2])

    def expression(self) -> Node:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise FeelError("表达式嵌套过深 (expression nested too deeply)", self.tok[2])
        if self.accept("if"):
            parts = [self.expression()]
            for word in ("then", "else"):
                self.take(word)
                parts.append(self.expression())
            node = _node("if", *parts)
        else:
            node = self.binary(0)
        self.nesting -= 1
        return node

    # Left-associative levels, loosest first; below them come comparisons and unary minus.
    _LEVELS = (("or",), ("and",), None, ("+", "-"), ("*", "/"))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        ops = self._LEVELS[level]
        if ops is None:
            return self.comparison()
        left = self.binary(level + 1)
        while (op := self.accept(*ops)) is not None:
            right = self.binary(level + 1)
            left = _node(op, left, right) if op in ("and", "or") else _node("arith", op, left, right)
        return left

    def comparison(self) -> Node:
        left = self.binary(3)
        if (op := self.accept("=", "!=", "<", "<=", ">", ">=")) is not None:
            return _node("cmp", op, left, self.binary(3))
        if self.accept("between"):
            low = self.binary(3)
            self.take("and")
            return _node("between", left, low, self.binary(3))
        if self.accept("in"):
            return _node("in", left, self.tests())
        return left

    def tests(self) -> tuple[Node, ...]:
        """The right side of `in`: a test, tests in parentheses, a list, or an interval."""
        opener, position = self.accept("(", "[", "]"), self.tok[2]
        if opener == "[" and self.accept("]"):
            return (_node("eq", _node("list", ())),)
        found = [self.test()]
        if opener and self.accept(".."):
            if found[0].kind != "eq":
                raise FeelError("区间的起点无效 (bad interval start)", position)
            self.no_index = True      # in `]a..b[` the final `[` closes the interval
            end = self.binary(3)
            self.no_index = False
            if (closer := self.accept("]", ")", "[")) is None:
                raise FeelError("区间应以 ] ) [ 结束 (interval must end with ] ) or [)", self.tok[2])
            return (_node("interval", opener == "[", found[0].args[0], end, closer == "]"),)
        if opener is None:
            return tuple(found)
        while opener != "]" and self.accept(","):
            found.append(self.test())
        self.take({"(": ")", "[": "]"}.get(opener, ".."))
        if opener == "(":
            return tuple(found)
        if any(test.kind != "eq" for test in found):
            raise FeelError("列表中不能有比较 (comparison inside a list)", position)
        return (_node("eq", _node("list", tuple(test.args[0] for test in found))),)

    def test(self) -> Node:
        if (op := self.accept("<", "<=", ">", ">=")) is not None:
            return _node("test", op, self.binary(3))
        return _node("eq", self.expression())

    def unary(self) -> Node:
        negations = 0
        while self.accept("-"):
            negations += 1
        node = self.primary()
        while True:
            if self.accept("."):
                kind, value, position = self.tok
                if kind not in ("name", "kw"):
                    raise FeelError("“.” 后应为名称 (expected a name after '.')", position)
                self.pos += 1
                node = _node("path", node, value)
            elif not self.no_index and self.accept("["):
                node = _node("index", node, self.expression())
                self.take("]")
            else:
                break
        for _ in range(negations):
            node = _node("neg", node)
        return node

    def primary(self) -> Node:
        kind, value, position = self.tok
        if kind in ("num", "str"):
            self.pos += 1
            return _node("lit", value)
        if kind == "name":
            self.pos += 1
            if self.at("("):
                raise FeelError(f"不支持的函数 {value} (unsupported function)", position)
            return _node("name", value)
        if (word := self.accept("true", "false", "null")) is not None:
            return _node("lit", {"true": True, "false": False, "null": None}[word])
        if self.accept("not"):
            if not self.at("("):
                raise FeelError("not 后应为 ( (expected '(' after not)", self.tok[2])
            return _node("not", self.primary())
        if self.accept("("):
            inner = self.expression()
            self.take(")")
            return inner
        if self.accept("["):
            items: list[Node] = []
            while not self.accept("]"):
                if items:
                    self.take(",")
                items.append(self.expression())
            return _node("list", tuple(items))
        if kind == "end":
            raise FeelError("表达式意外结束 (unexpected end)", position)
        raise FeelError(f"此处不能出现 “{value}” (unexpected token)", position)


def _too_deep(root: Node) -> bool:
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        parts = [a for arg in node.args for a in (arg if isinstance(arg, tuple) else (arg,))]
        stack.extend((a, depth + 1) for a in parts if isinstance(a, Node))
        if depth > MAX_DEPTH:
            return True
    return False


def parse_feel(text: str) -> Node:
    """Parse one expression (an optional leading `=` is dropped); raise FeelError."""
    if not isinstance(text, str):
        raise FeelError("表达式必须是文本 (expression must be a string)", 0)
    if len(text) > MAX_LENGTH:
        raise FeelError(f"表达式超过 {MAX_LENGTH} 个字符 (expression too long)", MAX_LENGTH)
    parser = _Parser(_tokenize(text, _MARKER.match(text).end()))
    root = parser.expression()
    if parser.tok[0] != "end":
        raise FeelError(f"多余的内容 “{parser.tok[1]}” (unexpected trailing input)", parser.tok[2])
    if _too_deep(root):
        raise FeelError("表达式过于复杂 (expression too deep)", 0)
    return root


# ---------------------------------------------------------------- evaluator

def _value(raw: Any) -> Any:
    """A variable's value as FEEL sees it: numbers become decimals, other objects stay opaque."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return Decimal(raw) if isinstance(raw, int) else Decimal(repr(raw)) if math.isfinite(raw) else None
    return raw


def _number(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _any(results: list[bool | None]) -> bool | None:
    """FEEL's `some` over test results: true if one is true, else null if one is null."""
    return True if True in results else (None if None in results else False)


def _equal(a: Any, b: Any, depth: int = 0) -> bool | None:
    a, b = _value(a), _value(b)
    if a is None or b is None:
        return a is None and b is None
    for kind in (bool, Decimal, str):
        if isinstance(a, kind) and isinstance(b, kind):
            return a == b
    if depth > _MAX_VALUE_DEPTH:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False
        a, b = list(a.values()), [b[key] for key in a]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        results = [_equal(x, y, depth + 1) for x, y in zip(a, b)]
        return None if None in results else all(results)
    return None


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if op in ("=", "!="):
        same = _equal(a, b)
        return same if same is None or op == "=" else not same
    a, b = _value(a), _value(b)
    if not ((_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return None
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    a, b = _value(a), _value(b)
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_number(a) and _number(b)) or (op == "/" and b == 0):
        return None
    try:
        return _ARITH[op](a, b)
    except DecimalException:
        return None


def _logic(op: str, a: Any, b: Any) -> bool | None:
    a, b = (x if isinstance(x, bool) else None for x in (a, b))
    decisive = op == "or"          # true decides `or` alone, false decides `and`
    if a is decisive or b is decisive:
        return decisive
    return None if a is None or b is None else not decisive


def _test(test: Node, value: Any, env: Mapping[str, Any]) -> bool | None:
    if test.kind == "test":
        return _compare(test.args[0], value, _eval(test.args[1], env))
    if test.kind == "interval":
        closed_start, start, end, closed_end = test.args
        low = _compare(">=" if closed_start else ">", value, _eval(start, env))
        high = _compare("<=" if closed_end else "<", value, _eval(end, env))
        return _logic("and", low, high)
    target = _value(_eval(test.args[0], env))
    if isinstance(target, list):
        return _any([_equal(value, item) for item in target])
    return _equal(value, target)


def _eval(node: Node, env: Mapping[str, Any]) -> Any:
    kind, args = node.kind, node.args
    if kind == "lit":
        return args[0]
    if kind == "name":
        return _value(env.get(args[0])) if isinstance(env, Mapping) else None
    if kind == "path":
        base = _value(_eval(args[0], env))
        if isinstance(base, list):
            return [_value(item.get(args[1])) if isinstance(item, dict) else None for item in base]
        return _value(base.get(args[1])) if isinstance(base, dict) else None
    if kind == "index":
        base, index = _value(_eval(args[0], env)), _value(_eval(args[1], env))
        if isinstance(base, list) and _number(index) and index == index.to_integral_value():
            at = int(index) if 0 < abs(index) <= len(base) else 0
            return _value(base[at - 1 if at > 0 else at]) if at else None
        return None
    if kind == "list":
        return [_eval(item, env) for item in args[0]]
    if kind == "neg":
        operand = _value(_eval(args[0], env))
        return -operand if _number(operand) else None
    if kind == "arith":
        return _arith(args[0], _eval(args[1], env), _eval(args[2], env))
    if kind == "cmp":
        return _compare(args[0], _eval(args[1], env), _eval(args[2], env))
    if kind == "between":
        value = _eval(args[0], env)
        return _logic("and", _compare(">=", value, _eval(args[1], env)),
                      _compare("<=", value, _eval(args[2], env)))
    if kind == "in":
        value = _eval(args[0], env)
        return _any([_test(test, value, env) for test in args[1]])
    if kind in ("and", "or"):
        left = _eval(args[0], env)
        if kind == "and" and left is False or kind == "or" and left is True:
            return left
        return _logic(kind, left, _eval(args[1], env))
    if kind == "not":
        operand = _eval(args[0], env)
        return (not operand) if isinstance(operand, bool) else None
    if kind == "if":
        return _eval(args[1] if _eval(args[0], env) is True else args[2], env)
    raise AssertionError(kind)


def _plain(value: Any, depth: int = 0) -> Any:
    if isinstance(value, Decimal):
        whole = value == value.to_integral_value() and abs(value) < 2 ** 53
        return int(value) if whole else (float(value) if math.isfinite(float(value)) else None)
    if depth > _MAX_VALUE_DEPTH and isinstance(value, (list, dict)):
        return None
    if isinstance(value, list):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    return value


def evaluate(node: Node, variables: Mapping[str, Any] | None) -> Any:
    """Evaluate a parsed expression; numbers come back as int (when whole) or float."""
    return _plain(_eval(node, variables if isinstance(variables, Mapping) else {}))


def is_true(node: Node | None, variables: Mapping[str, Any] | None) -> bool:
    """True only when the expression evaluates to boolean true (null and errors are false)."""
    return node is not None and _eval(node, variables if isinstance(variables, Mapping) else {}) is True
