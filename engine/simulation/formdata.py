"""Synthetic submissions: a value for every field of a task's form, valid by the form's own rules.

A simulated task is completed through `services.complete`, so its data passes the same validation
a person's does. The form (form-js, or Camunda `formField` declarations) says what each field
takes; this module makes one such value per field with a seeded random generator: an option of a
choice, a number within its bounds and step, a date on the engine clock, text within its length
and matching its pattern. Fields the form hides or locks are left for the validator to prune, as
it prunes them from a browser's submission. A model file may fix or list values per field
(`Overrides`) where the generated ones would not do, e.g. a code a later script parses.
"""
from __future__ import annotations

import re
import random
from datetime import datetime, timezone
from decimal import Decimal
from re import _constants as sre_constants
from re import _parser as sre_parse
from typing import Any

from ..forms.definition import Box, Leaf, Repeat, is_number, to_decimal
from ..forms.schema import FormValidator, put_path

TEXT_SAMPLE = "模拟记录"
MAX_REPEAT_SAMPLED = 4          # an unbounded repeat in a pattern (`+`, `*`) takes at most this many


class PatternUnsupported(ValueError):
    """A pattern uses something the sampler cannot produce (a back-reference, a look-around)."""


def sample_pattern(pattern: re.Pattern, rng: random.Random) -> str:
    """A string `pattern` matches (form patterns are tested unanchored, as JavaScript's `test`)."""
    text = _sample(sre_parse.parse(pattern.pattern, pattern.flags), rng)
    if pattern.search(text) is None:          # e.g. a class negated past what the sampler tries
        raise PatternUnsupported(f"无法生成匹配 {pattern.pattern!r} 的文本")
    return text


_CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: "0123456789",
    sre_constants.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_DIGIT: "abcxyz",
    sre_constants.CATEGORY_NOT_WORD: "-+ ",
    sre_constants.CATEGORY_NOT_SPACE: "abc123",
}
_PRINTABLE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def _sample(parsed, rng: random.Random) -> str:
    out = []
    for op, arg in parsed:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.NOT_LITERAL:
            out.append(rng.choice([c for c in _PRINTABLE if ord(c) != arg]))
        elif op is sre_constants.ANY:
            out.append(rng.choice(_PRINTABLE))
        elif op is sre_constants.IN:
            out.append(_one_of(arg, rng))
        elif op is sre_constants.BRANCH:
            out.append(_sample(rng.choice(arg[1]), rng))
        elif op is sre_constants.SUBPATTERN:
            out.append(_sample(arg[-1], rng))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
            low, high, inner = arg
            high = low + MAX_REPEAT_SAMPLED if high is sre_constants.MAXREPEAT else high
            out.extend(_sample(inner, rng) for _ in range(rng.randint(low, max(low, high))))
        elif op is sre_constants.AT:
            continue                              # ^, $, \b: the sampled text starts and ends here
        else:
            raise PatternUnsupported(f"正则表达式中的 {op} 无法用于生成模拟数据")
    return "".join(out)


def _one_of(items, rng: random.Random) -> str:
    if items and items[0][0] is sre_constants.NEGATE:
        excluded = _one_of_set(items[1:])
        allowed = [c for c in _PRINTABLE if c not in excluded]
        if not allowed:
            raise PatternUnsupported("字符类排除了所有可用字符")
        return rng.choice(allowed)
    return rng.choice(sorted(_one_of_set(items)))


def _one_of_set(items) -> set[str]:
    chars: set[str] = set()
    for op, arg in items:
        if op is sre_constants.LITERAL:
            chars.add(chr(arg))
        elif op is sre_constants.RANGE:
            low, high = arg
            chars.update(chr(c) for c in range(low, min(high, low + 94) + 1))
        elif op is sre_constants.CATEGORY:
            chars.update(_CATEGORIES.get(arg, ""))
        else:
            raise PatternUnsupported(f"字符类中的 {op} 无法用于生成模拟数据")
    return chars


class Generator:
    """Values for one form's fields, drawn from `rng`; `now` (aware, in the engine's zone) dates
    the date and time fields."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng, self.now = rng, now

    def submission(self, validator: FormValidator, fixed: dict | None = None) -> dict:
        """A value for every field of the form, then `fixed` over them (a list there means "one
        of these"). The validator drops what the form hides or locks."""
        data: dict = {}
        self._fill(validator.entries, data)
        for key, value in (fixed or {}).items():
            data[key] = self.rng.choice(value) if isinstance(value, list) and value else value
        return data

    def _fill(self, entries: tuple, data: dict) -> None:
        for entry in entries:
            if isinstance(entry, Box):
                self._fill(entry.children, data)
            elif isinstance(entry, Repeat):
                item: dict = {}
                self._fill(entry.children, item)
                put_path(data, entry.segs, [item])
            elif isinstance(entry, Leaf) and entry.kind != "expression":
                put_path(data, entry.segs, self.value(entry))

    def value(self, leaf: Leaf) -> Any:
        validate = leaf.comp.get("validate") or {}
        required = validate.get("required") is True
        kind = leaf.kind
        if kind in ("radio", "select"):
            return self.rng.choice(leaf.options)
        if kind in ("checklist", "taglist"):
            return self.rng.sample(list(leaf.options), self.rng.randint(1, len(leaf.options)))
        if kind == "checkbox":
            return True if required else self.rng.random() < 0.5
        if kind == "number":
            return self._number(leaf.comp, validate)
        if kind == "datetime":
            return self._moment(leaf.comp)
        return self._text(leaf, validate)

    def _number(self, comp: dict, validate: dict) -> Any:
        low = to_decimal(validate.get("min")) if is_number(validate.get("min")) else Decimal(0)
        high = to_decimal(validate.get("max")) if is_number(validate.get("max")) else low + 10
        step = to_decimal(comp.get("increment")) or Decimal(1)
        first = (low / step).to_integral_value(rounding="ROUND_CEILING") * step
        count = int((high - first) / step) if high >= first else 0
        value = first + step * self.rng.randint(0, count)
        digits = comp.get("decimalDigits")
        if isinstance(digits, int) and not isinstance(digits, bool):
            value = value.quantize(Decimal(1).scaleb(-digits))
        number = int(value) if value == value.to_integral_value() else float(value)
        return str(number) if comp.get("serializeToString") is True else number

    def _moment(self, comp: dict) -> str:
        """Today (the engine clock's, in its zone), or now, written as the field serializes it."""
        serialized = comp.get("timeSerializingFormat", "utc_offset")
        moment = self.now.astimezone(timezone.utc) if serialized == "utc_normalized" else self.now
        offset = moment.strftime("%z")
        zone = {"utc_offset": f"{offset[:3]}:{offset[3:]}", "utc_normalized": "Z",
                "no_timezone": ""}[serialized]
        subtype = comp.get("subtype", "date")
        if subtype == "date":
            return self.now.date().isoformat()
        if subtype == "time":
            return moment.strftime("%H:%M") + zone
        return moment.strftime("%Y-%m-%dT%H:%M") + zone

    def _text(self, leaf: Leaf, validate: dict) -> str:
        if leaf.pattern is not None:
            return sample_pattern(leaf.pattern, self.rng)
        kind = validate.get("validationType")
        if kind == "email":
            return f"sim{self.rng.randint(1000, 9999)}@example.org"
        if kind == "phone":
            return f"+86138{self.rng.randint(0, 99_999_999):08d}"
        low = int(validate["minLength"]) if is_number(validate.get("minLength")) else 0
        high = int(validate["maxLength"]) if is_number(validate.get("maxLength")) else max(low, 40)
        text = TEXT_SAMPLE * (low // len(TEXT_SAMPLE) + 1)
        return text[:max(min(high, len(text)), low)]
