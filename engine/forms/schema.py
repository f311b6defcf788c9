"""Server-side validation of task submissions: marshmallow schemas built from a form-js form.

`FormValidator.validate(data, context)` does what form-js does on submit, then what the browser
was trusted to check. Hidden fields (`conditional.hide` true against `context` overlaid with the
data) and readonly/disabled fields lose their values and are never required; expression fields
are recomputed here. Every other value must fit its component; keys the form does not have are
refused. Failures raise `engine.errors.FormInvalid`: `.fields` maps a field path (`score`,
`patient.age`, `contacts[0].phone`; `_form` for the submission as a whole) to Chinese messages
naming the field's label; `.fields_en` has the same messages in English, same keys and order.
`check_bounds(data, max_bytes)` (engine.forms.bounds) is the first step.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Callable, Mapping

from marshmallow import Schema, ValidationError, fields

from ..errors import CarePathError
from .definition import (Box, FormProblem, Leaf, Repeat, compile_form, declared_to_form, is_number,
                         option_key, to_decimal)
from .bounds import MAX_SUBMISSION_BYTES, check_bounds
from .feel import evaluate, is_true
from .messages import Msg, _add, _invalid, _msg

MAX_TEXT = 20_000
_EMAIL = re.compile(r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\Z")
_PHONE = re.compile(r"(?:\+|00)[1-9][0-9]{6,19}\Z")
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?"
_ZONES = {"utc_offset": (r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])", "+08:00"),
          "utc_normalized": ("Z", "Z"), "no_timezone": ("", "")}
_MISSING = object()


class FormDefinitionError(CarePathError):
    """The form definition is unusable; `problems` lists every FormProblem found."""
    code = "form_definition_invalid"

    def __init__(self, problems: list[FormProblem]) -> None:
        super().__init__("表单定义有误：" + "；".join(str(p) for p in problems[:5]))
        self.problems = list(problems)


# ---------------------------------------------------------------- marshmallow fields

class _Typed(fields.Field):
    """A value `convert` accepts (it returns the value to keep, or _MISSING to refuse it)."""

    def __init__(self, convert: Callable[[Any], Any], message: Msg, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.convert, self.message = convert, message

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if (converted := self.convert(value)) is _MISSING:
            raise ValidationError(self.message)
        return converted


def _choice(label: str, options: tuple, **kwargs: Any) -> _Typed:
    """One of the static options, returned with the type the form gives it (1 stays a number)."""
    known = {option_key(v): v for v in options}
    def choose(v: Any) -> Any:
        return known.get(option_key(v), _MISSING) if isinstance(v, str) or is_number(v) else _MISSING
    return _Typed(choose, _msg(label, "不是可选的选项", "is not one of the options"), **kwargs)


def _check(test: Callable[[Any], bool], message: Msg) -> Callable[[Any], None]:
    def validator(value: Any) -> None:
        if value not in ("", None) and not test(value):
            raise ValidationError(message)
    return validator


def _show(value: Any) -> str:
    number = to_decimal(value)
    return str(value) if number is None else format(number.normalize(), "f")


def _text_field(leaf: Leaf, validate: dict, **kwargs: Any) -> fields.Field:
    label, checks = leaf.label, [_check(lambda v: len(v) <= MAX_TEXT, _msg(
        leaf.label, f"不能超过 {MAX_TEXT} 个字符", f"must not exceed {MAX_TEXT} characters"))]
    low, high = validate.get("minLength"), validate.get("maxLength")
    if is_number(low):
        checks.append(_check(lambda v: len(v.strip()) >= low, _msg(
            label, f"至少需要 {_show(low)} 个字符", f"must have at least {_show(low)} characters")))
    if is_number(high):
        checks.append(_check(lambda v: len(v.strip()) <= high, _msg(
            label, f"不能超过 {_show(high)} 个字符", f"must have at most {_show(high)} characters")))
    if leaf.pattern is not None:
        checks.append(_check(lambda v: leaf.pattern.search(v) is not None, _msg(
            label, "格式不符合要求", f"must match the pattern {validate.get('pattern')}")))
    kind = validate.get("validationType")
    if kind == "email":
        checks.append(_check(lambda v: _EMAIL.match(v) is not None, _msg(
            label, "不是有效的电子邮件地址", "must be a valid email address")))
    elif kind == "phone":
        checks.append(_check(lambda v: _PHONE.match(v) is not None, _msg(
            label, "不是有效的国际电话号码（如 +8613800138000）",
            "must be a valid international phone number (e.g. +8613800138000)")))
    invalid = _msg(label, "必须是文本", "must be text")
    return fields.String(validate=checks, error_messages={"invalid": invalid}, **kwargs)


def _number_field(leaf: Leaf, validate: dict, **kwargs: Any) -> fields.Field:
    label, comp, checks = leaf.label, leaf.comp, []
    low, high = validate.get("min"), validate.get("max")
    if is_number(low):
        checks.append(_check(lambda v: to_decimal(v) >= to_decimal(low), _msg(
            label, f"不能小于 {_show(low)}", f"must be at least {_show(low)}")))
    if is_number(high):
        checks.append(_check(lambda v: to_decimal(v) <= to_decimal(high), _msg(
            label, f"不能大于 {_show(high)}", f"must be at most {_show(high)}")))
    digits = comp.get("decimalDigits")
    if isinstance(digits, int) and not isinstance(digits, bool):
        checks.append(_check(lambda v: -min(0, to_decimal(v).normalize().as_tuple().exponent) <= digits, (
            _msg(label, "必须是整数", "must be a whole number") if digits == 0 else
            _msg(label, f"最多 {digits} 位小数", f"must have at most {digits} decimal digits"))))
    step = to_decimal(comp.get("increment"))
    if step is not None and step > 0:
        checks.append(_check(lambda v: _multiple(to_decimal(v), step), _msg(
            label, f"必须是 {_show(step)} 的整数倍", f"must be a multiple of {_show(step)}")))
    as_text = comp.get("serializeToString") is True

    def number(v: Any) -> Any:
        if as_text and isinstance(v, str) and to_decimal(v) is not None:
            return v
        return v if is_number(v) and abs(v) <= 2 ** 53 else _MISSING
    return _Typed(number, _msg(label, "必须是数字", "must be a number"), validate=checks, **kwargs)


def _multiple(value: Any, step: Any) -> bool:
    try:
        return value % step == 0
    except ArithmeticError:
        return False


def _datetime_field(leaf: Leaf, **kwargs: Any) -> fields.Field:
    subtype = leaf.comp.get("subtype", "date")
    zone, example_zone = _ZONES[leaf.comp.get("timeSerializingFormat", "utc_offset")]
    pattern, example = {"date": (r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "2026-11-02"),
                        "time": (_TIME + zone, "09:30" + example_zone),
                        "datetime": (r"[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _TIME + zone,
                                     "2026-11-02T09:30" + example_zone)}[subtype]
    compiled = re.compile(pattern + r"\Z")

    def valid(value: str) -> bool:
        if not compiled.match(value):
            return False
        try:
            return subtype == "time" or bool(date.fromisoformat(value[:10]))
        except ValueError:
            return False
    message = _msg(leaf.label, f"格式不正确，应如 {example}", f"must be written like {example}")
    return fields.String(validate=[_check(valid, message)], error_messages={"invalid": message}, **kwargs)


def _leaf_field(leaf: Leaf) -> fields.Field:
    kwargs: dict[str, Any] = {"allow_none": True, "data_key": leaf.segs[-1], "attribute": leaf.segs[-1]}
    validate, label = leaf.comp.get("validate") or {}, leaf.label
    if leaf.kind in ("textfield", "textarea"):
        return _text_field(leaf, validate, **kwargs)
    if leaf.kind == "number":
        return _number_field(leaf, validate, **kwargs)
    if leaf.kind == "checkbox":
        return _Typed(lambda v: v if isinstance(v, bool) else _MISSING,
                      _msg(label, "必须是 true 或 false", "must be true or false"), **kwargs)
    if leaf.kind in ("radio", "select"):
        return _choice(label, leaf.options, **kwargs)
    if leaf.kind in ("checklist", "taglist"):
        unique = _check(lambda v: len({option_key(x) for x in v}) == len(v),
                        _msg(label, "选项重复", "has the same option twice"))
        invalid = _msg(label, "必须是选项列表", "must be a list of options")
        return fields.List(_choice(label, leaf.options), validate=[unique], error_messages={"invalid": invalid},
                           **kwargs)
    if leaf.kind == "datetime":
        return _datetime_field(leaf, **kwargs)
    return fields.Raw(**kwargs)          # expression fields: the value is computed here


def _dissolve(entries: tuple) -> list:
    """Leaves and repeats of a scope, with boxes (which only hide and lock) taken apart."""
    return [e for entry in entries for e in (_dissolve(entry.children) if isinstance(entry, Box) else [entry])]


def _shape(entries: tuple) -> dict:
    """Data layout of a scope: None for a field, a dict for an object, [dict] for a list."""
    shape: dict = {}
    for entry in _dissolve(entries):
        node = shape
        for seg in entry.segs[:-1]:
            node = node.setdefault(seg, {})
        node[entry.segs[-1]] = [_shape(entry.children)] if isinstance(entry, Repeat) else None
    return shape


def _schema(entries: tuple, name: str) -> type[Schema]:
    tree: dict = {}
    for entry in _dissolve(entries):
        node = tree
        for seg in entry.segs[:-1]:
            node = node.setdefault(seg, {})
        node[entry.segs[-1]] = entry
    return _tree_schema(tree, name)


def _tree_schema(tree: dict, name: str) -> type[Schema]:
    made: dict[str, fields.Field] = {}
    for n, (key, item) in enumerate(tree.items()):
        where = {"data_key": key, "attribute": key, "allow_none": True}
        if isinstance(item, dict):
            made[f"f{n}"] = fields.Nested(_tree_schema(item, f"{name}_{key}"), **where)
        elif isinstance(item, Repeat):
            made[f"f{n}"] = fields.List(fields.Nested(_schema(item.children, f"{name}_{key}")), **where)
        else:
            made[f"f{n}"] = _leaf_field(item)
    return Schema.from_dict(made, name=name)      # field names f0, f1...: keys may be `load`


def _get(data: Any, segs: tuple) -> Any:
    for seg in segs:
        if not isinstance(data, dict) or seg not in data:
            return _MISSING
        data = data[seg]
    return data


def put_path(data: dict, segs: tuple, value: Any) -> None:
    """`value` at the dotted key `segs` of `data`, making the objects on the way."""
    for seg in segs[:-1]:
        data = data.setdefault(seg, {})
    data[segs[-1]] = value


def _env(root: dict, this: Any, parent: Any, indexes: list[int]) -> dict:
    """The names a form-js expression sees: the data, plus `this`, `parent`, `i` in lists."""
    special = {"this": this, "parent": parent, "i": indexes}
    return {**special, **root, **{f"_{k}_": v for k, v in special.items()}}


class FormValidator:
    """Validates submissions for one form; build it once per form and reuse it."""

    def __init__(self, entries: tuple, name: str = "Form", unknown: str | None = None) -> None:
        self.entries, self.shape = entries, _shape(entries)
        self.schema: Schema = _schema(entries, name)()
        self.variables = frozenset(self.shape)
        self.labels = {e.segs[0]: e.label for e in _dissolve(entries) if len(e.segs) == 1}
        self._unknown = unknown
        # Conditions read these from the context, not from a submission that may forge them.
        self._fixed = frozenset(e.segs[0] for e in _dissolve(entries) if isinstance(e, Leaf) and len(e.segs) == 1
                                and any(n.kind == "lit" and n.args[0] is True for n in e.lock))

    @classmethod
    def from_definition(cls, form: Any, source: str = "<form>") -> FormValidator:
        """From a form-js definition (dict or JSON text); raises FormDefinitionError."""
        entries, problems = compile_form(form, source)
        if problems:
            raise FormDefinitionError(problems)
        return cls(entries)

    @classmethod
    def from_declared(cls, declared: list[dict], source: str = "<camunda:formData>") -> FormValidator:
        """From Camunda generated-task-form fields (`camunda:formField` as dicts)."""
        form, problems = declared_to_form(declared, source)
        if problems:
            raise FormDefinitionError(problems)
        return cls.from_definition(form, source)

    @classmethod
    def nothing(cls) -> FormValidator:
        """For tasks that declare no variables: only an empty submission is accepted."""
        return cls((), unknown="此任务未声明任何字段，不能提交数据 {key}")

    def validate(self, data: Any, context: Mapping[str, Any] | None = None) -> dict:
        """The cleaned submission; raises FormInvalid naming every field at fault."""
        check_bounds(data, MAX_SUBMISSION_BYTES, self.labels)
        errors: dict[str, list[Msg]] = {}
        self._structure(data, self.shape, "", errors)
        context = context if isinstance(context, Mapping) else {}
        root = {**context, **{k: v for k, v in data.items() if k not in self._fixed}}
        pruned: dict = {}
        self._walk(self.entries, data, pruned, (root, _env(root, root, None, [])), "", (False, False), errors)
        try:
            cleaned = self.schema.load(pruned)
        except ValidationError as err:
            _flatten(err.messages, self.shape, "", errors)
            cleaned = {}
        if errors:
            raise _invalid(errors)
        return cleaned

    def _structure(self, data: dict, shape: dict, prefix: str, errors: dict) -> None:
        for key, value in data.items():
            name = f"{prefix}{key}"
            if key not in shape:
                zh = (self._unknown or "未知字段 {key}").format(key=name)
                _add(errors, name, Msg(zh, f"unknown field {name} (not a field of this form)"))
            elif isinstance(shape[key], dict) and value is not None:
                if not isinstance(value, dict):
                    _add(errors, name, _msg(name, "必须是对象", "must be an object"))
                else:
                    self._structure(value, shape[key], f"{name}.", errors)
            elif isinstance(shape[key], list) and value is not None:
                if not isinstance(value, list):
                    _add(errors, name, _msg(name, "必须是列表", "must be a list"))
                for n, item in enumerate(value if isinstance(value, list) else []):
                    if not isinstance(item, dict):
                        _add(errors, f"{name}[{n}]", _msg(f"{name}[{n}]", "必须是对象", "must be an object"))
                    else:
                        self._structure(item, shape[key][0], f"{name}[{n}].", errors)

    def _walk(self, entries: tuple, data: dict, out: dict, scope: tuple[dict, dict], prefix: str,
              state: tuple[bool, bool], errors: dict) -> None:
        root, env = scope
        for entry in entries:
            hidden = state[0] or is_true(entry.hide, env)
            locked = state[1] or any(is_true(node, env) for node in entry.lock)
            if isinstance(entry, Box):
                self._walk(entry.children, data, out, scope, prefix, (hidden, locked), errors)
                continue
            value, name = _get(data, entry.segs), prefix + ".".join(entry.segs)
            if hidden or (locked and getattr(entry, "kind", "") != "expression"):
                continue
            if isinstance(entry, Repeat) and isinstance(value, list):
                items = []
                for n, item in enumerate(value):
                    items.append({})
                    inner = _env(root, item, env["_this_"], [*env["_i_"], n + 1])
                    if isinstance(item, dict):
                        self._walk(entry.children, item, items[-1], (root, inner), f"{name}[{n}].",
                                   (False, False), errors)
                put_path(out, entry.segs, items)
            elif isinstance(entry, Repeat):
                continue
            elif entry.kind == "expression":
                put_path(out, entry.segs, evaluate(entry.expr, env))
            elif (entry.comp.get("validate") or {}).get("required") is True and (
                    value in (_MISSING, None, "", []) or (entry.kind == "checkbox" and value is False)):
                _add(errors, name, _msg(entry.label, "必填", "is required"))
            elif value is not _MISSING:
                put_path(out, entry.segs, value)


def _flatten(messages: Any, shape: Any, prefix: str, errors: dict) -> None:
    """marshmallow's nested error dict as `path -> messages`, list items of a field on the field."""
    for key, value in messages.items():
        name, sub = f"{prefix}{key}", shape.get(key) if isinstance(shape, dict) else None
        if isinstance(sub, dict) and isinstance(value, dict):
            _flatten(value, sub, f"{name}.", errors)
        elif isinstance(sub, list) and isinstance(value, dict):
            for n, item in value.items():
                if isinstance(item, dict):
                    _flatten(item, sub[0], f"{name}[{n}].", errors)
                else:
                    _collect(item, name, errors)
        else:
            _collect(value, name, errors)


def _collect(value: Any, name: str, errors: dict) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _collect(item, name, errors)
    elif isinstance(value, list):
        for item in value:
            _collect(item, name, errors)
    else:
        _add(errors, name, value if isinstance(value, Msg) else Msg(f"{name}: {value}", f"{name}: {value}"))
