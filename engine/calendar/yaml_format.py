"""The YAML calendar format (see `engine.calendar.importer` and docs/calendar-format.md).

The file is read with PyYAML's safe loader stopped at the composition stage
(`yaml.compose(..., Loader=yaml.SafeLoader)`): no Python object is ever constructed from the file,
every value keeps its line number for error messages, and scalars are read as written. The last
point matters: YAML 1.1 would turn an unquoted `kind: off` into False and a region code such as
`010100` into an octal number.
"""
from __future__ import annotations

from datetime import date

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .import_support import (ErrorFactory, LayerBuilder, parse_iso_date, parse_kind,
                             parse_region, parse_year)
from .layers import CalendarLayer

_TOP_FIELDS = ("source", "official", "region", "years", "days")
_DAY_FIELDS = ("date", "range", "kind", "name")
_NULL_TAG = "tag:yaml.org,2002:null"

Fields = dict[str, tuple[ScalarNode, Node]]


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _compose(text: str, error: ErrorFactory) -> Node:
    """The document's node tree; syntax errors carry their line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise error(line, f"YAML 语法错误: {exc.problem or exc.context} (YAML syntax error)") from exc
    except yaml.YAMLError as exc:
        raise error(None, f"YAML 语法错误: {exc} (YAML syntax error)") from exc
    if root is None:
        raise error(1, "文件为空 (empty file)")
    return root


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _fields(node: Node, allowed: tuple[str, ...], what: str, error: ErrorFactory) -> Fields:
    """A mapping's entries by key; non-scalar, duplicate and unknown keys are errors."""
    if not isinstance(node, MappingNode):
        raise error(_line(node), f"{what}应为映射（key: value） (expected a mapping)")
    fields: Fields = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or key.value not in allowed:
            shown = key.value if isinstance(key, ScalarNode) else "?"
            raise error(_line(key), f"{what}中有未知字段 {shown!r}，可用字段: {', '.join(allowed)}"
                                    f" (unknown field)")
        if key.value in fields:
            raise error(_line(key), f"字段 {key.value!r} 重复 (duplicate field)")
        fields[key.value] = (key, value)
    return fields


def _required(fields: Fields, name: str, owner: Node, error: ErrorFactory) -> Node:
    if name not in fields or _is_null(fields[name][1]):
        raise error(_line(owner), f"缺少字段 {name!r} (missing field: {name})")
    return fields[name][1]


def _scalar(node: Node, name: str, error: ErrorFactory) -> str:
    if not isinstance(node, ScalarNode) or _is_null(node):
        raise error(_line(node), f"字段 {name!r} 应为单个值 (expected a scalar)")
    return node.value


def _text(node: Node, name: str, error: ErrorFactory) -> str:
    text = _scalar(node, name, error).strip()
    if not text:
        raise error(_line(node), f"字段 {name!r} 不能为空 (empty {name})")
    return text


def _sequence(node: Node, name: str, error: ErrorFactory) -> list[Node]:
    if not isinstance(node, SequenceNode):
        raise error(_line(node), f"字段 {name!r} 应为列表 (expected a list)")
    return list(node.value)


def _official(fields: Fields, error: ErrorFactory) -> bool:
    if "official" not in fields:
        return False
    node = fields["official"][1]
    value = _scalar(node, "official", error).strip().lower()
    if value not in ("true", "false"):
        raise error(_line(node), f"official 只能是 true 或 false，而不是 {node.value!r} "
                                 f"(official must be true or false)")
    return value == "true"


def _region(fields: Fields, error: ErrorFactory) -> str | None:
    node = fields.get("region", (None, None))[1]
    if node is None or _is_null(node):
        return None
    return parse_region(_scalar(node, "region", error), error, _line(node))


def _years(fields: Fields, error: ErrorFactory) -> set[int]:
    node = fields.get("years", (None, None))[1]
    if node is None or _is_null(node):
        return set()
    items = [node] if isinstance(node, ScalarNode) else _sequence(node, "years", error)
    return {parse_year(_scalar(item, "years", error), error, _line(item)) for item in items}


def _date(node: Node, name: str, error: ErrorFactory) -> date:
    return parse_iso_date(_scalar(node, name, error), error, _line(node))


def _add_day_entry(entry: Node, builder: LayerBuilder, error: ErrorFactory) -> None:
    """One item of `days`: `{date | range, kind, name}`."""
    fields = _fields(entry, _DAY_FIELDS, "days 的条目", error)
    line = _line(entry)
    kind_node = _required(fields, "kind", entry, error)
    kind = parse_kind(_scalar(kind_node, "kind", error), error, _line(kind_node))
    name = _text(_required(fields, "name", entry, error), "name", error)
    if ("date" in fields) == ("range" in fields):
        raise error(line, "每个条目需要 date 或 range 之一（且只能有一个） (need exactly one of date, "
                          "range)")
    if "date" in fields:
        builder.add_day(_date(fields["date"][1], "date", error), kind, name, line)
        return
    bounds = _sequence(fields["range"][1], "range", error)
    if len(bounds) != 2:
        raise error(line, "range 应为 [起始日期, 结束日期] (range needs exactly two dates)")
    first, last = (_date(bound, "range", error) for bound in bounds)
    builder.add_range(first, last, kind, name, line)


def parse_yaml_layer(text: str, filename: str) -> CalendarLayer:
    """A `CalendarLayer` from YAML text; `filename` is used in error messages."""
    error = ErrorFactory(filename)
    root = _compose(text, error)
    fields = _fields(root, _TOP_FIELDS, "文件顶层", error)
    source = _text(_required(fields, "source", root, error), "source", error)
    official, region = _official(fields, error), _region(fields, error)
    years = _years(fields, error)
    builder = LayerBuilder(error)
    for entry in _sequence(_required(fields, "days", root, error), "days", error):
        _add_day_entry(entry, builder, error)
    return builder.build(source=source, official=official, region=region, years=years,
                         line=_line(root))
