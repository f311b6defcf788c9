"""Validation of what travels with a BPMN file: its decision tables (DMN), its forms and the
tiers of person data its process and forms declare (engine.privacy.tiers).

Problems come back as `Problem(file, line, element, message)` like every other finding, so an
analyst sees a bad rule in a decision table, an unknown form field type or an unknown data tier
next to the task (or the process) that declares it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS

from ..forms import check_form
from ..forms.bounds import load_form_json
from ..privacy.services import tier_properties
from ..privacy.tiers import declared_tiers
from ..scripting import check_expression
from .companions import FormFiles, FormKeyError
from .problems import Problem, SourceLines
from .xmlsafe import UnsafeXmlError, parse_xml

DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
)
FORM_ELEMENTS = ("userTask", "startEvent")
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "camunda": CAMUNDA_MODEL_NS}


@dataclass
class Decisions:
    """DMN files read for one deploy or validation: decision id → (filename, source, root)."""
    by_id: dict[str, tuple[str, bytes, object]] = field(default_factory=dict)

    def roots(self) -> list[tuple[str, object]]:
        seen, roots = set(), []
        for filename, _, root in self.by_id.values():
            if id(root) not in seen:
                seen.add(id(root))
                roots.append((filename, root))
        return roots


def _local(element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _dmn_children(node, name: str) -> list:
    return [child for child in node.iter() if _local(child) == name]


def _entry_problems(text: str) -> list:
    """An input entry is an expression (`"稳定"`, `3`), a unary test (`>= 3`, `in (1, 2)`) or
    uses `?` for the input (`1 <= ? <= 2`), as SpiffWorkflow's DMN engine reads it."""
    text = text.strip()
    if text in ("", "-"):
        return []
    if "?" in text:
        return check_expression(text.replace("?", "dmn_input"))
    direct = check_expression(text)
    if not direct:
        return []
    if text[0].isalpha() or text[0] == "_":
        # SpiffWorkflow joins input and test with no space: `level` + `in (1, 2)` would read
        # `levelin (1, 2)`. Only operator-led tests (`>= 3`, `!= "稳定"`) may omit the input.
        return [Problem("", 0, "", f"以单词开头的条件需写出输入值，例如 ? {text}（? 代表输入值）")]
    unary = check_expression(f"dmn_input {text}")
    return [] if not unary else direct


def read_decisions(sources: list[tuple[str, bytes]], max_bytes: int) -> tuple[Decisions, list]:
    """Parse DMN files (hardened: no DTDs or entities) and check every expression in them."""
    decisions, problems = Decisions(), []
    for filename, data in sources:
        try:
            root = parse_xml(data, filename, max_bytes).getroot()
        except UnsafeXmlError as err:
            problems.append(Problem(filename, err.line or 0, "-", err.message))
            continue
        if etree_namespace(root) not in DMN_NAMESPACES:
            problems.append(Problem(filename, 1, "-", "不是 DMN 文件：根元素应为 DMN 1.1–1.3 的 definitions"))
            continue
        lines = SourceLines(data)
        for decision in _dmn_children(root, "decision"):
            decision_id = decision.get("id") or "-"
            if decision_id in decisions.by_id:
                problems.append(Problem(filename, lines.start(decision), decision_id,
                                        f"决策 {decision_id} 重复定义（另见 {decisions.by_id[decision_id][0]}）"))
                continue
            decisions.by_id[decision_id] = (filename, data, root)
            tables = _dmn_children(decision, "decisionTable")
            if not tables:
                problems.append(Problem(filename, lines.start(decision), decision_id,
                                        "决策没有决策表 (decisionTable)"))
            for text in _dmn_children(decision, "inputExpression"):
                body = "".join(t.text or "" for t in _dmn_children(text, "text"))
                for found in check_expression(body.strip()):
                    problems.append(Problem(filename, lines.start(text), decision_id,
                                            f"输入表达式无法编译: {found.message}"))
            for rule in _dmn_children(decision, "rule"):
                rule_id = rule.get("id") or decision_id
                for kind, checker in (("inputEntry", _entry_problems), ("outputEntry", None)):
                    for entry in _dmn_children(rule, kind):
                        body = "".join(t.text or "" for t in _dmn_children(entry, "text")).strip()
                        found = checker(body) if checker else (check_expression(body) if body else [])
                        for problem in found:
                            what = "条件" if kind == "inputEntry" else "输出"
                            problems.append(Problem(filename, lines.start(entry), rule_id,
                                                    f"规则{what} {body!r} 无法编译: {problem.message}"))
    return decisions, problems


def etree_namespace(root) -> str:
    return root.tag[1:].split("}", 1)[0] if isinstance(root.tag, str) and root.tag.startswith("{") else ""


def decision_ref_problems(tree, filename: str, lines, decisions: Decisions) -> list:
    problems = []
    for task in tree.xpath("//bpmn:businessRuleTask", namespaces=NS):
        ref = task.get(f"{{{CAMUNDA_MODEL_NS}}}decisionRef")
        if not ref:
            problems.append(Problem(filename, lines.start(task), task.get("id") or "-",
                                    "业务规则任务缺少 camunda:decisionRef（应引用 DMN 决策 id）"))
        elif ref not in decisions.by_id:
            known = ", ".join(sorted(decisions.by_id)) or "无"
            problems.append(Problem(filename, lines.start(task), task.get("id") or "-",
                                    f"找不到决策 {ref}：同目录的 .dmn 文件中没有这个决策 id（已有: {known}）"))
    return problems


def form_keys(tree) -> list[tuple[object, str]]:
    found = []
    for tag in FORM_ELEMENTS:
        for element in tree.xpath(f"//bpmn:{tag}", namespaces=NS):
            key = element.get(f"{{{CAMUNDA_MODEL_NS}}}formKey")
            if key is not None:
                found.append((element, key.strip()))
    return found


def load_form(forms: FormFiles, key: str) -> dict:
    """A form definition by key, as a dict; FormKeyError saying what is wrong otherwise."""
    data = forms.read(key)
    try:
        form = load_form_json(data)
    except ValueError as err:
        raise FormKeyError(f"表单 {key} 不是有效的 JSON: {err}") from None
    problems = check_form(form, key)
    if problems:
        raise FormKeyError("；".join(f"表单 {key}: {p.path}: {p.message}" for p in problems))
    return form


def _read_forms(tree, forms: FormFiles | None) -> tuple[dict[str, dict], list[tuple[object, str]]]:
    """The forms the tree's tasks name that load (key → form-js), and (element, message) for each
    task whose form does not."""
    loaded, failed = {}, []
    for element, key in form_keys(tree) if forms is not None else ():
        if key in loaded:
            continue
        try:
            loaded[key] = load_form(forms, key)
        except FormKeyError as err:
            failed.append((element, err.message))
    return loaded, failed


def form_problems(tree, filename: str, lines, forms: FormFiles) -> list:
    """Forms that cannot be read or are invalid, then the tier problems (`tier_problems`) of the
    processes and the forms that load."""
    loaded, failed = _read_forms(tree, forms)
    problems = [Problem(filename, lines.start(element), element.get("id") or "-", message)
                for element, message in failed]
    return problems + _tier_problems(tree, filename, lines, loaded)


def tier_problems(tree, filename: str, lines, forms: FormFiles | None = None) -> list:
    """Unknown tier values and variables declared with two different tiers, in the processes'
    `tier`/`tier.*` properties and the forms their tasks name (forms that cannot be read are
    `form_problems`'). Each problem names the process property, or the task whose form says it."""
    return _tier_problems(tree, filename, lines, _read_forms(tree, forms)[0])


def _tier_problems(tree, filename: str, lines, loaded: dict[str, dict]) -> list:
    properties = tier_properties(etree.tostring(tree))
    _tiers, found = declared_tiers(properties, loaded)
    # A list property with an unknown tier gives one message per variable, all alike: say it once.
    return [_tier_problem(tree, filename, lines, message, loaded) for message in dict.fromkeys(found)]


def _tier_problem(tree, filename: str, lines, message: str, loaded: dict[str, dict]) -> Problem:
    """Where a problem of engine.privacy.tiers.declared_tiers sits: its message starts with the
    place, `表单 <key>…` (the first task naming that form) or `流程 <id>…` (that process's
    property named in it, else its `tier` property)."""
    for element, key in form_keys(tree):
        if key in loaded and (message.startswith(f"表单 {key}:") or message.startswith(f"表单 {key} ")):
            return Problem(filename, lines.start(element), element.get("id") or "-", message)
    for process in tree.xpath("//bpmn:process", namespaces=NS):
        process_id = process.get("id") or ""
        if not (message.startswith(f"流程 {process_id}:") or message.startswith(f"流程 {process_id} ")):
            continue
        named = message[len(f"流程 {process_id} 属性 "):].split(":", 1)[0] \
            if message.startswith(f"流程 {process_id} 属性 ") else "tier"
        props = [prop for prop in process.xpath("./bpmn:extensionElements/camunda:properties/camunda:property",
                                                namespaces=NS) if prop.get("name") == named]
        # Of several `tier` properties, the one whose value the message quotes.
        prop = next((p for p in props if repr(p.get("value") or "") in message), props[0] if props else None)
        line = prop.sourceline if prop is not None and prop.sourceline else lines.start(process)
        return Problem(filename, line, process_id or "-", message)
    return Problem(filename, 0, "-", message)
