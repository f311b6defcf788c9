"""What changed between two versions of a pathway, as an analyst would say it.

Both BPMN documents are read with the hardened parser and compared element by element, keyed by
id: flow nodes, sequence flows, lanes, boundary events, sub-processes and what they contain, the
processes themselves and the messages, signals, errors and escalations they refer to. The
diagram (BPMNDI) is never looked at, so moving shapes around changes nothing here. Each element is
reduced to labelled values (its attributes, condition, timer, script, documentation, Camunda
properties and other extension elements, event definitions) and the labels that differ are
reported. Forms are compared by key, naming the fields that were added, removed or changed.
`spec_changes` names the same kinds of change between two deployed task specs (what a migration
preview shows for the element a token sits on).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .timers import TIMER_CLASSES
from .xmlsafe import parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_PREFIXES = {CAMUNDA_NS: "camunda", "http://www.w3.org/2001/XMLSchema-instance": "xsi"}

# Root elements that processes refer to by id.
_ROOT_ELEMENTS = {"message", "signal", "error", "escalation"}
# Elements whose children are elements of their own (reported separately).
_CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}
# Children that only repeat what a sequence flow says.
_DERIVED = {"incoming", "outgoing"}
_REF_LABELS = {"messageRef": "消息", "signalRef": "信号", "errorRef": "错误",
               "escalationRef": "升级事件", "attachedToRef": "附着于"}
_TEXT_LABELS = {"documentation": "说明", "conditionExpression": "条件", "script": "脚本",
                "completionCondition": "完成条件"}


@dataclass(frozen=True)
class Change:
    """One labelled value that differs: `what` is "名称", "条件", "定时器 timeDuration",
    "属性 orgLevel", or an attribute as written ("camunda:dueDate"); None means absent."""
    what: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class ElementChange:
    id: str
    type: str                      # BPMN element local name: "userTask", "sequenceFlow", "lane"...
    name: str | None
    process: str | None            # the process it belongs to (None: a message, signal...)
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class FormChange:
    key: str
    added_fields: tuple[str, ...] = ()
    removed_fields: tuple[str, ...] = ()
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionDiff:
    added: tuple[ElementChange, ...] = ()
    removed: tuple[ElementChange, ...] = ()
    changed: tuple[ElementChange, ...] = ()
    forms_added: tuple[str, ...] = ()
    forms_removed: tuple[str, ...] = ()
    forms_changed: tuple[FormChange, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.forms_added
                    or self.forms_removed or self.forms_changed)

    def to_json(self) -> dict:
        """Plain dicts and lists, for JSON output."""
        return {**_plain(asdict(self)), "is_empty": self.is_empty}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- reading elements --------------------------------------------------------------------------

def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, local = tag[1:].split("}", 1)
        return ns, local
    return None, tag


def _qname(tag: str, element) -> str:
    """A tag or attribute name as an analyst reads it: BPMN names bare, others prefixed."""
    ns, local = _split(tag)
    if ns is None or ns == BPMN_NS:
        return local
    prefix = _PREFIXES.get(ns) or next((p for p, uri in (element.nsmap or {}).items() if uri == ns and p), None)
    return f"{prefix}:{local}" if prefix else tag


def _is_element(node) -> bool:
    return isinstance(node.tag, str)


def _text(node) -> str:
    lines = (node.text or "").replace("\r\n", "\n").strip().split("\n")
    return "\n".join(line.rstrip() for line in lines)


def _canonical(node) -> str:
    """A node's content, independent of whitespace, attribute order and generated ids."""
    attrs = " ".join(f'{_qname(k, node)}="{v}"' for k, v in sorted(node.attrib.items()) if k != "id")
    inner = _text(node) + "".join(_canonical(child) for child in node if _is_element(child))
    name = _qname(node.tag, node)
    return f"<{name}{' ' + attrs if attrs else ''}>{inner}</{name}>"


@dataclass
class _Element:
    id: str
    type: str
    name: str | None
    process: str | None
    values: dict[str, str]


def _put(values: dict[str, str], label: str, value: str) -> None:
    values[label] = f"{values[label]}\n{value}" if label in values else value


def _event_definition(node, values: dict[str, str]) -> None:
    _, local = _split(node.tag)
    _put(values, "事件定义", local)
    for key, value in node.attrib.items():
        if key == "id":
            continue
        name = _qname(key, node)
        values[_REF_LABELS.get(name, f"{local}.{name}")] = value
    for child in node:
        if not _is_element(child):
            continue
        ns, part = _split(child.tag)
        if local == "timerEventDefinition" and ns == BPMN_NS and part in ("timeDate", "timeDuration", "timeCycle"):
            values[f"定时器 {part}"] = _text(child)
        else:
            _put(values, f"{local}.{_qname(child.tag, child)}", _canonical(child))


def _extensions(node, values: dict[str, str]) -> None:
    for child in node:
        if not _is_element(child):
            continue
        ns, local = _split(child.tag)
        if ns == CAMUNDA_NS and local == "properties":
            for prop in child:
                if _is_element(prop):
                    values[f"属性 {prop.get('name')}"] = prop.get("value") or _text(prop)
        else:
            _put(values, _qname(child.tag, child), _canonical(child))


def _values(node, own: set) -> dict[str, str]:
    """Every labelled value of one element; children that are elements of their own (in `own`)
    are left to their own entries."""
    values: dict[str, str] = {}
    for key, value in node.attrib.items():
        if key != "id":
            values["名称" if key == "name" else _qname(key, node)] = value
    refs = []
    for child in node:
        if not _is_element(child) or child in own:
            continue
        ns, local = _split(child.tag)
        if ns == BPMN_NS and local in _DERIVED | {"laneSet", "childLaneSet"}:
            continue
        if ns == BPMN_NS and local == "flowNodeRef":
            refs.append(_text(child))
        elif ns == BPMN_NS and local in _TEXT_LABELS:
            _put(values, _TEXT_LABELS[local], _text(child))
        elif ns == BPMN_NS and local.endswith("EventDefinition"):
            _event_definition(child, values)
        elif ns == BPMN_NS and local == "extensionElements":
            _extensions(child, values)
        else:
            _put(values, _qname(child.tag, child), _canonical(child))
    if refs:
        values["泳道成员"] = ", ".join(sorted(refs))
    return values


def _collect(tree, process_id: str | None) -> dict[str, _Element]:
    """The semantic elements of a document, keyed by id, in document order."""
    root = tree.getroot()
    nodes: list[tuple[object, str | None]] = []

    def lanes(container, pid):
        for child in container:
            if _is_element(child) and _split(child.tag) == (BPMN_NS, "lane"):
                nodes.append((child, pid))
                for sub in child:
                    if _is_element(sub) and _split(sub.tag) == (BPMN_NS, "childLaneSet"):
                        lanes(sub, pid)

    def walk(container, pid):
        for child in container:
            if not _is_element(child):
                continue
            ns, local = _split(child.tag)
            if ns != BPMN_NS:
                continue
            if local == "laneSet":
                lanes(child, pid)
            elif child.get("id") and local not in _TEXT_LABELS and local != "extensionElements":
                nodes.append((child, pid))
                if local in _CONTAINERS:
                    walk(child, pid)

    for child in root:
        if not _is_element(child):
            continue
        ns, local = _split(child.tag)
        if ns != BPMN_NS:
            continue
        if local == "process" and (process_id is None or child.get("id") == process_id):
            nodes.append((child, child.get("id")))
            walk(child, child.get("id"))
        elif local in _ROOT_ELEMENTS and child.get("id"):
            nodes.append((child, None))
    own = {node for node, _ in nodes}
    found: dict[str, _Element] = {}
    for node, pid in nodes:
        element_id = node.get("id")
        if element_id in found:
            continue
        found[element_id] = _Element(element_id, _split(node.tag)[1], node.get("name"), pid,
                                     _values(node, own))
    return found


def _compare(old: _Element, new: _Element) -> tuple[Change, ...]:
    changes = []
    if old.type != new.type:
        changes.append(Change("类型", old.type, new.type))
    for label in dict.fromkeys([*old.values, *new.values]):
        before, after = old.values.get(label), new.values.get(label)
        if before != after:
            changes.append(Change(label, before, after))
    return tuple(changes)


# --- forms -------------------------------------------------------------------------------------

def _components(definition, out: dict | None = None) -> dict[str, str]:
    """Form-js components by key (or id), nested groups flattened, as canonical JSON."""
    out = {} if out is None else out
    for index, component in enumerate((definition or {}).get("components") or []):
        if not isinstance(component, dict):
            continue
        key = component.get("key") or component.get("id") or f"#{index}"
        own = {k: v for k, v in component.items() if k != "components"}
        out[key] = json.dumps(own, sort_keys=True, ensure_ascii=False)
        if component.get("components"):
            _components(component, out)
    return out


def _form_json(definition) -> str:
    if isinstance(definition, dict):
        definition = {k: v for k, v in definition.items() if k != "exporter"}
    return json.dumps(definition, sort_keys=True, ensure_ascii=False)


def diff_forms(old: dict | None, new: dict | None) -> tuple[tuple[str, ...], tuple[str, ...], tuple[FormChange, ...]]:
    """(added keys, removed keys, changed forms) between two form dicts (key → form-js JSON)."""
    old, new = old or {}, new or {}
    changed = []
    for key in sorted(set(old) & set(new)):
        if _form_json(old[key]) == _form_json(new[key]):
            continue
        before, after = _components(old[key]), _components(new[key])
        changed.append(FormChange(
            key, tuple(k for k in after if k not in before), tuple(k for k in before if k not in after),
            tuple(k for k in after if k in before and before[k] != after[k])))
    return tuple(sorted(set(new) - set(old))), tuple(sorted(set(old) - set(new))), tuple(changed)


# --- the diff ----------------------------------------------------------------------------------

def diff_sources(old: bytes, new: bytes, old_forms: dict | None = None, new_forms: dict | None = None,
                 process_id: str | None = None) -> VersionDiff:
    """The semantic difference between two BPMN documents (and their forms). With `process_id`,
    only that process's elements (and the messages, signals... of both documents) are compared."""
    before = _collect(parse_xml(old, "old"), process_id)
    after = _collect(parse_xml(new, "new"), process_id)

    def entry(element: _Element, changes=()) -> ElementChange:
        return ElementChange(element.id, element.type, element.name, element.process, changes)

    changed = []
    for element_id, element in after.items():
        if element_id in before:
            changes = _compare(before[element_id], element)
            if changes:
                changed.append(entry(element, changes))
    forms_added, forms_removed, forms_changed = diff_forms(old_forms, new_forms)
    return VersionDiff(
        added=tuple(entry(e) for i, e in after.items() if i not in before),
        removed=tuple(entry(e) for i, e in before.items() if i not in after),
        changed=tuple(changed),
        forms_added=forms_added, forms_removed=forms_removed, forms_changed=forms_changed)


# --- two task specs (a token's element in two versions) ------------------------------------------

_SPEC_LABELS = {"bpmn_name": "名称", "documentation": "说明", "lane": "泳道", "typename": "类型",
                "inputs": "进入连线", "outputs": "离开连线", "cond_task_specs": "条件",
                "default_task_spec": "默认流向", "script": "脚本", "form": "表单", "spec": "调用的路径",
                "cancel_activity": "中断", "event_definition": "事件定义"}


def spec_changes(registry, old, new) -> list[str]:
    """What differs between two task specs (an element as deployed in two versions), named as in
    `diff_sources` ("名称", "camunda:dueDate", "属性 orgLevel", "定时器"...); source line numbers
    are not a change. `registry` is the serializer's (it turns a spec into plain values)."""
    before, after = registry.convert(old), registry.convert(new)
    changed = []
    for key in dict.fromkeys([*before, *after]):
        a, b = before.get(key), after.get(key)
        if key in ("name", "bpmn_id", "description") or a == b:
            continue
        if key == "extensions":
            changed += _extension_changes(a or {}, b or {})
        elif key == "event_definition":
            timer = any(isinstance(getattr(spec, "event_definition", None), TIMER_CLASSES) for spec in (old, new))
            changed.append("定时器" if timer else "事件定义")
        else:
            changed.append(_SPEC_LABELS.get(key, key))
    return changed


def _extension_changes(before: dict, after: dict) -> list[str]:
    changed = []
    for key in dict.fromkeys([*before, *after]):
        a, b = before.get(key), after.get(key)
        if key == "line" or a == b:
            continue
        if key == "properties":
            a, b = a or {}, b or {}
            changed += [f"属性 {name}" for name in dict.fromkeys([*a, *b]) if a.get(name) != b.get(name)]
        else:
            changed.append(f"camunda:{key}")
    return changed
