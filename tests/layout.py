"""Geometry of a drawn picture, read back from its SVG: node boxes, edge paths, crossings.

Graphviz writes each node as ``<g class="node"><title>n3</title>...`` and each edge as
``<g class="edge"><title>n3&#45;&gt;n4</title><path d="M...C..."/>``; the numbers are points
(1/72 inch) with y growing downwards, so "above" means a smaller y.

>>> svg = '''<svg width="96pt" height="48pt" xmlns="http://www.w3.org/2000/svg">
... <g class="node"><title>a</title><ellipse cx="10" cy="-20" rx="5" ry="3"/></g>
... <g class="edge"><title>a&#45;&gt;b</title><path d="M0,0C1,1 2,2 3,3"/></g></svg>'''
>>> picture = Picture.from_svg(svg)
>>> picture.size_px, picture.boxes["a"], picture.edges[0][:2]
((128, 64), Box(left=5.0, top=-23.0, right=15.0, bottom=-17.0), ('a', 'b'))
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tapeviz.recording import Recording

SVG = "{http://www.w3.org/2000/svg}"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
PX_PER_PT = 96 / 72
SAMPLES_PER_CURVE = 8

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Picture:
    size_px: tuple[int, int]
    boxes: dict[str, Box]  # node name -> where it is drawn
    edges: list[tuple[str, str, list[Point]]]  # tail, head, the path as a polyline

    @classmethod
    def from_svg(cls, svg: str) -> Picture:
        root = ET.fromstring(svg)
        size = tuple(round(float(root.get(side).removesuffix("pt")) * PX_PER_PT)
                     for side in ("width", "height"))
        boxes: dict[str, Box] = {}
        edges = []
        for group in root.iter(f"{SVG}g"):
            kinds = (group.get("class") or "").split()
            title = group.findtext(f"{SVG}title") or ""
            if "node" in kinds:
                boxes[title] = _box(_points(group))
            elif "edge" in kinds and "->" in title:
                tail, head = title.split("->")
                for path in group.iter(f"{SVG}path"):
                    edges.append((tail.split(":")[0], head.split(":")[0], _polyline(path.get("d"))))
        return cls(size, boxes, edges)  # type: ignore[arg-type]

    def crossings(self) -> int:
        """How many times two edges cross (edges that share a node are not counted)."""
        count = 0
        for (t1, h1, a), (t2, h2, b) in itertools.combinations(self.edges, 2):
            if {t1, h1} & {t2, h2} or not _overlap(_box(a), _box(b)):
                continue
            count += sum(_cross(p, q, r, s) for p, q in itertools.pairwise(a)
                         for r, s in itertools.pairwise(b))
        return count


def _points(group: ET.Element) -> list[Point]:
    points: list[Point] = []
    for shape in group.iter():
        if shape.tag == f"{SVG}ellipse":
            cx, cy, rx, ry = (float(shape.get(k)) for k in ("cx", "cy", "rx", "ry"))
            points += [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        elif shape.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}polyline"):
            numbers = [float(n) for n in NUMBER.findall(shape.get("points") or shape.get("d"))]
            points += list(zip(numbers[::2], numbers[1::2], strict=False))
    return points


def _box(points: list[Point]) -> Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return Box(min(xs), min(ys), max(xs), max(ys))


def _polyline(d: str) -> list[Point]:
    """Graphviz edge paths are ``M p0 C p1 p2 p3 p4 p5 p6 ...``: cubic Béziers, end to end."""
    numbers = [float(n) for n in NUMBER.findall(d)]
    controls = list(zip(numbers[::2], numbers[1::2], strict=False))
    line = [controls[0]]
    for i in range(0, len(controls) - 3, 3):
        p0, p1, p2, p3 = controls[i:i + 4]
        for step in range(1, SAMPLES_PER_CURVE + 1):
            t = step / SAMPLES_PER_CURVE
            line.append(tuple(  # type: ignore[arg-type]
                (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * e
                for a, b, c, e in zip(p0, p1, p2, p3, strict=True)))
    return line


def _overlap(a: Box, b: Box) -> bool:
    return a.left <= b.right and b.left <= a.right and a.top <= b.bottom and b.top <= a.bottom


def _cross(p: Point, q: Point, r: Point, s: Point) -> bool:
    """Whether segments pq and rs properly cross (touching ends do not count)."""
    def side(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    return (side(p, q, r) * side(p, q, s) < 0) and (side(r, s, p) * side(r, s, q) < 0)


def clusters_of(dot: str) -> dict[str, tuple[str, ...]]:
    """Each node of the DOT source and the clusters around it, outermost first.

    >>> clusters_of('digraph {\\n\\ta\\n\\tsubgraph cluster_r1 {\\n\\t\\tb [label=x]\\n\\t}\\n}')
    {'a': (), 'b': ('cluster_r1',)}
    """
    around: list[str] = []
    found: dict[str, tuple[str, ...]] = {}
    for line in dot.splitlines()[1:]:
        line = line.strip()
        if line.startswith("subgraph "):
            around.append(line.split()[1])
        elif line == "}":
            if around:
                around.pop()
        elif re.match(r"n?\w+( \[|$)", line) and not line.startswith(("graph", "node", "edge")):
            found[line.split()[0]] = tuple(around)
    return found


def boxes_in(picture: Picture, around: dict[str, tuple[str, ...]], region: int) -> list[Box]:
    """The boxes of the nodes drawn in the cluster of ``region`` (``cluster_r<region>``), at
    any depth; ``around`` is :func:`clusters_of` the picture's DOT."""
    return [picture.boxes[node] for node, clusters in around.items()
            if f"cluster_r{region}" in clusters and node in picture.boxes]


def passes_right_of_tapes(rec: Recording, dot: str, picture: Picture) -> dict[int, bool]:
    """For each gradient call of ``rec`` whose pass and tape are both drawn: whether every node
    of the pass is drawn right of every node in its tape's cluster."""
    around = clusters_of(dot)
    found = {}
    for call in rec.gradient_calls:
        backward = boxes_in(picture, around, call.id)
        tape = [] if call.tape is None else boxes_in(picture, around, call.tape)
        if backward and tape:
            found[call.id] = min(b.left for b in backward) > max(t.right for t in tape)
    return found
