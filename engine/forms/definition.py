"""Checking bpmn.io form-js definitions (`{"type": "default", "components": [...]}`).

`check_form` lists every problem of a form; `compile_form` also returns the form as a tree of
`Leaf` (a field that holds a value), `Box` (group, page: hides or locks its children, may add a
`path`) and `Repeat` (dynamiclist: a list of objects). Keys and paths are split on dots, as
form-js does, and each part must be an ASCII identifier not starting with `_` (keys become
workflow variables). `declared_to_form` turns Camunda `formField` declarations into a form.
"""
from __future__ import annotations

import json
import keyword
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .bounds import check_depth, load_form_json
from .feel import FeelError, Node, parse_feel

MAX_FORM_BYTES = 256 * 1024
MAX_COMPONENTS = 500
MAX_NESTING = 16
MAX_PATTERN = 200
TEXT = ("textfield", "textarea")
CHOICE = ("radio", "select", "checklist", "taglist")
INPUTS = TEXT + CHOICE + ("number", "checkbox", "datetime", "expression")
BOXES = ("group", "page", "multipage")
NO_DATA = ("text", "html", "image", "spacer", "separator", "button", "table", "iframe",
           "documentPreview")
UNSUPPORTED = {"filepicker": "文件上传需要单独的附件服务 (file upload is not supported)",
               "script": "表单脚本不会在服务器上运行 (JS function fields are not supported)"}
_ENUMS = {"datetime": {"subtype": ("date", "time", "datetime"),
                       "timeSerializingFormat": ("utc_offset", "utc_normalized", "no_timezone")},
          "number": {"serializeToString": (True, False)}}
_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_QUANTIFIER = re.compile(r"[*+?]|\{(\d+)(,(\d*))?\}")


@dataclass(frozen=True)
class FormProblem:
    """One finding: `path` locates it in the JSON (`components[3].validate.pattern`)."""
    source: str
    path: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path} ({self.key})" if self.key else self.path
        return f"{self.source}: {where}: {self.message}"


@dataclass(frozen=True)
class Leaf:
    comp: dict          # the form-js component as written
    kind: str
    segs: tuple[str, ...]
    label: str
    hide: Node | None
    lock: tuple[Node, ...]
    pattern: re.Pattern | None = None
    options: tuple = ()
    expr: Node | None = None


@dataclass(frozen=True)
class Box:
    hide: Node | None
    lock: tuple[Node, ...]
    children: tuple


@dataclass(frozen=True)
class Repeat:
    segs: tuple[str, ...]
    label: str
    hide: Node | None
    lock: tuple[Node, ...]
    children: tuple


def compile_pattern(pattern: str) -> re.Pattern:
    """A form-js `validate.pattern` (a JavaScript RegExp, tested unanchored) for Python's `re`.

    `$` outside a character class becomes `\\Z` (JavaScript's `$` does not match before a final
    newline) and `\\d`, `\\w` are ASCII as in JavaScript. Raises ValueError for patterns that are
    too long, do not compile, or repeat a variable-length group (`(a+)+`), which can take
    exponential time."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"正则表达式超过 {MAX_PATTERN} 个字符 (pattern too long)")
    out: list[str] = []
    frames, group_varies, i = [False], None, 0
    while i < len(pattern):
        ch, quantifier = pattern[i], _QUANTIFIER.match(pattern, i)
        if quantifier:
            low, comma, high = quantifier.groups()
            varies = low is None or bool(comma) and high != low
            unbounded = (low is None and ch != "?" or bool(comma) and (not high or int(high) >= 10)
                         or low is not None and int(low) >= 10)
            if group_varies and unbounded:
                raise ValueError("正则表达式嵌套了可变次数的重复，可能极慢 (nested quantifiers)")
            frames[-1] = frames[-1] or varies
            end = quantifier.end() + (pattern[quantifier.end(): quantifier.end() + 1] in ("?", "+"))
            out.append(pattern[i:end])
            i, group_varies = end, None
            continue
        if ch == "\\":
            end = i + 2
        elif ch == "[":
            end = i + 1 + (pattern[i + 1: i + 2] == "^")
            end += pattern[end: end + 1] == "]"
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            end += 1
        elif ch == "(":
            frames.append(False)
            end = i + 1 + 2 * (pattern[i + 1: i + 2] == "?")     # skip `(?:`, `(?=`, ...
        else:
            end = i + 1
        if ch == ")" and len(frames) > 1:
            inner = frames.pop()
            frames[-1] = frames[-1] or inner
            group_varies = inner
        else:
            group_varies = None if ch in "(|" else False
        out.append(r"\Z" if ch == "$" else pattern[i:end])
        i = end
    try:
        return re.compile("".join(out), re.ASCII)
    except (re.error, OverflowError, RecursionError) as err:
        raise ValueError(f"正则表达式无法编译 (invalid pattern: {err})") from None


@dataclass
class _Claims:
    """Data paths used in one scope: a field's path is closed, a group path stays open."""
    closed: set = field(default_factory=set)
    opened: set = field(default_factory=set)

    def claim(self, segs: tuple[str, ...], closed: bool) -> str | None:
        prefixes = [segs[:n] for n in range(1, len(segs))]
        if segs in self.closed or (closed and segs in self.opened):
            return "与另一字段的键重复 (duplicate key)"
        if any(p in self.closed for p in prefixes):
            return "路径与另一字段的键冲突 (path conflicts with another field)"
        (self.closed if closed else self.opened).add(segs)
        self.opened.update(prefixes)
        return None


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source, self.count, self.problems = source, 0, list[FormProblem]()

    def problem(self, path: str, key: Any, message: str) -> None:
        self.problems.append(FormProblem(self.source, path, key if isinstance(key, str) else "", message))

    def components(self, comps: Any, path: str, base: tuple, claims: _Claims, depth: int) -> tuple:
        if not isinstance(comps, list):
            self.problem(path, "", "components 必须是列表 (components must be a list)")
            return ()
        if depth > MAX_NESTING:
            self.problem(path, "", f"嵌套超过 {MAX_NESTING} 层 (nested too deeply)")
            return ()
        entries = []
        for i, comp in enumerate(comps):
            self.count += 1
            if self.count > MAX_COMPONENTS:
                self.problem(f"{path}[{i}]", "", f"组件超过 {MAX_COMPONENTS} 个 (too many components)")
                break
            entry = self.component(comp, f"{path}[{i}]", base, claims, depth)
            if entry is not None:
                entries.append(entry)
        return tuple(entries)

    def component(self, comp: Any, here: str, base: tuple, claims: _Claims, depth: int) -> Any:
        if not isinstance(comp, dict):
            self.problem(here, "", "组件必须是 JSON 对象 (component must be an object)")
            return None
        kind, key = comp.get("type"), comp.get("key") or comp.get("path") or ""
        hide, lock = self.hide(comp, here, key), self.lock(comp, here, key)
        if kind in NO_DATA:
            return None
        if kind in UNSUPPORTED:
            self.problem(here, key, f"不支持的组件类型 {kind}：{UNSUPPORTED[kind]}")
            return None
        if kind not in INPUTS + BOXES + ("dynamiclist",):
            self.problem(here, key, f"未知的组件类型 {kind!r} (unknown component type)")
            return None
        label = comp.get("label") if isinstance(comp.get("label"), str) else ""
        children = comp.get("components", [])
        name = "key" if kind in INPUTS else "path"
        where = f"{here}.{name}"
        segs = () if kind in ("page", "multipage") else self.segments(comp.get(name), where, key, kind)
        if segs and (clash := claims.claim(base + segs, closed=kind != "group")):
            self.problem(f"{here}.{name}", key, clash)
            claims = _Claims()                        # one report, not one per child as well
        label = label.strip() if label.strip() and not label.startswith("=") else ".".join(segs)
        if kind in BOXES:
            inner = self.components(children, f"{here}.components", base + segs, claims, depth + 1)
            return Box(hide, lock, inner)
        if kind == "dynamiclist":
            items = self.components(children, f"{here}.components", (), _Claims(), depth + 1)
            return Repeat(base + segs, label, hide, lock, items)
        return Leaf(comp, kind, base + segs, label, hide, lock, *self.details(comp, kind, here, key))

    def segments(self, text: Any, here: str, key: str, kind: str) -> tuple[str, ...]:
        if kind == "group" and text in (None, ""):
            return ()
        if not isinstance(text, str) or not text:
            self.problem(here, key, "缺少键 (key or path is required)")
            return ()
        segs = tuple(text.split("."))
        for seg in segs:
            if not _SEGMENT.fullmatch(seg) or keyword.iskeyword(seg):
                self.problem(here, key, f"{text!r} 不能作为变量名：每段须以英文字母开头，只含字母、数字和下划线，且不是"
                             " Python 关键字 (each part must be an identifier not starting with _)")
                return ()
        return segs

    def expression(self, text: Any, here: str, key: str) -> Node | None:
        if isinstance(text, bool):
            return parse_feel("true" if text else "false")
        if not isinstance(text, str) or not text.lstrip().startswith("="):
            self.problem(here, key, "应为 true/false 或以 = 开头的 FEEL 表达式 (expected a boolean or =expression)")
            return None
        try:
            return parse_feel(text)
        except FeelError as err:
            self.problem(here, key, f"FEEL 表达式有误 (invalid FEEL expression)：{err}")
            return None

    def hide(self, comp: dict, here: str, key: str) -> Node | None:
        conditional = comp.get("conditional") or {}
        if not isinstance(conditional, dict):
            self.problem(f"{here}.conditional", key, "conditional 必须是对象 (must be an object)")
            return None
        hide = conditional.get("hide")
        return None if hide in (None, "", False) else self.expression(hide, f"{here}.conditional.hide", key)

    def lock(self, comp: dict, here: str, key: str) -> tuple[Node, ...]:
        return tuple(node for name in ("readonly", "disabled") if comp.get(name) not in (None, False, "")
                     and (node := self.expression(comp[name], f"{here}.{name}", key)) is not None)

    def details(self, comp: dict, kind: str, here: str, key: str) -> tuple:
        validate = comp.get("validate") or {}
        if not isinstance(validate, dict):
            self.problem(f"{here}.validate", key, "validate 必须是对象 (must be an object)")
            validate = {}
        if not isinstance(validate.get("required", False), bool):
            self.problem(f"{here}.validate.required", key, "required 必须是 true 或 false (must be a boolean)")
        for name, kinds in (("min", ("number",)), ("max", ("number",)), ("minLength", TEXT),
                            ("maxLength", TEXT), ("pattern", TEXT), ("validationType", TEXT)):
            if validate.get(name) not in (None, "") and kind not in kinds:
                self.problem(f"{here}.validate.{name}", key, f"{name} 不适用于 {kind} 组件 (not applicable)")
        self.bounds(validate, ("min", "max"), here, key, integer=False)
        self.bounds(validate, ("minLength", "maxLength"), here, key, integer=True)
        if validate.get("validationType") not in ("email", "phone", "custom", "", None):
            self.problem(f"{here}.validate.validationType", key,
                         "validationType 只能是 email、phone 或 custom (unknown validationType)")
        pattern = None
        if validate.get("pattern") not in (None, "") and kind in TEXT:
            try:
                pattern = compile_pattern(str(validate["pattern"]))
            except ValueError as err:
                self.problem(f"{here}.validate.pattern", key, str(err))
        options = self.options(comp, here, key) if kind in CHOICE else ()
        expr = None if kind != "expression" else self.expression(comp.get("expression"), f"{here}.expression", key)
        for name, allowed in _ENUMS.get(kind, {}).items():
            if name in comp and comp[name] not in allowed:
                self.problem(f"{here}.{name}", key, f"{name} 只能是 {' / '.join(map(str, allowed))} (not allowed)")
        digits, increment = comp.get("decimalDigits"), comp.get("increment")
        if kind == "number" and digits is not None and not (type(digits) is int and digits >= 0):
            self.problem(f"{here}.decimalDigits", key, "decimalDigits 必须是非负整数 (must be a non-negative integer)")
        if kind == "number" and increment not in (None, "") and not (to_decimal(increment) or 0) > 0:
            self.problem(f"{here}.increment", key, "increment 必须是正数 (must be a positive number)")
        return pattern, options, expr

    def bounds(self, validate: dict, names: tuple[str, str], here: str, key: str, integer: bool) -> None:
        found = []
        for name in names:
            if (value := validate.get(name)) is None or value == "":
                continue
            if isinstance(value, str) and value.lstrip().startswith("="):
                self.problem(f"{here}.validate.{name}", key, f"{name} 不支持表达式 (expressions not supported here)")
            elif integer and (not is_number(value) or value != int(value) or value < 0):
                self.problem(f"{here}.validate.{name}", key, f"{name} 必须是非负整数 (must be a non-negative integer)")
            elif not is_number(value):
                self.problem(f"{here}.validate.{name}", key, f"{name} 必须是数字 (must be a number)")
            else:
                found.append(value)
        if len(found) == 2 and found[0] > found[1]:
            self.problem(f"{here}.validate.{names[0]}", key,
                         f"{names[0]} 大于 {names[1]} ({names[0]} is greater than {names[1]})")

    def options(self, comp: dict, here: str, key: str) -> tuple:
        if comp.get("valuesKey") or comp.get("valuesExpression"):
            self.problem(f"{here}.values", key, "不支持动态选项 valuesKey/valuesExpression，请写明静态选项"
                         " (dynamic options are not supported)")
            return ()
        values = comp.get("values")
        if not isinstance(values, list) or not values:
            self.problem(f"{here}.values", key, "缺少选项 values (static options are required)")
            return ()
        found: list = []
        for j, option in enumerate(values):
            value = option.get("value") if isinstance(option, dict) else None
            if not (isinstance(value, str) or is_number(value)):
                self.problem(f"{here}.values[{j}]", key, "选项的 value 必须是文本或数字 (must be a string or number)")
            elif option_key(value) in map(option_key, found):
                self.problem(f"{here}.values[{j}]", key, f"选项值 {value!r} 重复 (duplicate option value)")
            else:
                found.append(value)
        return tuple(found)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number, or a plain decimal string, as Decimal; None for anything else."""
    if is_number(value):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    plain = isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,30}(\.[0-9]{1,30})?", value)
    return Decimal(value) if plain else None


def option_key(value: Any) -> tuple:
    """Options compare by type and value: 1 and 1.0 are the same option, "1" is another."""
    return ("n", to_decimal(value)) if is_number(value) else ("s", value)


def _load(form: Any, compiler: _Compiler) -> Any:
    try:
        raw = form if isinstance(form, (bytes, bytearray, str)) else json.dumps(check_depth(form), ensure_ascii=False)
        if len(raw.encode("utf-8") if isinstance(raw, str) else raw) > MAX_FORM_BYTES:
            compiler.problem("", "", f"表单超过 {MAX_FORM_BYTES // 1024} KB (form too large)")
            return None
        return load_form_json(raw) if raw is form else form
    except (TypeError, ValueError, RecursionError) as err:
        compiler.problem("", "", f"不是有效的 JSON 数据 (invalid JSON: {err})")
        return None


_DECLARED = {"string": {"type": "textfield"}, "long": {"type": "number", "decimalDigits": 0},
             "boolean": {"type": "checkbox"}, "date": {"type": "datetime", "subtype": "date"},
             "enum": {"type": "select"}}
_CONSTRAINTS = {"minlength": "minLength", "maxlength": "maxLength", "min": "min", "max": "max"}


def declared_to_form(declared: Any, source: str = "<camunda:formData>") -> tuple[dict, list[FormProblem]]:
    """Camunda generated-form specs (`{id, label, type, values: [{id, name}], validation:
    [{name, config}]}`) as a form-js form, and the problems of the declarations."""
    compiler, components = _Compiler(source), []
    for i, spec in enumerate(declared if isinstance(declared, list) else [declared]):
        here, key = f"formField[{i}]", spec.get("id") if isinstance(spec, dict) else ""
        if not isinstance(spec, dict) or spec.get("type") not in _DECLARED:
            kind = spec.get("type") if isinstance(spec, dict) else None
            compiler.problem(here, key, f"不支持的字段类型 {kind!r}，可用 string、long、boolean、date、enum"
                             " (unsupported form spec type)")
            continue
        comp = {**_DECLARED[spec["type"]], "key": key, "label": spec.get("label") or key, "validate": {}}
        if spec["type"] == "enum":
            comp["values"] = [{"value": v.get("id"), "label": v.get("name") or v.get("id")}
                              for v in spec.get("values") or [] if isinstance(v, dict)]
        for j, rule in enumerate(spec.get("validation") or []):
            name, config = (rule.get("name"), rule.get("config")) if isinstance(rule, dict) else (None, None)
            number = to_decimal(str(config).strip()) if config is not None else None
            if name in ("readonly", "required"):
                (comp if name == "readonly" else comp["validate"])[name] = True
            elif name in _CONSTRAINTS and number is not None:
                whole = number == number.to_integral_value()
                comp["validate"][_CONSTRAINTS[name]] = int(number) if whole else float(number)
            else:
                compiler.problem(f"{here}.validation[{j}]", key, f"无法使用的约束 {name!r} {config!r}"
                                 " (unsupported constraint)")
        components.append(comp)
    return {"type": "default", "components": components}, compiler.problems


def compile_form(form: Any, source: str = "<form>") -> tuple[tuple, list[FormProblem]]:
    """The form's entry tree and its problems; the tree is only usable when there are none."""
    compiler = _Compiler(source)
    data = _load(form, compiler)
    if data is None:
        return (), compiler.problems
    if not isinstance(data, dict):
        compiler.problem("", "", "表单必须是 JSON 对象 (form must be an object)")
        return (), compiler.problems
    if data.get("type") != "default":
        compiler.problem("type", "", "表单的 type 必须是 \"default\" (form type must be \"default\")")
    entries = compiler.components(data.get("components"), "components", (), _Claims(), 0)
    return entries, compiler.problems


def check_form(form: Any, source: str = "<form>") -> list[FormProblem]:
    """Every problem of a form-js definition (a dict, or its JSON text); empty when it is sound."""
    return compile_form(form, source)[1]
