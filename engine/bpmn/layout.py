"""A clean BPMN diagram (BPMN DI) for BPMN files written as semantic XML only.

`layout_bytes` drops every `bpmndi:BPMNDiagram` of a document and draws a fresh one: a pool per
participant with its lanes stacked in document order, nodes left to right in columns (longest
path from the start events), boundary events on their host's bottom edge, orthogonal edges, loops
below or above the rows, and one extra diagram per embedded sub-process, drawn collapsed in its
parent (the drill-down bpmn-js >= 9 and Camunda Modeler 5 use). The semantic XML is kept as it
is; the output is deterministic and laying out a laid-out file gives the same bytes.
`di_gaps` lists what a document's DI lacks (`carepath pathway layout --check`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .layout_geometry import Box, Edge, Shape
from .layout_shapes import annotation_space, flow_label, layout_container, stretch
from .layout_graph import (FLOW_NODES, SUBPROCESSES, Container, assign_columns, assign_rows,
                           bpmn_name, flatten_lanes, read_container, read_lanes)
from .layout_text import splice
from .xmlsafe import UnsafeXmlError, parse_xml

BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
PREFIXES = {"bpmndi": BPMNDI, "dc": DC, "di": DI}
MAX_BYTES = 5 * 1024 * 1024
ORIGIN_X, ORIGIN_Y = 160, 80
POOL_GAP = 40
BLACK_BOX_HEIGHT = 80


class LayoutError(UnsafeXmlError):
    """The document parses but is not something a diagram can be drawn for."""


@dataclass
class LayoutResult:
    data: bytes
    warnings: list[str] = field(default_factory=list)
    shapes: int = 0
    edges: int = 0
    diagrams: int = 0


def layout_bytes(data: bytes, filename: str = "<bpmn>", max_bytes: int = MAX_BYTES) -> bytes:
    """The same BPMN document with its diagrams replaced by a freshly laid-out one (UTF-8)."""
    return layout_document(data, filename, max_bytes).data


def layout_document(data: bytes, filename: str = "<bpmn>",
                    max_bytes: int = MAX_BYTES) -> LayoutResult:
    """Like `layout_bytes`, with warnings and counts for the command line. The semantic part
    keeps its original bytes when that is safe (`layout_text.splice`)."""
    tree = parse_xml(data, filename, max_bytes)
    root = tree.getroot()
    if bpmn_name(root) != "definitions":
        raise LayoutError("不是 BPMN 文件：根元素应为 bpmn:definitions (root is not bpmn:definitions)",
                          root.sourceline or 1, filename)
    before = list(root.itersiblings(preceding=True))[::-1]
    after = list(root.itersiblings())
    root_qname = f"{root.prefix}:definitions" if root.prefix else "definitions"
    for diagram in list(root.iter(f"{{{BPMNDI}}}BPMNDiagram")):
        _remove(diagram)
    declared = dict(root.nsmap)
    root = _with_prefixes(root)
    added = {p: uri for p, uri in root.nsmap.items() if p not in declared}
    chosen = {uri: p for p, uri in reversed(list(root.nsmap.items())) if uri in PREFIXES.values()}
    chosen.update({uri: p for p, uri in PREFIXES.items() if root.nsmap.get(p) == uri})
    ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    drawing = _Drawing(root, ids, chosen)
    drawing.draw()
    unit = _indent_unit(root)
    anchor = next((e for e in root if bpmn_name(e) == "relationship"), None)
    for element in drawing.elements:
        if anchor is not None:
            anchor.addprevious(element)
        _indent(element, 1, unit)
        _place_whitespace(element, "\n" + unit)
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>']
    parts += [etree.tostring(n, encoding="UTF-8", with_tail=False) for n in before]
    parts.append(etree.tostring(root, encoding="UTF-8", with_tail=False))
    parts += [etree.tostring(n, encoding="UTF-8", with_tail=False) for n in after]
    produced = b"\n".join(parts) + b"\n"
    kept = splice(data if isinstance(data, bytes) else data.encode("utf-8"), produced,
                  root_qname, chosen.get(BPMNDI), added, unit)
    return LayoutResult(kept or produced, drawing.warnings, drawing.shape_count,
                        drawing.edge_count, len(drawing.elements))


def di_gaps(data: bytes, filename: str = "<bpmn>", max_bytes: int = MAX_BYTES) -> list[str]:
    """What the document's DI lacks: an empty list when every flow node, lane and participant
    has a shape and every sequence flow an edge."""
    root = parse_xml(data, filename, max_bytes).getroot()
    if bpmn_name(root) != "definitions":
        raise LayoutError("不是 BPMN 文件：根元素应为 bpmn:definitions (root is not bpmn:definitions)",
                          root.sourceline or 1, filename)
    shapes = {s.get("bpmnElement") for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}
    edges = {s.get("bpmnElement") for s in root.iter(f"{{{BPMNDI}}}BPMNEdge")}
    needed: list[tuple[str, str]] = []
    drawn_processes = set()
    for element in root.iter():
        kind = bpmn_name(element)
        if kind in FLOW_NODES:
            needed.append((element.get("id"), "shape"))
        elif kind == "participant":
            needed.append((element.get("id"), "shape"))
            drawn_processes.add(element.get("processRef"))
        elif kind == "sequenceFlow":
            needed.append((element.get("id"), "edge"))
    for process in root:
        if bpmn_name(process) == "process" and process.get("id") in drawn_processes:
            lanes = flatten_lanes(read_lanes(process, 0))
            needed += [(lane.id, "shape") for lane in lanes]
    if next(root.iter(f"{{{BPMNDI}}}BPMNDiagram"), None) is None:
        return ["没有图形信息 (no BPMN DI)"] if needed else []
    gaps = [f"{ident}: 缺少图形 (no BPMNShape)" for ident, what in needed
            if ident and what == "shape" and ident not in shapes]
    gaps += [f"{ident}: 缺少连线 (no BPMNEdge)" for ident, what in needed
             if ident and what == "edge" and ident not in edges]
    known = {e.get("id") for e in root.iter() if isinstance(e.tag, str)
             and etree.QName(e).namespace not in (BPMNDI, DC, DI)}
    for element in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge",
                             f"{{{BPMNDI}}}BPMNPlane"):
        ref = element.get("bpmnElement")
        if ref and ref not in known:
            gaps.append(f"{ref}: 图形引用了不存在的元素 (DI refers to a missing element)")
    return gaps


class _Drawing:
    """Builds the `bpmndi:BPMNDiagram` elements, appended to the root."""

    def __init__(self, root, ids: set[str], prefixes: dict[str, str]):
        self.root, self.ids, self.prefixes = root, ids, prefixes
        self.elements: list = []
        self.warnings: list[str] = []
        self.pending: list = []            # sub-processes waiting for their own diagram
        self.shape_count = self.edge_count = 0

    def unique(self, base: str) -> str:
        ident, number = base, 2
        while ident in self.ids:
            ident, number = f"{base}_{number}", number + 1
        self.ids.add(ident)
        return ident

    def draw(self) -> None:
        processes = {p.get("id"): p for p in self.root
                     if bpmn_name(p) == "process" and p.get("id")}
        collaboration = next((c for c in self.root
                              if bpmn_name(c) == "collaboration" and c.get("id")), None)
        drawn: set[str] = set()
        if collaboration is not None:
            drawn = self.collaboration(collaboration, processes)
        for ident, process in processes.items():
            if ident not in drawn:
                self.plain(process)
        while self.pending:
            self.plain(self.pending.pop(0))

    def container(self, element) -> Container:
        c = read_container(element)
        assign_columns(c)
        assign_rows(c)
        self.pending += [n.element for n in c.nodes.values() if n.kind in SUBPROCESSES]
        return c

    def plain(self, element) -> None:
        c = self.container(element)
        if c.leaves:
            self.warnings.append(
                f"{c.id}: 有泳道但没有参与者（池），泳道未绘制 "
                f"(lanes are not drawn without a participant)")
        block = layout_container(c, ORIGIN_X, ORIGIN_Y + annotation_space(c), pool=False)
        self.diagram(c.id, block.shapes, block.edges)

    def collaboration(self, collaboration, processes) -> set[str]:
        drawn: set[str] = set()
        y, pools = ORIGIN_Y, []
        for participant in collaboration:
            if bpmn_name(participant) != "participant" or not participant.get("id"):
                continue
            ref = participant.get("processRef")
            if ref in processes and ref not in drawn:
                drawn.add(ref)
                c = self.container(processes[ref])
                y += annotation_space(c)
                block = layout_container(c, ORIGIN_X, y, pool=True)
                pools.append((participant, block))
                y = block.frame.bottom + POOL_GAP
            else:
                pools.append((participant, Box(ORIGIN_X, y, 0, BLACK_BOX_HEIGHT)))
                y += BLACK_BOX_HEIGHT + POOL_GAP
        right = max([b.frame.right for _, b in pools if not isinstance(b, Box)]
                    + [ORIGIN_X + 600])
        shapes, edges, boxes, pool_of = [], [], {}, {}
        for participant, block in pools:
            ident = participant.get("id")
            if isinstance(block, Box):
                box = Box(block.x, block.y, right - block.x, block.h)
                shapes.append(Shape(ident, box, {"isHorizontal": "true"}))
            else:
                block = stretch(block, right)
                box = block.frame
                shapes.append(Shape(ident, box, {"isHorizontal": "true"}))
                shapes += block.lanes
                shapes += block.shapes
                edges += block.edges
                boxes.update(block.boxes)
                pool_of.update(dict.fromkeys(block.boxes, box))
            boxes[ident] = pool_of[ident] = box
        for flow in collaboration:
            if bpmn_name(flow) == "messageFlow" and flow.get("id"):
                ends = [flow.get("sourceRef"), flow.get("targetRef")]
                if all(e in boxes for e in ends):
                    edges.append(_message_flow(flow, *(boxes[e] for e in ends),
                                               *(pool_of[e] for e in ends)))
        self.diagram(collaboration.get("id"), shapes, edges)
        return drawn

    def bounds(self, parent, box: Box) -> None:
        bounds = self.sub(parent, DC, "Bounds")
        for key, value in (("x", box.x), ("y", box.y), ("width", box.w), ("height", box.h)):
            bounds.set(key, str(int(value)))

    def sub(self, parent, uri: str, tag: str):
        """A child element written with the chosen prefix (reusing the root's declaration)."""
        return etree.SubElement(parent, f"{{{uri}}}{tag}", nsmap={self.prefixes[uri]: uri})

    def diagram(self, element_id: str, shapes: list[Shape], edges: list[Edge]) -> None:
        diagram = self.sub(self.root, BPMNDI, "BPMNDiagram")
        diagram.set("id", self.unique(f"BPMNDiagram_{element_id}"))
        plane = self.sub(diagram, BPMNDI, "BPMNPlane")
        plane.set("id", self.unique(f"BPMNPlane_{element_id}"))
        plane.set("bpmnElement", element_id)
        for shape in shapes:
            node = self.sub(plane, BPMNDI, "BPMNShape")
            node.set("id", self.unique(f"{shape.element}_di"))
            node.set("bpmnElement", shape.element)
            for key, value in shape.attrs.items():
                node.set(key, value)
            self.bounds(node, shape.box)
            if shape.label is not None:
                self.bounds(self.sub(node, BPMNDI, "BPMNLabel"), shape.label)
        for edge in edges:
            node = self.sub(plane, BPMNDI, "BPMNEdge")
            node.set("id", self.unique(f"{edge.element}_di"))
            node.set("bpmnElement", edge.element)
            for x, y in edge.points:
                point = self.sub(node, DI, "waypoint")
                point.set("x", str(int(x)))
                point.set("y", str(int(y)))
            if edge.label is not None:
                self.bounds(self.sub(node, BPMNDI, "BPMNLabel"), edge.label)
        self.shape_count += len(shapes)
        self.edge_count += len(edges)
        self.elements.append(diagram)


def _message_flow(flow, s: Box, t: Box, s_pool: Box, t_pool: Box) -> Edge:
    """Vertical out of the source, across in the gap next to the source's pool, into the target;
    straight down (up) when one end spans the other's centre, as a black-box pool does."""
    sx = tx = s.cx
    if not t.x < s.cx < t.right:
        sx = tx = t.cx if s.x < t.cx < s.right else None
    if sx is None:
        sx, tx = s.cx, t.cx
    if s.cy <= t.cy:
        start, end = (sx, s.bottom), (tx, t.y)
        middle = s_pool.bottom + POOL_GAP // 2 if s_pool.bottom < t.y else None
    else:
        start, end = (sx, s.y), (tx, t.bottom)
        middle = s_pool.y - POOL_GAP // 2 if s_pool.y > t.bottom else None
    if middle is None or s_pool is t_pool:
        middle = (start[1] + end[1]) // 2
    points = [start, end] if start[0] == end[0] else \
        [start, (start[0], middle), (end[0], middle), end]
    label = None
    if (flow.get("name") or "").strip():
        label = flow_label(points, flow.get("name"))
    return Edge(flow.get("id"), points, label)


def _with_prefixes(root):
    """The root, declaring bpmndi/dc/di if it does not yet (a copy with the children moved).
    A standard prefix the file already uses for another namespace gets an alternative."""
    missing = {}
    for prefix, uri in PREFIXES.items():
        for candidate in (prefix, f"omg{prefix}", f"{prefix}2", f"{prefix}3"):
            if root.nsmap.get(candidate) == uri:
                break
            if candidate not in root.nsmap:
                missing[candidate] = uri
                break
    if not missing:
        return root
    copy = etree.Element(root.tag, attrib=dict(root.attrib), nsmap={**root.nsmap, **missing})
    copy.text = root.text
    for child in list(root):
        copy.append(child)
    return copy


def _remove(element) -> None:
    """Take an element out, leaving the whitespace as if it had never been inserted."""
    parent, previous = element.getparent(), element.getprevious()
    tail = element.tail or ""
    if previous is not None:
        keep = previous.tail or ""
        previous.tail = tail if not keep.strip() else keep + tail
    else:
        keep = parent.text or ""
        parent.text = tail if not keep.strip() else keep + tail
    element.tail = None
    parent.remove(element)


def _place_whitespace(element, indent: str) -> None:
    """The inverse of `_remove`: indent the element, keep the whitespace that followed."""
    previous, parent = element.getprevious(), element.getparent()
    if previous is not None:
        element.tail, previous.tail = previous.tail, indent
    else:
        element.tail, parent.text = parent.text, indent


def _indent_unit(root) -> str:
    text = root.text or ""
    unit = text.rsplit("\n", 1)[-1] if "\n" in text else ""
    return unit if unit and not unit.strip() else "  "


def _indent(element, level: int, unit: str) -> None:
    children = list(element)
    if not children:
        return
    element.text = "\n" + unit * (level + 1)
    for child in children:
        _indent(child, level + 1, unit)
        child.tail = "\n" + unit * (level + 1)
    children[-1].tail = "\n" + unit * level
