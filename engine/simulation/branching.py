"""Branch probabilities at exclusive gateways, and the script engine that follows them.

A forecast states how often a gateway goes each way ("30% of screenings are positive") rather
than the data that would make it so. `Branching` holds those odds; `SimulatedScriptEngine` is the
production script engine except at a gateway that has odds: there it draws the outgoing flow once
and answers each flow's condition by whether it is the drawn one (the default flow is taken when
no condition holds, as SpiffWorkflow takes it). Every other expression (scripts, deadlines,
routing, gateways without odds) is evaluated on the instance's data as in production.

A branches file (YAML) names each gateway by its process and id, and each outgoing flow by its
id or by the element it leads to:

    branches:
      school_screening:
        gw_screen_positive: {flow_positive: 0.3, flow_negative: 0.7}
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway

from ..bpmn.xmlsafe import parse_xml
from ..errors import InvalidInput
from . import read_yaml
from ..runtime.script_engine import PathwayScriptEngine

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Gateway:
    """An exclusive gateway as the BPMN states it: each outgoing flow id and where it leads."""
    process: str
    id: str
    name: str
    flows: dict[str, str]          # flow id → target element id
    default: str | None            # the default flow's id
    conditions: tuple[tuple[str, str], ...] = ()    # (flow id, condition expression), in order

    def leads_to(self, holds) -> str | None:
        """The element the gateway goes to when `holds(expression)` tells which conditions hold:
        the first flow whose condition holds, else the default flow (as SpiffWorkflow decides)."""
        for flow, expression in self.conditions:
            if holds(expression):
                return self.flows[flow]
        return self.flows.get(self.default) if self.default else None


@dataclass(frozen=True)
class Odds:
    """How often one gateway goes to each element it leads to (probabilities summing to 1)."""
    targets: tuple[tuple[str, float], ...]


def exclusive_gateways(bpmn: bytes) -> dict[tuple[str, str], Gateway]:
    """Every exclusive gateway of every process in a BPMN file, by (process id, gateway id)."""
    found = {}
    for process in parse_xml(bpmn).iter(f"{{{BPMN_NS}}}process"):
        flows, conditions = _flows(process)
        for gateway in process.iter(f"{{{BPMN_NS}}}exclusiveGateway"):
            key = (process.get("id"), gateway.get("id"))
            found[key] = Gateway(key[0], key[1], gateway.get("name") or key[1], flows.get(key[1], {}),
                                 gateway.get("default"), tuple(conditions.get(key[1], ())))
    return found


def gateways_after_tasks(bpmn: bytes) -> dict[tuple[str, str], tuple[str, str]]:
    """(process, user task id) → (process, gateway id) for each user task whose one way out leads
    straight to an exclusive gateway: the gateway decides on what the task's form submits."""
    found = {}
    for process in parse_xml(bpmn).iter(f"{{{BPMN_NS}}}process"):
        flows, _ = _flows(process)
        gateways = {g.get("id") for g in process.iter(f"{{{BPMN_NS}}}exclusiveGateway")}
        for task in process.iter(f"{{{BPMN_NS}}}userTask"):
            targets = list(flows.get(task.get("id"), {}).values())
            if len(targets) == 1 and targets[0] in gateways:
                found[(process.get("id"), task.get("id"))] = (process.get("id"), targets[0])
    return found


def _flows(process) -> tuple[dict[str, dict[str, str]], dict[str, list[tuple[str, str]]]]:
    """source → {flow id: target}, and source → [(flow id, condition text)] in document order."""
    flows, conditions = {}, {}
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        flows.setdefault(flow.get("sourceRef"), {})[flow.get("id")] = flow.get("targetRef")
        condition = flow.find(f"{{{BPMN_NS}}}conditionExpression")
        if condition is not None and (condition.text or "").strip():
            conditions.setdefault(flow.get("sourceRef"), []).append((flow.get("id"), condition.text.strip()))
    return flows, conditions


def load_branches(path: Path, gateways: dict[tuple[str, str], Gateway]) -> dict[tuple[str, str], Odds]:
    """The odds a branches file states, checked against the deployed gateways; InvalidInput says
    which file, process, gateway or flow is wrong and what would be right."""
    where = Path(path).name
    document = read_yaml(path, "分支概率文件", "branches file")
    stated = document.get("branches") if isinstance(document, dict) else None
    if not isinstance(stated, dict):
        raise InvalidInput(f"{where}: 需要顶层键 branches: {{路径: {{网关: {{流向: 概率}}}}}}")
    processes = {process for process, _ in gateways}
    odds = {}
    for process, by_gateway in stated.items():
        if process not in processes:
            raise InvalidInput(f"{where}: 路径 {process} 没有排他网关，或尚未部署"
                               f"（有排他网关的路径：{'、'.join(sorted(processes)) or '无'}）")
        if not isinstance(by_gateway, dict):
            raise InvalidInput(f"{where}: branches.{process} 应为 {{网关 id: {{流向: 概率}}}}")
        for gateway_id, shares in by_gateway.items():
            gateway = gateways.get((process, gateway_id))
            if gateway is None:
                known = sorted(g for p, g in gateways if p == process)
                raise InvalidInput(f"{where}: branches.{process}.{gateway_id}: 不是路径 {process} 的排他网关"
                                   f"（可选：{'、'.join(known)}）")
            odds[(process, gateway_id)] = _odds(f"{where}: branches.{process}.{gateway_id}", gateway, shares)
    return odds


def _odds(where: str, gateway: Gateway, shares) -> Odds:
    if not isinstance(shares, dict) or not shares:
        raise InvalidInput(f"{where}: 应为 {{流向 id 或目标元素 id: 概率}}")
    by_target = {}
    targets = set(gateway.flows.values())
    for key, share in shares.items():
        target = gateway.flows.get(key) or (key if key in targets else None)
        if target is None:
            named = [f"{flow} → {to}" for flow, to in sorted(gateway.flows.items())]
            raise InvalidInput(f"{where}.{key}: 不是网关“{gateway.name}”的流出方向（可选：{'、'.join(named)}）")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise InvalidInput(f"{where}.{key}: 概率应是 0 到 1 之间的数，得到 {share!r}")
        if target in by_target:
            raise InvalidInput(f"{where}.{key}: 与另一项指向同一个元素 {target}")
        by_target[target] = float(share)
    total = sum(by_target.values())
    if abs(total - 1) > TOLERANCE:
        raise InvalidInput(f"{where}: 各方向概率之和应为 1，实为 {total:g}")
    return Odds(tuple(sorted(by_target.items())))


class Branching:
    """The odds of each gateway that has any, drawn from one seeded generator."""

    def __init__(self, odds: dict[tuple[str, str], Odds], rng: random.Random):
        self.odds, self.rng = odds, rng
        self.drawn: dict[tuple[str, str], dict[str, int]] = {}      # what was drawn, for the report
        self._pinned: dict[tuple[str, str], str] = {}

    def pick(self, process: str, gateway: str) -> str | None:
        """A target drawn by the odds, not yet taken (see `pin`); None if the gateway has none."""
        odds = self.odds.get((process, gateway))
        if odds is None:
            return None
        point, cumulative = self.rng.random(), 0.0
        for candidate, share in odds.targets:
            cumulative += share
            if point < cumulative:
                return candidate
        return odds.targets[-1][0]

    def pin(self, process: str, gateway: str, target: str) -> None:
        """The next passage through the gateway goes to `target` (drawn beforehand by `pick`, so
        that the data submitted before the gateway could be made to agree with it)."""
        self._pinned[(process, gateway)] = target

    def draw(self, process: str, gateway: str) -> str | None:
        """The element this passage through the gateway goes to; None if it has no odds."""
        target = self._pinned.pop((process, gateway), None) or self.pick(process, gateway)
        if target is not None:
            counts = self.drawn.setdefault((process, gateway), {})
            counts[target] = counts.get(target, 0) + 1
        return target


class SimulatedScriptEngine(PathwayScriptEngine):
    """The production script engine, except at gateways with odds (see the module docstring)."""

    def __init__(self, *args, branching: Branching, **kwargs):
        super().__init__(*args, **kwargs)
        self.branching = branching
        self._passage: tuple[object, str | None] = (None, None)    # (gateway task id, drawn target)

    def evaluate(self, task, expression, external_context=None):
        spec = task.task_spec
        if isinstance(spec, ExclusiveGateway):
            target = self._drawn(task)
            if target is not None:
                return any(condition is not None and condition.args[0] == expression
                           and task.workflow.spec.get_task_spec_from_name(name).bpmn_id == target
                           for condition, name in spec.cond_task_specs)
        return super().evaluate(task, expression, external_context)

    def _drawn(self, task) -> str | None:
        """One draw per passage: every condition of one gateway run sees the same choice."""
        if self._passage[0] != task.id:
            self._passage = (task.id, self.branching.draw(task.workflow.spec.name, task.task_spec.bpmn_id))
        return self._passage[1]
