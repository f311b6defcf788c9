"""`carepath pathway validate`: every problem in a BPMN file, as `FILE:LINE: ELEMENT_ID: message`.

Three passes, all reported together: the hardened XML read and the BPMN 2.0 XSD; SpiffWorkflow's
own parse of each executable process; CarePath's rules (every human task has an owner that
exists, every time value parses, every script and condition compiles in the sandbox, gateways
with several outgoing flows have a default or a condition on every flow, messages exist).
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from functools import lru_cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import XSD_PATH
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS

from ..assignment import unwrap_expression
from ..directory import LEVELS
from ..scripting import check_expression, check_script
from ..stages import STAGES
from .moments import MomentError, is_iso_literal, parse_cycle, to_instant
from .parser import CarePathParser
from .companions import FormFiles, decisions_beside, forms_root_for
from .problems import Problem, SourceLines
from .validate_companions import (
    Decisions, decision_ref_problems, form_problems, read_decisions, tier_problems,
)
from .xmlsafe import UnsafeXmlError, parse_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN, "camunda": CAMUNDA_MODEL_NS}
HUMAN_TASKS = ("userTask", "manualTask")
# Literals are checked for syntax only; any instant and zone will do.
_PROBE, _PROBE_TZ = datetime(2026, 1, 1, tzinfo=timezone.utc), ZoneInfo("Asia/Shanghai")
# Text an analyst meant as an ISO 8601 literal (P2D, R3/PT1H, 2026-10-09...), even if mistyped.
_LOOKS_ISO = re.compile(r"^(P\d|PT\d|R\d*/|\d{4}-\d{2})", re.IGNORECASE)
# What the tables hold (engine.store.models): element and process ids, pathway and task names.
MAX_ID, MAX_NAME = 200, 400


@lru_cache(maxsize=1)
def _bpmn_schema() -> etree.XMLSchema:
    with open(XSD_PATH, "rb") as handle:
        return etree.XMLSchema(etree.parse(handle))


def _element_id(element) -> str:
    if element is None:
        return "-"
    return element.get("id") or etree.QName(element).localname


def _xsd_problems(tree, filename: str, lines: SourceLines) -> list[Problem]:
    schema = _bpmn_schema()
    copy = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
    for expr in copy.xpath(".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression",
                           namespaces=NS):
        expr.tag = f"{{{BPMN}}}messagePath"   # bpmn.io writes this element under another name
    if schema.validate(copy):
        return []
    problems = []
    for entry in schema.error_log:
        element = None
        if getattr(entry, "path", None):
            found = copy.xpath(entry.path)
            element = found[0] if found else None
        line = lines.start(element) if element is not None else entry.line
        problems.append(Problem(filename, line, _element_id(element), f"BPMN 结构错误: {entry.message}"))
    return problems


class _Checker:
    def __init__(self, tree, filename: str, lines: SourceLines, roles: dict[str, str] | None,
                 known_processes: set[str] | None):
        self.tree, self.filename, self.lines = tree, filename, lines
        self.roles = roles
        self.role_names = {name: code for code, name in (roles or {}).items()}
        self.known_processes = known_processes
        self.problems: list[Problem] = []

    def report(self, element, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(self.filename, line or self.lines.start(element),
                                     _element_id(element), message))

    def xpath(self, node, path):
        return node.xpath(path, namespaces=NS)

    def run(self) -> list[Problem]:
        lanes = {ref.text.strip(): ref.getparent().get("name")
                 for ref in self.xpath(self.tree, "//bpmn:lane/bpmn:flowNodeRef") if ref.text}
        for tag in HUMAN_TASKS:
            for task in self.xpath(self.tree, f"//bpmn:{tag}"):
                self.check_owner(task, lanes.get(task.get("id")))
                self.check_properties(task)
                for attribute in ("dueDate", "followUpDate"):
                    value = task.get(f"{{{CAMUNDA_MODEL_NS}}}{attribute}")
                    if value is not None:
                        self.check_time(task, value, f"camunda:{attribute}")
        for tag in ("timeDate", "timeDuration", "timeCycle"):
            for element in self.xpath(self.tree, f"//bpmn:timerEventDefinition/bpmn:{tag}"):
                event = element.getparent().getparent()
                self.check_time(event, element.text or "", f"<{tag}>", cycle=(tag == "timeCycle"),
                                line=element.sourceline)
        for script in self.xpath(self.tree, "//bpmn:scriptTask/bpmn:script"):
            for found in check_script(script.text or ""):
                self.report(script.getparent(), f"脚本第 {found.line} 行: {found.message}",
                            line=(script.sourceline or 0) + max((found.line or 1) - 1, 0))
        for condition in self.xpath(self.tree, "//bpmn:sequenceFlow/bpmn:conditionExpression"):
            self.check_expression(condition.getparent(), condition.text or "", "条件表达式",
                                  condition.sourceline)
        for gateway in self.xpath(self.tree, "//bpmn:exclusiveGateway | //bpmn:inclusiveGateway"):
            self.check_gateway(gateway)
        self.check_messages()
        self.check_call_activities()
        self.check_lengths()
        return self.problems

    def check_lengths(self) -> None:
        """Ids and names longer than the engine stores (a huge attribute is refused, not cut)."""
        for element in self.tree.iter(f"{{{BPMN}}}*"):
            for attribute, limit in (("id", MAX_ID), ("name", MAX_NAME)):
                value = element.get(attribute) or ""
                if len(value) > limit:
                    ident = element.get("id") or etree.QName(element).localname
                    shown = ident if len(ident) <= 40 else ident[:40] + "…"
                    self.problems.append(Problem(self.filename, self.lines.start(element), shown,
                                                 f"{attribute} 过长：{len(value)} 个字符，上限 {limit} "
                                                 f"({attribute} too long)"))

    def check_owner(self, task, lane: str | None) -> None:
        attrs = {a: task.get(f"{{{CAMUNDA_MODEL_NS}}}{a}") for a in
                 ("assignee", "candidateUsers", "candidateGroups")}
        if not any(v and v.strip() for v in attrs.values()):
            if not lane:
                self.report(task, "用户任务没有负责人：请设置 candidateGroups/assignee，或放入以角色命名的泳道")
            elif self.roles is not None and lane not in self.roles and lane not in self.role_names:
                self.report(task, f"泳道“{lane}”不是已知角色的代码或名称")
            return
        groups = attrs["candidateGroups"]
        if groups and unwrap_expression(groups) is None and self.roles is not None:
            for role in (g.strip() for g in groups.split(",") if g.strip()):
                if role not in self.roles:
                    self.report(task, f"candidateGroups 中的角色 {role} 不存在")

    def check_properties(self, task) -> None:
        for prop in self.xpath(task, "./bpmn:extensionElements/camunda:properties/camunda:property"):
            if prop.get("name") == "orgLevel" and prop.get("value") not in LEVELS:
                self.report(task, f"orgLevel 必须是 {'/'.join(LEVELS)} 之一，得到 {prop.get('value')!r}",
                            line=prop.sourceline)
            if prop.get("name") == "stage" and (prop.get("value") or "").strip() not in STAGES:
                self.report(task, f"服务阶段 stage 必须是 {'/'.join(STAGES)} 之一，得到 {prop.get('value')!r}",
                            line=prop.sourceline)

    def check_expression(self, element, text: str, what: str, line: int | None) -> None:
        for found in check_expression(text.strip()):
            self.report(element, f"{what}无法编译: {found.message}", line=line)

    def check_time(self, element, text: str, what: str, cycle: bool = False,
                   line: int | None = None) -> None:
        text = (text or "").strip()
        if not text:
            self.report(element, f"{what} 为空", line=line)
            return
        inner = unwrap_expression(text)
        if inner is None and _LOOKS_ISO.match(text) and not is_iso_literal(text):
            self.report(element, f"{what} 不是有效的 ISO 8601 值: {text!r}", line=line)
            return
        if inner is None and is_iso_literal(text):
            try:
                if cycle:
                    parse_cycle(text, _PROBE, _PROBE_TZ)
                else:
                    to_instant(text, _PROBE, _PROBE_TZ)
            except (MomentError, ValueError) as err:
                self.report(element, f"{what} 不是有效的 ISO 8601 值: {err}", line=line)
            return
        self.check_expression(element, inner if inner is not None else text, f"{what} ", line)

    def check_gateway(self, gateway) -> None:
        gid = gateway.get("id")
        outgoing = self.xpath(self.tree, f"//bpmn:sequenceFlow[@sourceRef='{gid}']")
        if len(outgoing) < 2 or gateway.get("default"):
            return
        bare = [flow.get("id") for flow in outgoing
                if not self.xpath(flow, "./bpmn:conditionExpression")]
        if bare:
            self.report(gateway, f"网关有多条出线但没有默认出线，且出线 {', '.join(bare)} 没有条件")

    def check_messages(self) -> None:
        defined = {m.get("id") for m in self.xpath(self.tree, "//bpmn:message")}
        for definition in self.xpath(self.tree, "//bpmn:messageEventDefinition"):
            ref = definition.get("messageRef")
            event = definition.getparent()
            if not ref:
                self.report(event, "消息事件没有引用消息 (messageRef)")
            elif ref not in defined:
                self.report(event, f"消息 {ref} 未定义")

    def check_call_activities(self) -> None:
        local = {p.get("id") for p in self.xpath(self.tree, "//bpmn:process")}
        for call in self.xpath(self.tree, "//bpmn:callActivity"):
            called = call.get("calledElement")
            if not called:
                self.report(call, "调用活动缺少 calledElement")
            elif called not in local and self.known_processes is not None \
                    and called not in self.known_processes:
                self.report(call, f"调用的路径 {called} 既不在本文件中，也未部署")


# SpiffWorkflow findings that CarePath's own rules report with more detail (in _Checker).
_REPORTED_BY_CARPATH_RULES = ("outgoing sequence flow without condition", "No DMN Diagram available")


def _spiff_problem(tree, filename: str, lines: SourceLines, err: ValidationException,
                   fallback: str) -> Problem | None:
    message = str(err.args[0]) if err.args else str(err)
    if any(text in message for text in _REPORTED_BY_CARPATH_RULES):
        return None
    element = err.id or fallback
    line = err.line_number or 0
    found = tree.xpath("//*[@id=$id]", id=element) if element else []
    if found:
        line = lines.start(found[0])
    return Problem(filename, line, element or "-", f"无法执行: {message}")


def _spiff_problems(tree, filename: str, lines: SourceLines, decisions: Decisions) -> list[Problem]:
    parser = CarePathParser()
    try:
        for dmn_file, root in decisions.roots():
            parser.add_dmn_xml(root, dmn_file)
        parser.add_bpmn_xml(tree, filename)
        process_ids = parser.get_process_ids()
    except ValidationException as err:
        found = _spiff_problem(tree, filename, lines, err, "-")
        return [found] if found else []
    problems = []
    if not process_ids:
        problems.append(Problem(filename, 1, "-", "文件中没有可执行的流程 (isExecutable=\"true\")"))
    for process_id in process_ids:
        try:
            parser.get_spec(process_id)
        except ValidationException as err:
            found = _spiff_problem(tree, filename, lines, err, process_id)
            if found:
                problems.append(found)
    return problems


def validate_bytes(data: bytes, filename: str, roles: dict[str, str] | None = None,
                   known_processes: set[str] | None = None,
                   max_bytes: int = 5 * 1024 * 1024, decisions: Decisions | None = None,
                   forms: FormFiles | None = None) -> list[Problem]:
    """All problems of one BPMN document. `roles` (code → name) enables role checks;
    `decisions` are the DMN tables its business rule tasks may use; `forms` is where its form
    keys are looked up (without it, form keys are not checked)."""
    try:
        tree = parse_xml(data, filename, max_bytes)
    except UnsafeXmlError as err:
        return [Problem(filename, err.line or 0, "-", err.message)]
    decisions = decisions or Decisions()
    lines = SourceLines(data)
    problems = _xsd_problems(tree, filename, lines)
    problems += _spiff_problems(tree, filename, lines, decisions)
    problems += _Checker(tree, filename, lines, roles, known_processes).run()
    problems += decision_ref_problems(tree, filename, lines, decisions)
    if forms is not None:
        problems += form_problems(tree, filename, lines, forms)
    else:
        problems += tier_problems(tree, filename, lines)
    unique = sorted(set(problems), key=lambda p: (p.line, p.element, p.message))
    return unique


def read_decisions_beside(path, max_bytes: int) -> tuple[Decisions, list[Problem]]:
    """The DMN files in a BPMN file's directory, read and checked."""
    sources = []
    for dmn in decisions_beside(path):
        if dmn.stat().st_size > max_bytes:
            return Decisions(), [Problem(str(dmn), 1, "-", f"文件过大，上限 {max_bytes} 字节")]
        sources.append((os.path.relpath(dmn), dmn.read_bytes()))
    return read_decisions(sources, max_bytes)


def validate_file(path: str, roles: dict[str, str] | None = None,
                  known_processes: set[str] | None = None,
                  max_bytes: int = 5 * 1024 * 1024, forms_dir: str | None = None,
                  beside: tuple[Decisions, list[Problem]] | None = None) -> list[Problem]:
    """A BPMN file with its companions: the DMN files beside it (`beside`, when the caller has
    read them already) and the forms it names (under `forms_dir`, by default `forms/` next to
    the file's directory)."""
    filename = os.fspath(path)
    try:
        size = os.path.getsize(filename)
        if size > max_bytes:
            return [Problem(filename, 1, "-", f"文件过大: {size} 字节，上限 {max_bytes} 字节")]
        with open(filename, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return [Problem(filename, 0, "-", f"无法读取文件: {err.strerror}")]
    decisions, problems = beside if beside is not None else read_decisions_beside(filename, max_bytes)
    forms = FormFiles(forms_root_for(filename, forms_dir))
    return problems + validate_bytes(data, filename, roles, known_processes, max_bytes,
                                     decisions, forms)
