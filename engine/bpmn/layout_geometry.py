"""Coordinates for the automatic diagram layout (`engine.bpmn.layout`).

One container (process or sub-process) whose nodes already have a column, a lane band and a row
(`layout_graph`) becomes boxes and orthogonal waypoints, all integers (`layout_shapes` adds the
labels). Lane bands stack top to bottom; each grows to fit its rows and its loops' channels.
Edges pick, among a few human-looking routes, the one crossing the fewest shapes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .layout_graph import GATEWAYS, Container, Flow, Lane, Node, all_lanes

ROW = 150          # one row of nodes inside a lane band
PAD = 15           # above the first and below the last row of a band
CHANNEL = 12       # spacing of the loop channels above / below a band's rows
MIN_LANE = 180
COL = 100          # minimum column width
GAP = 70           # between columns: column pitch 170 for tasks
MARGIN = 50        # between the name bands and the first column, and after the last column
BAND = 30          # pool and lane name bands
STUB = 16          # how far an edge drops below a boundary event before it turns


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2

    def crossed_by(self, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Does the axis-parallel segment a-b pass through the inside of this box?"""
        (x1, y1), (x2, y2) = a, b
        return (min(x1, x2) < self.right - 1 and max(x1, x2) > self.x + 1
                and min(y1, y2) < self.bottom - 1 and max(y1, y2) > self.y + 1)


@dataclass
class Shape:
    element: str
    box: Box
    attrs: dict[str, str] = field(default_factory=dict)
    label: Box | None = None


@dataclass
class Edge:
    element: str
    points: list[tuple[int, int]]
    label: Box | None = None


@dataclass
class Block:
    """A laid-out container: the frame (pool or content area), lanes, nodes and edges."""
    frame: Box
    lanes: list[Shape]
    shapes: list[Shape]
    edges: list[Edge]
    boxes: dict[str, Box]


class Planner:
    """Column positions, lane band heights, loop channels and node boxes of one container."""

    def __init__(self, c: Container, x0: int, y0: int, pool: bool):
        self.c, self.pool = c, pool
        self.draw_lanes = pool and bool(c.leaves)
        self.bands = max(len(c.leaves), 1)
        depth = max((lane.depth + 1 for lane in c.leaves), default=0) if self.draw_lanes else 0
        self.x0, self.y0 = x0, y0
        left = x0 + (BAND if pool else 0) + BAND * depth + MARGIN
        placed = [n for n in c.nodes.values() if n.host is None]
        cols = max((n.col for n in placed), default=0) + 1
        self.widths = [COL] * cols
        for node in placed:
            self.widths[node.col] = max(self.widths[node.col], node.size[0] + node.size[0] % 2)
        self.lefts = []
        for width in self.widths:
            self.lefts.append(left)
            left += width + GAP
        self.right = left - GAP + MARGIN
        self.rows: dict[tuple[int, int], set[int]] = {}
        for node in placed:
            self.rows.setdefault((node.lane, node.col), set()).add(node.row)

    def degrees(self) -> tuple[dict[str, int], dict[str, int]]:
        ins: dict[str, int] = {}
        outs: dict[str, int] = {}
        for flow in self.c.flows:
            outs[flow.source] = outs.get(flow.source, 0) + 1
            ins[flow.target] = ins.get(flow.target, 0) + 1
        return ins, outs

    def free(self, node: Node, below: bool) -> bool:
        """Nothing under (above) the node in its column, and no gateway edge on that side."""
        rows = self.rows.get((node.lane, node.col), set())
        if any((r > node.row) if below else (r < node.row) for r in rows):
            return False
        if node.kind not in GATEWAYS:
            return True
        c, here = self.c, (node.lane, node.row)
        for flow in c.flows:
            if flow.back or node.id not in (flow.source, flow.target):
                continue
            other = c.nodes[c.owner(flow.target if flow.source == node.id else flow.source)]
            if ((other.lane, other.row) > here) if below else ((other.lane, other.row) < here):
                return False
        return True

    def plan_loops(self) -> None:
        """Which side (above/below the rows of the source's band) each back edge runs on."""
        c = self.c
        self.loops: dict[str, tuple[str, str, str, int]] = {}
        self.channels: dict[tuple[int, str], int] = {}
        for flow in c.flows:
            if not flow.back:
                continue
            src, owner, dst = c.nodes[flow.source], c.nodes[c.owner(flow.source)], c.nodes[flow.target]
            if owner.lane == dst.lane:
                below = (self.free(owner, True) and self.free(dst, True)
                         and len(dst.boundaries) < 2
                         and (src.host is not None or len(owner.boundaries) < 2))
                above = src.host is None and self.free(owner, False) and self.free(dst, False)
                side = "below" if below or not above else "above"
                exit_side, entry = side, side
            elif src.host is not None:
                side, exit_side = "below", "below"
                entry = "below" if dst.lane < owner.lane else "above"
            else:
                side = "above" if dst.lane < owner.lane else "below"
                exit_side, entry = side, ("below" if side == "above" else "above")
            index = self.channels.get((owner.lane, side), 0)
            self.channels[(owner.lane, side)] = index + 1
            self.loops[flow.id] = (side, exit_side, entry, index)

    def place_bands(self) -> None:
        self.band_y, self.band_h, self.rows_top, self.nrows = [], [], [], []
        y = self.y0
        for lane in range(self.bands):
            rows = max((max(r) for (ln, _), r in self.rows.items() if ln == lane), default=0) + 1
            top = PAD + CHANNEL * self.channels.get((lane, "above"), 0)
            bottom = PAD + CHANNEL * self.channels.get((lane, "below"), 0)
            height = top + ROW * rows + bottom
            if height < MIN_LANE:
                top += (MIN_LANE - height) // 2
                height = MIN_LANE
            self.band_y.append(y)
            self.band_h.append(height)
            self.rows_top.append(y + top)
            self.nrows.append(rows)
            y += height
        self.bottom = y

    def place_nodes(self) -> dict[str, Box]:
        boxes: dict[str, Box] = {}
        for node in self.c.nodes.values():
            if node.host is None:
                w, h = node.size
                cx = self.lefts[node.col] + self.widths[node.col] // 2
                cy = self.rows_top[node.lane] + ROW * node.row + ROW // 2
                boxes[node.id] = Box(cx - w // 2, cy - h // 2, w, h)
        for node in self.c.nodes.values():
            if node.boundaries:       # the one leading highest up sits rightmost: no crossings
                node.boundaries.sort(key=lambda b: self._reach(b, boxes))
                for slot, ident in enumerate(node.boundaries):
                    cx = boxes[node.id].right - 20 - 40 * slot
                    boxes[ident] = Box(cx - 18, boxes[node.id].bottom - 18, 36, 36)
        return boxes

    def _reach(self, boundary: str, boxes: dict[str, Box]) -> tuple[int, int, int, int]:
        """Sort key of a boundary event: loops back go leftmost, then lower targets further left."""
        leaving = [f for f in self.c.flows if f.source == boundary and f.target in boxes]
        back = any(f.back for f in leaving)
        lowest = min((boxes[f.target].cy for f in leaving), default=1 << 30)
        furthest = max((boxes[f.target].x for f in leaving), default=0)
        return int(back), lowest, -furthest, self.c.nodes[boundary].order

    def channel_y(self, lane: int, side: str, index: int) -> int:
        if side == "above":
            return self.rows_top[lane] - CHANNEL // 2 - CHANNEL * index
        return self.rows_top[lane] + ROW * self.nrows[lane] + CHANNEL // 2 + CHANNEL * index

    def lane_shapes(self) -> list[Shape]:
        if not self.draw_lanes:
            return []
        index = {id(lane): i for i, lane in enumerate(self.c.leaves)}

        def extent(lane: Lane) -> tuple[int, int]:
            if not lane.children:
                i = index[id(lane)]
                return self.band_y[i], self.band_y[i] + self.band_h[i]
            spans = [extent(child) for child in lane.children]
            return spans[0][0], spans[-1][1]

        shapes = []
        for lane in all_lanes(self.c):
            top, bottom = extent(lane)
            x = self.x0 + BAND + BAND * lane.depth
            shapes.append(Shape(lane.id, Box(x, top, self.right - x, bottom - top),
                                {"isHorizontal": "true"}))
        return shapes


def _bends(points) -> int:
    return max(len(points) - 2, 0)


def _clean(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for p in points:
        if out and out[-1] == p:
            continue
        if len(out) >= 2 and (out[-2][0] == out[-1][0] == p[0] or out[-2][1] == out[-1][1] == p[1]):
            out[-1] = p
            continue
        out.append(p)
    return out


class Router:
    """Orthogonal waypoints for sequence flows: forward edges left to right, loops in channels."""
    CELL = 200         # obstacle index: boxes by the grid cells they touch

    def __init__(self, planner: Planner, boxes: dict[str, Box]):
        self.p, self.boxes = planner, boxes
        self.ins, self.outs = planner.degrees()
        self.cells: dict[tuple[int, int], list[str]] = {}
        for key, box in boxes.items():
            for cell in self._cells((box.x, box.y), (box.right, box.bottom)):
                self.cells.setdefault(cell, []).append(key)

    def splits(self, node: Node) -> bool:
        """A gateway that only splits may leave through its top or bottom corner."""
        return node.kind in GATEWAYS and self.ins.get(node.id, 0) <= 1

    def merges(self, node: Node) -> bool:
        """A gateway that only merges may be entered through its top or bottom corner."""
        return node.kind in GATEWAYS and self.outs.get(node.id, 0) <= 1

    def _cells(self, a, b):
        size = self.CELL
        for gx in range(min(a[0], b[0]) // size, max(a[0], b[0]) // size + 1):
            for gy in range(min(a[1], b[1]) // size, max(a[1], b[1]) // size + 1):
                yield gx, gy

    def hits(self, a, b, skip: set[str]) -> int:
        near = {k for cell in self._cells(a, b) for k in self.cells.get(cell, ())}
        return sum(1 for k in near - skip if self.boxes[k].crossed_by(a, b))

    def best(self, candidates, skip: set[str]):
        def score(item):
            index, points = item
            return sum(self.hits(a, b, skip) for a, b in zip(points, points[1:])), \
                _bends(points), index
        candidates = [_clean(c) for c in candidates]
        return min(enumerate(candidates), key=score)[1]

    def forward(self, flow: Flow) -> list[tuple[int, int]]:
        c, p = self.p.c, self.p
        src, dst = c.nodes[flow.source], c.nodes[flow.target]
        s, t = self.boxes[src.id], self.boxes[dst.id]
        skip = {src.id, dst.id, src.host or ""}
        after_s = p.lefts[src.col] + p.widths[src.col] + GAP // 2
        before_t = p.lefts[dst.col] - GAP // 2 if dst.host is None else t.x - GAP // 2
        entry = (t.x, t.cy)
        cands = []
        if src.host is not None:                        # boundary event: leave downwards
            start, drop = (s.cx, s.bottom), s.bottom + STUB
            if t.cy > s.bottom:
                cands.append([start, (s.cx, t.cy), entry])
            if t.bottom < drop:
                cands.append([start, (s.cx, drop), (t.cx, drop), (t.cx, t.bottom)])
            cands.append([start, (s.cx, drop), (before_t, drop), (before_t, t.cy), entry])
            return self.best(cands, skip)
        out = (s.right, s.cy)
        if s.cy == t.cy:
            cands.append([out, entry])
        else:
            if self.splits(src):
                cands.append([(s.cx, s.bottom if t.cy > s.cy else s.y), (s.cx, t.cy), entry])
            if self.merges(dst):
                cands.append([out, (t.cx, s.cy), (t.cx, t.y if s.cy < t.cy else t.bottom)])
            cands.append([out, (before_t, s.cy), (before_t, t.cy), entry])
            cands.append([out, (after_s, s.cy), (after_s, t.cy), entry])
        for sign in (1, -1):                            # around a row that is in the way
            lane_y = s.cy + sign * (ROW // 2 + 7)    # between rows, below boundary edges
            head = ([(s.cx, s.bottom if sign > 0 else s.y), (s.cx, lane_y)] if self.splits(src)
                    else [out, (after_s, s.cy), (after_s, lane_y)])
            if self.merges(dst):
                tail = [(t.cx, lane_y), (t.cx, t.bottom if lane_y > t.cy else t.y)]
            else:
                tail = [(before_t, lane_y), (before_t, t.cy), entry]
            cands.append(head + tail)
        return self.best(cands, skip)

    def loop(self, flow: Flow) -> list[tuple[int, int]]:
        c, p = self.p.c, self.p
        side, exit_side, entry_side, index = p.loops[flow.id]
        src, dst = c.nodes[flow.source], c.nodes[flow.target]
        s, t = self.boxes[src.id], self.boxes[dst.id]
        owner = c.nodes[c.owner(src.id)]
        y = p.channel_y(owner.lane, side, index)
        sx, tx = s.cx, t.cx
        if c.owner(src.id) == dst.id and src.host is None:     # a node looping to itself
            shift = min(20, s.w // 4)
            sx, tx = s.cx + shift, s.cx - shift
        if src.host is not None and src.host == dst.id:       # boundary event back to its host
            x, drop = t.x - GAP // 2, s.bottom + STUB
            return [(s.cx, s.bottom), (s.cx, drop), (x, drop), (x, t.cy), (t.x, t.cy)]
        if src.host is not None:
            start = (sx, s.bottom)
        else:
            start = (sx, s.bottom if exit_side == "below" else s.y)
        end = (tx, t.bottom if entry_side == "below" else t.y)
        return _clean([start, (sx, y), (tx, y), end])
