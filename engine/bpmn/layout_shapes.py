"""Shapes, labels and annotations for the automatic diagram layout (`engine.bpmn.layout`).

`layout_container` runs the planner and router of `layout_geometry` over one container and
dresses the result: BPMN DI attributes (collapsed sub-processes, visible exclusive-gateway
markers), label bounds for events, gateways and named flows, text annotations above the frame.
"""
from __future__ import annotations

from dataclasses import replace

from .layout_geometry import MARGIN, Block, Box, Edge, Shape, Planner, Router
from .layout_graph import EVENTS, GATEWAYS, SUBPROCESSES, Container, Node


def text_size(text: str, width: int = 90) -> tuple[int, int]:
    """Rough rendered size of a label at bpmn-js's 11 px font, wrapped at `width`."""
    length = sum(12 if ord(ch) > 0x2E80 else 7 for ch in text.strip())
    lines = max(1, -(-length // width))
    return min(max(length, 10), width), 14 * lines


def annotation_size(text: str) -> tuple[int, int]:
    _, h = text_size(text, 100)
    return 100, max(30, h + 10)


def annotation_space(c: Container) -> int:
    return max((annotation_size(t)[1] + 40 for _, t in c.annotations), default=0)


def _label_for_gateway(box: Box, text: str, edges: list[Edge]) -> Box:
    w, h = text_size(text)
    ends = {pt for e in edges for pt in (e.points[0], e.points[-1])}
    if (box.cx, box.bottom) not in ends:
        return Box(box.cx - w // 2, box.bottom + 7, w, h)
    if (box.cx, box.y) not in ends:
        return Box(box.cx - w // 2, box.y - 7 - h, w, h)
    return Box(box.right + 4, box.y - h, w, h)


def flow_label(points: list[tuple[int, int]], text: str) -> Box:
    w, h = text_size(text)
    (x1, y1), (x2, y2) = points[0], points[1]
    if y1 == y2:
        return Box(min(x1, x2) + 8, y1 - h - 4, w, h)
    if y2 > y1:
        return Box(x1 + 6, y1 + 6, w, h)
    return Box(x1 + 6, y1 - h - 6, w, h)


def layout_container(c: Container, x0: int, y0: int, pool: bool) -> Block:
    """Boxes and edges for a container whose nodes have columns, lanes and rows."""
    planner = Planner(c, x0, y0, pool)
    planner.plan_loops()
    planner.place_bands()
    boxes = planner.place_nodes()
    router = Router(planner, boxes)
    edges = []
    for flow in c.flows:
        points = router.loop(flow) if flow.back else router.forward(flow)
        label = flow_label(points, flow.name) if flow.name.strip() else None
        edges.append(Edge(flow.id, points, label))
    shapes = []
    for node in c.nodes.values():
        if node.host is not None:
            continue
        for ident in [node.id] + node.boundaries:
            shapes.append(_node_shape(c.nodes[ident], boxes[ident], edges,
                                      node if ident != node.id else None))
    frame = Box(x0, y0, planner.right - x0, planner.bottom - y0)
    annotations, links = _annotations(c, boxes, frame, router)
    return Block(frame, planner.lane_shapes(), shapes + annotations, edges + links, boxes)


def _node_shape(node: Node, box: Box, edges: list[Edge], host: Node | None = None) -> Shape:
    attrs: dict[str, str] = {}
    name = (node.element.get("name") or "").strip()
    label = None
    if node.kind == "exclusiveGateway":
        attrs["isMarkerVisible"] = "true"
    if node.kind in SUBPROCESSES:
        attrs["isExpanded"] = "false"
    if name and node.kind in GATEWAYS:
        mine = [e for e in edges if e.points[0] in ((box.cx, box.bottom), (box.cx, box.y))
                or e.points[-1] in ((box.cx, box.bottom), (box.cx, box.y))]
        label = _label_for_gateway(box, name, mine)
    elif name and node.host is not None:     # beside the outgoing edge, away from neighbours
        w, h = text_size(name)
        slot = host.boundaries.index(node.id) if host else 0
        label = Box(box.right + 2 if slot == 0 else box.x - 2 - w, box.bottom - 16, w, h)
    elif name and node.kind in EVENTS:
        w, h = text_size(name)
        label = Box(box.cx - w // 2, box.bottom + 7, w, h)
    return Shape(node.id, box, attrs, label)


def _annotations(c: Container, boxes: dict[str, Box], frame: Box, router: Router):
    shapes, edges, placed = [], [], {}
    cursor = frame.x + MARGIN
    for ident, text in c.annotations:
        w, h = annotation_size(text)
        anchor = next((a.target if a.source == ident else a.source for a in c.associations
                       if ident in (a.source, a.target) and
                       (a.target if a.source == ident else a.source) in boxes), None)
        x = max(cursor, boxes[anchor].cx - 10) if anchor else cursor
        box = Box(x, frame.y - 20 - h, w, h)
        cursor = box.right + 10
        placed[ident] = box
        shapes.append(Shape(ident, box))
    for link in c.associations:
        ends = (link.source, link.target)
        if not all(e in boxes or e in placed for e in ends):
            continue
        note = next((e for e in ends if e in placed), None)
        if note is None:
            forward = c.nodes[link.target].col > c.nodes[link.source].col or \
                c.nodes[link.source].host is not None
            flow = link if forward else replace(link, source=link.target, target=link.source)
            points = router.forward(flow)
            edges.append(Edge(link.id, points if forward else points[::-1]))
            continue
        other = ends[1] if note == ends[0] else ends[0]
        a, b = placed[note], boxes.get(other) or placed[other]
        x = a.x + 10
        if a.x + 10 <= b.cx <= a.right - 10:
            points = [(b.cx, a.bottom), (b.cx, b.y)]
        else:
            points = [(x, a.bottom), (x, frame.y - 10), (b.cx, frame.y - 10), (b.cx, b.y)]
        edges.append(Edge(link.id, points if note == link.source else points[::-1]))
    return shapes, edges


def stretch(block: Block, right: int) -> Block:
    """Widen the frame and every lane so that they end at `right` (pools share one width)."""
    lanes = [replace(s, box=replace(s.box, w=right - s.box.x)) for s in block.lanes]
    return replace(block, frame=replace(block.frame, w=right - block.frame.x), lanes=lanes)
