"""How big and how deep data may be — a task submission, a form's JSON — measured without
recursion, so hostile input is refused with a message naming the field before anything walks it
recursively (no RecursionError, no memory blow-up).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from .messages import Msg, _add, _invalid, _msg

MAX_SUBMISSION_BYTES = 64 * 1024    # as JSON (UTF-8), like engine.runtime.services.MAX_DATA_BYTES
MAX_FIELDS = 1_000                  # keys at the top of one submission
MAX_DEPTH = 32                      # lists and objects inside each other
MAX_JSON_DEPTH = 64       # in a form's JSON; a form nested MAX_NESTING (16) deep needs ~40


def _scalar_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 2
    return len(repr(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else 5


def _extent(value: Any, budget: int) -> tuple[int, int]:
    """(depth, approximate JSON bytes) of one value, walked without recursion; the walk stops
    once the bytes pass `budget` or the depth passes MAX_DEPTH."""
    size, deepest, stack = 0, 0, [(value, 0)]
    while stack and size <= budget and deepest <= MAX_DEPTH:
        node, depth = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            size += 2 + (3 * len(node) if isinstance(node, dict) else len(node))
            if size <= budget:
                if isinstance(node, dict):
                    size += sum(_scalar_bytes(k) for k in node)
                stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
        else:
            size += _scalar_bytes(node) if not isinstance(node, str) or len(node) <= budget else len(node)
            continue
        deepest = max(deepest, depth + 1)
    return deepest, size


def check_bounds(data: Any, max_bytes: int = MAX_SUBMISSION_BYTES,
                 labels: Mapping[str, str] | None = None) -> None:
    """Refuse, before anything walks it recursively, a submission that is not a JSON object, has
    more than MAX_FIELDS keys, nests deeper than MAX_DEPTH or is larger than `max_bytes` as JSON:
    FormInvalid naming the field at fault (by its label in `labels`, else its key), or `_form`."""
    if not isinstance(data, dict):
        raise _invalid({"_form": [Msg("提交的数据必须是 JSON 对象", "the submission must be a JSON object")]})
    if len(data) > MAX_FIELDS:
        raise _invalid({"_form": [Msg(f"字段过多：{len(data)} 个，上限 {MAX_FIELDS} 个",
                                      f"too many fields: {len(data)}, at most {MAX_FIELDS}")]})
    errors: dict[str, list[Msg]] = {}
    total = 2
    for key, value in data.items():
        name = str(key)[:100]
        label = (labels or {}).get(key) or name
        depth, size = _extent(value, max_bytes)
        total += size + _scalar_bytes(str(key)) + 2
        if depth > MAX_DEPTH:
            _add(errors, name, _msg(label, f"嵌套超过 {MAX_DEPTH} 层", f"is nested more than {MAX_DEPTH} levels deep"))
        elif size > max_bytes:
            _add(errors, name, _msg(label, f"内容过大：超过 {max_bytes} 字节", f"is larger than {max_bytes} bytes"))
    if not errors and total > max_bytes:
        _add(errors, "_form", Msg(f"提交的数据过大：约 {total} 字节，上限 {max_bytes} 字节",
                                  f"the submission is too large: about {total} bytes, at most {max_bytes}"))
    if errors:
        raise _invalid(errors)


def nesting_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep lists and dicts sit inside each other (a scalar is 0), counted without recursion
    and only up to `limit + 1`."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= limit:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def check_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`value` itself, or ValueError when lists and dicts sit more than `max_depth` deep in it."""
    if nesting_depth(value, max_depth) > max_depth:
        raise ValueError(f"数组与对象嵌套超过 {max_depth} 层 (nested more than {max_depth} levels)")
    return value


def load_form_json(raw: bytes | bytearray | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON text (a form definition) as Python data; ValueError saying what is wrong and where
    (line and column of a syntax error), also for text nested deeper than `max_depth`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        value = json.loads(text)
    except UnicodeDecodeError as err:
        raise ValueError(f"第 {err.start + 1} 字节不是 UTF-8 文本 (not UTF-8)") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"第 {err.lineno} 行第 {err.colno} 列: {err.msg}") from None
    except RecursionError:
        raise ValueError(f"数组与对象嵌套超过 {max_depth} 层 (nested more than {max_depth} levels)") from None
    return check_depth(value, max_depth)
