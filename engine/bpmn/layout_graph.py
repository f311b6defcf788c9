"""What a process holds, for the automatic diagram layout (`engine.bpmn.layout`).

Reads one flow-element container (a process or an embedded sub-process) into nodes, sequence
flows, boundary events and lane bands, then gives every node a column (longest path from the
start events over forward flows; back edges found by a depth-first search in document order)
and a row inside its lane band (a node keeps the row of its main predecessor when it can).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
TASKS = frozenset({"task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask",
                   "receiveTask", "businessRuleTask", "callActivity"})
SUBPROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
EVENTS = frozenset({"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
                    "boundaryEvent"})
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway",
                      "eventBasedGateway", "complexGateway"})
FLOW_NODES = TASKS | SUBPROCESSES | EVENTS | GATEWAYS
BOUNDARY_SLOT = 40      # horizontal room for one boundary event on its host's bottom edge


def bpmn_name(element) -> str | None:
    """Local name of a BPMN-namespace element, None for anything else (DI, extensions, comments)."""
    if not isinstance(element.tag, str):
        return None
    qname = etree.QName(element)
    return qname.localname if qname.namespace == BPMN else None


def node_size(kind: str, boundaries: int = 0) -> tuple[int, int]:
    if kind in EVENTS:
        return 36, 36
    if kind in GATEWAYS:
        return 50, 50
    return max(100, BOUNDARY_SLOT * boundaries + 20), 80


@dataclass
class Node:
    id: str
    kind: str
    element: object
    order: int
    host: str | None = None            # boundary events: the activity they are attached to
    event_sub: bool = False            # event sub-process: not part of the flow, drawn below it
    boundaries: list[str] = field(default_factory=list)
    lane: int = 0                      # index of the leaf lane band
    col: int = 0
    row: int = 0
    size: tuple[int, int] = (100, 80)


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str
    order: int
    back: bool = False
    association: bool = False


@dataclass
class Lane:
    id: str
    element: object
    depth: int
    refs: list[str]
    children: list["Lane"] = field(default_factory=list)


@dataclass
class Container:
    element: object
    id: str
    nodes: dict[str, Node]
    flows: list[Flow]
    lanes: list[Lane]                  # top-level lanes (children nested)
    leaves: list[Lane]                 # leaf lanes, top to bottom: the bands
    annotations: list[tuple[str, str]] = field(default_factory=list)   # (id, text)
    associations: list[Flow] = field(default_factory=list)

    def main_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.host is None and not n.event_sub]

    def owner(self, node_id: str) -> str:
        """The node that stands in the columns for `node_id` (a boundary event's host)."""
        node = self.nodes[node_id]
        return node.host if node.host in self.nodes else node_id


def read_lanes(parent, depth: int) -> list[Lane]:
    lanes = []
    for lane_set in parent:
        if bpmn_name(lane_set) not in ("laneSet", "childLaneSet"):
            continue
        for element in lane_set:
            if bpmn_name(element) != "lane" or not element.get("id"):
                continue
            refs = [(ref.text or "").strip() for ref in element if bpmn_name(ref) == "flowNodeRef"]
            lane = Lane(element.get("id"), element, depth, [r for r in refs if r])
            lane.children = read_lanes(element, depth + 1)
            lanes.append(lane)
    return lanes


def _leaves(lanes: list[Lane]) -> list[Lane]:
    found = []
    for lane in lanes:
        found += _leaves(lane.children) if lane.children else [lane]
    return found


def read_container(element) -> Container:
    nodes: dict[str, Node] = {}
    flows, annotations, associations = [], [], []
    for order, child in enumerate(element):
        kind, ident = bpmn_name(child), child.get("id")
        if not kind or not ident:
            continue
        if kind in FLOW_NODES:
            node = Node(ident, kind, child, order)
            if kind == "boundaryEvent":
                node.host = child.get("attachedToRef")
            node.event_sub = kind in SUBPROCESSES and child.get("triggeredByEvent") == "true"
            nodes[ident] = node
        elif kind == "sequenceFlow":
            flows.append(Flow(ident, child.get("sourceRef", ""), child.get("targetRef", ""),
                              child.get("name") or "", order))
        elif kind == "textAnnotation":
            text = "".join(t.text or "" for t in child if bpmn_name(t) == "text")
            annotations.append((ident, text.strip()))
        elif kind == "association":
            associations.append(Flow(ident, child.get("sourceRef", ""), child.get("targetRef", ""),
                                     "", order, association=True))
    for node in nodes.values():
        if node.host is not None and (node.host not in nodes
                                      or nodes[node.host].kind == "boundaryEvent"):
            node.host = None                     # dangling attachment: draw it as a free event
        elif node.host is not None:
            nodes[node.host].boundaries.append(node.id)
    for node in nodes.values():
        node.size = node_size(node.kind, len(node.boundaries))
    lanes = read_lanes(element, 0)
    container = Container(element, element.get("id", ""), nodes,
                          [f for f in flows if f.source in nodes and f.target in nodes],
                          lanes, _leaves(lanes), annotations, associations)
    _assign_lanes(container)
    return container


def _assign_lanes(c: Container) -> None:
    """Leaf lane of every node; nodes no lane lists follow a neighbour, else the first band."""
    known: dict[str, int] = {}
    for index, lane in enumerate(c.leaves):
        for ref in lane.refs:
            known.setdefault(ref, index)
    for lane in flatten_lanes(c.lanes):        # listed only by a parent lane: its first band
        if lane.children:
            first = c.leaves.index(_leaves([lane])[0])
            for ref in lane.refs:
                known.setdefault(ref, first)
    for _ in range(len(c.nodes)):
        changed = False
        for flow in c.flows:
            src, dst = c.owner(flow.source), c.owner(flow.target)
            if src in known and dst not in known:
                known[dst], changed = known[src], True
        for flow in reversed(c.flows):
            src, dst = c.owner(flow.source), c.owner(flow.target)
            if dst in known and src not in known:
                known[src], changed = known[dst], True
        if not changed:
            break
    last = max(len(c.leaves) - 1, 0)
    for node in c.nodes.values():
        if node.event_sub:
            node.lane = known.get(node.id, last)
        else:
            node.lane = known.get(c.owner(node.id), 0)


def flatten_lanes(lanes: list[Lane]) -> list[Lane]:
    found = []
    for lane in lanes:
        found += [lane] + flatten_lanes(lane.children)
    return found


def all_lanes(c: Container) -> list[Lane]:
    """Every lane of the container, parents before their children, in document order."""
    return flatten_lanes(c.lanes)


def layering_flows(c: Container) -> list[Flow]:
    """Sequence flows, plus associations to a node no flow enters (compensation handlers)."""
    entered = {f.target for f in c.flows}
    extra = [a for a in c.associations if a.source in c.nodes and a.target in c.nodes
             and a.target not in entered and c.nodes[a.target].host is None
             and not c.nodes[a.target].event_sub and c.owner(a.source) != a.target]
    return c.flows + extra


def assign_columns(c: Container) -> None:
    flows = layering_flows(c)
    main = c.main_nodes()
    out: dict[str, list[Flow]] = {n.id: [] for n in main}
    entered = set()
    for flow in flows:
        src, dst = c.owner(flow.source), c.owner(flow.target)
        if src in out and dst in out:
            out[src].append(flow)
            entered.add(dst)
    roots = [n.id for n in main if n.kind == "startEvent"]
    roots += [n.id for n in main if n.id not in entered and n.id not in roots]
    roots += [n.id for n in main if n.id not in roots]
    state: dict[str, int] = {}
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:
            node, index = stack.pop()
            if index < len(out[node]):
                stack.append((node, index + 1))
                flow = out[node][index]
                dst = c.owner(flow.target)
                if state.get(dst) == 1:
                    flow.back = True
                elif dst not in state:
                    state[dst] = 1
                    stack.append((dst, 0))
            else:
                state[node] = 2
    preds: dict[str, list[str]] = {n.id: [] for n in main}
    for src, leaving in out.items():
        for flow in leaving:
            if not flow.back:
                preds[c.owner(flow.target)].append(src)
    waiting = {n: len(p) for n, p in preds.items()}
    ready = [(c.nodes[n].order, n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    while ready:
        _, node = heapq.heappop(ready)
        c.nodes[node].col = max((c.nodes[p].col + 1 for p in preds[node]), default=0)
        for flow in out[node]:
            if not flow.back:
                dst = c.owner(flow.target)
                waiting[dst] -= 1
                if waiting[dst] == 0:
                    heapq.heappush(ready, (c.nodes[dst].order, dst))
    for node in c.nodes.values():
        if node.host is not None:
            node.col = c.nodes[node.host].col


def assign_rows(c: Container) -> None:
    main = c.main_nodes()
    preds: dict[str, list[tuple[int, str, bool]]] = {n.id: [] for n in main}
    for flow in layering_flows(c):
        src, dst = c.owner(flow.source), c.owner(flow.target)
        if flow.back or src not in preds or dst not in preds:
            continue
        preds[dst].append((flow.order, src, flow.source != src))
    taken: set[tuple[int, int, int]] = set()
    columns: dict[int, list[Node]] = {}
    for node in main:
        columns.setdefault(node.col, []).append(node)
    for col in sorted(columns):
        wishes = []
        for node in columns[col]:
            same = [(c.nodes[src].row + (1 if via_boundary else 0), order)
                    for order, src, via_boundary in preds[node.id]
                    if c.nodes[src].lane == node.lane]
            wish, key = min(same) if same else (0, 1 << 30)
            wishes.append((wish, key, node.order, node))
        for wish, _key, _order, node in sorted(wishes, key=lambda w: w[:3]):
            row = wish
            while (node.lane, col, row) in taken:
                row += 1
            node.row = row
            taken.add((node.lane, col, row))
    bottom: dict[int, int] = {}
    for node in main:
        bottom[node.lane] = max(bottom.get(node.lane, -1), node.row)
    placed: dict[int, int] = {}
    for node in c.nodes.values():
        if node.event_sub:
            node.row = bottom.get(node.lane, -1) + 1
            node.col = placed.get(node.lane, 0)
            placed[node.lane] = node.col + 1
        elif node.host is not None:
            node.row, node.lane = c.nodes[node.host].row, c.nodes[node.host].lane
