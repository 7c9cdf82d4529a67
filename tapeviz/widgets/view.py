"""``GraphView``: the drawing of a recording to explore: pan, zoom, open boxes, details, replay.

The SVG is the one the static pipeline draws (:mod:`tapeviz.collapse`, :mod:`tapeviz.graph`,
:mod:`tapeviz.render`); the browser side (``view.js``, ``view.css``, shipped in the package,
no CDN) finds each node by the DOT id Graphviz writes as its ``<title>`` and gets from here
what each one is: :attr:`GraphView.nodes` (kind, searchable text, the box it opens or closes),
:attr:`GraphView.details` (per tensor: value, gradient, producer) and
:attr:`GraphView.steps` (the backward replay, one step per link of the chain rule).

Displayed, a view is two outputs: first the static SVG (what a notebook read without a kernel
shows: GitHub, nbviewer, a reopened notebook), then the widget, which hides that twin while it
is live. JupyterLab and Notebook 7 prefer a widget view to an SVG in one output even when its
model is gone ("Error displaying widget: model not found"), so one bundle with both would lose
the picture on reopening.

>>> from tapeviz.recording import Recording
>>> view(Recording()).nodes
{}
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable
from typing import Any

import anywidget
import numpy as np
import traitlets

from tapeviz import collapse, graph
from tapeviz.options import ViewOptions, chosen
from tapeviz.pipeline import show
from tapeviz.recording import Op, Recording, TensorNode, format_number, format_value
from tapeviz.render import Drawing
from tapeviz.replay import ReplayStep, replay_steps
from tapeviz.summaries import INLINE, Summary

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
VIEW_TEXT = "tapeviz interactive view (run the cell to explore it; the picture is above)"
BINS = 12  # bars of a tensor's histogram


def _asset(name: str) -> str:
    return importlib.resources.files("tapeviz.widgets").joinpath(name).read_text("utf-8")


def _draw(rec: Recording, options: ViewOptions) -> tuple[collapse.View, str, graph.NodeIds]:
    """The view to draw, its DOT source, and which DOT id is which box or tensor."""
    shown = collapse.view(rec, options)
    ids = graph.NodeIds()
    return shown, graph.draw(rec, shown, values=options.values, ids=ids).source, ids


class GraphView(anywidget.AnyWidget):
    """A recording's graph to explore in a notebook.

    Drag to pan, wheel to zoom, "Fit" to see the whole width. Click a box (a Keras layer, a
    function of yours, "gradient of dense") to open it in place; click one of its ops to close
    it again. Hover a tensor for its value, gradient and the op that made it. Search names.
    "Replay backward" walks through the chain rule step by step.
    """

    _esm = _asset("view.js")
    _css = _asset("view.css")

    svg = traitlets.Unicode("").tag(sync=True)
    nodes = traitlets.Dict().tag(sync=True)    # DOT id -> kind, text, toggles
    details = traitlets.Dict().tag(sync=True)  # DOT id -> what the details panel shows
    steps = traitlets.List().tag(sync=True)    # the backward replay, DOT ids to highlight
    step = traitlets.Int(-1).tag(sync=True)    # the replay step shown; -1: none
    replay = traitlets.Bool(False).tag(sync=True)  # the replay controls are open
    opened = traitlets.List().tag(sync=True)   # names of the boxes opened in place
    busy = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, rec: Recording, options: ViewOptions | None = None,
                 **changes: Any) -> None:
        options = chosen(options, changes)
        super().__init__()
        self.rec = rec
        self.options = options
        self._replay = replay_steps(rec)  # the same steps whatever is opened
        # the first picture, with its notes: what a reader without a kernel sees
        self.drawing = self._redraw(list(options.expand))
        self.static_svg = self.svg
        self.replay = options.replay
        self.step = 0 if options.replay and self.steps else -1
        self.on_msg(self._on_message)

    def toggle(self, name: str) -> None:
        """Open the box called ``name`` in place, or close it if it is open."""
        opened = [n for n in self.opened if n != name]
        if len(opened) == len(self.opened):
            opened.append(name)
        self._redraw(opened)

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("type") == "toggle" and isinstance(content.get("name"), str):
            self.busy = True
            try:
                self.toggle(content["name"])
            except Exception as error:  # a failed redraw keeps the last picture, and says why
                self.error = f"tapeviz could not redraw: {error}"
            finally:
                self.busy = False

    def _redraw(self, opened: list[str]) -> Drawing:
        shown, dot, ids = _draw(self.rec, self.options.replace(expand=opened))
        drawing = Drawing(dot, self.rec.summary(), notes=shown.notes)
        svg = drawing.svg()  # the one way tapeviz renders a picture it shows
        boxes = _box_ids(shown, ids)
        tensor_ids = {key: node_id for node_id, key in ids.keys.items()}
        with self.hold_sync():
            self.nodes = _nodes(self.rec, shown, ids, opened)
            self.details = {node_id: tensor_details(self.rec.tensors[key], self.rec)
                            for node_id, key in ids.keys.items() if key in self.rec.tensors}
            self.steps = [_step_payload(step, boxes, tensor_ids) for step in self._replay]
            self.opened = opened
            self.error = ""
            self.svg = svg
        return drawing

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display({"image/svg+xml": self.static_svg, "text/plain": self.drawing.text}, raw=True)
        display({WIDGET_MIME: {"version_major": 2, "version_minor": 0,
                               "model_id": self.model_id},
                 "text/plain": VIEW_TEXT}, raw=True)


def view(rec: Recording, options: ViewOptions | None = None,
         **changes: Any) -> GraphView | Drawing:
    """The interactive view of ``rec``; with ``static=True`` only the picture (a Drawing).

    ``changes`` are :class:`~tapeviz.options.ViewOptions` fields, as for ``tapeviz.show``.
    """
    options = chosen(options, changes)
    return show(rec, options) if options.static else GraphView(rec, options)


# -- what the browser side is told -----------------------------------------------------------

def _nodes(rec: Recording, shown: collapse.View, ids: graph.NodeIds,
           opened: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per DOT id: its kind, the text search looks in, and the box a click opens or closes."""
    opened = list(opened)
    nodes: dict[str, dict[str, Any]] = {}
    for box in shown.boxes:
        node_id = ids.of(collapse.box_key(box))
        if isinstance(box, collapse.Group):
            scope = _scope_name(rec, box)
            nodes[node_id] = {"kind": "group", "text": box.title, "opens": scope}
        else:
            nodes[node_id] = {"kind": "op", "text": box.label, "closes": _closes(rec, box, opened)}
    for key in shown.tensors:
        node = rec.tensors[key]
        nodes[ids.of(key)] = {"kind": "tensor", "text": node.title or ""}
    return nodes


def _scope_name(rec: Recording, group: collapse.Group) -> str | None:
    """The name ``expand`` opens a box by; None for boxes that are no scope (tf.data, ...)."""
    if not group.path or not all(isinstance(part, int) for part in group.path):
        return None
    return rec.scopes[group.path[-1]].name


def _closes(rec: Recording, op: Op, opened: list[str]) -> str | None:
    """The innermost opened box this op was drawn out of (a click on it closes that box)."""
    return next((name for name in reversed(_calls(rec, op)) if name in opened), None)


def _box_ids(shown: collapse.View, ids: graph.NodeIds) -> dict[int, str]:
    """Op index -> the DOT id of the box it is drawn in (its own, or its group's)."""
    boxes: dict[int, str] = {}
    for box in shown.boxes:
        node_id = ids.of(collapse.box_key(box))
        for op in box.ops if isinstance(box, collapse.Group) else [box]:
            boxes[op.index] = node_id
    return boxes


def _step_payload(step: ReplayStep, boxes: dict[int, str],
                  tensor_ids: dict[str, str]) -> dict[str, Any]:
    """What one replay step lights up, as DOT ids (parts not drawn are left out), and its
    caption. ``boxes``: op index -> DOT id; ``tensor_ids``: tensor key -> DOT id."""

    def tensors(keys: Iterable[str]) -> list[str]:
        return [tensor_ids[key] for key in keys if key in tensor_ids]

    def ops(indices: Iterable[int]) -> list[str]:
        return list(dict.fromkeys(boxes[i] for i in indices if i in boxes))

    return {"index": step.index, "caption": step.caption, "op": ops([step.op]),
            "upstream": tensors(step.upstream), "local": ops(step.local_ops),
            "downstream": tensors(step.downstream), "accumulated": tensors(step.accumulated)}


def tensor_details(node: TensorNode, rec: Recording) -> dict[str, Any]:
    """What the details panel shows for one tensor: rows of text, and its value's histogram.

    >>> node = TensorNode(1, "constant", (3,), "float32",
    ...                   value=np.array([1.0, 2.0, 2.5], dtype=np.float32))
    >>> tensor_details(node, Recording())["rows"]
    [['shape', '(3)'], ['dtype', 'float32'], ['value', '[1.0 2.0 2.5]'], \
['made by', 'a constant (a leaf of the graph)']]
    """
    rows = [["shape", node.shape_text], ["dtype", node.dtype]]
    rows += [[label, _full(value)] for label, value in (("value", node.value),
                                                        ("gradient", node.grad))
             if value is not None]
    producer = node.producer
    if producer is not None:
        rows.append(["made by", f"{producer.label} ({producer.phase} pass)"])
        calls = _calls(rec, producer)
        if calls:
            rows.append(["inside", " \N{RIGHTWARDS ARROW} ".join(calls)])
        if producer.line is not None:
            code = f": {producer.code}" if producer.code else ""
            rows.append(["code", f"line {producer.line}{code}"])
    elif node.kind != "op_output":
        rows.append(["made by", f"a {node.kind} (a leaf of the graph)"])
    if node.variable_name:
        rows.append(["variable", node.variable_name])
    return {"title": node.title or f"tensor {node.shape_text}", "kind": node.kind, "rows": rows,
            "value": _histogram(node.value), "gradient": _histogram(node.grad)}


def _calls(rec: Recording, op: Op) -> list[str]:
    """The layer and function calls an op ran in, outermost first (a backward op: those of the
    forward op it differentiates)."""
    source = rec.ops[op.differentiates] if op.differentiates is not None else op
    return [rec.scopes[scope].name for scope in source.scope]


def _full(value: np.ndarray | Summary) -> str:
    """Small values in full (every element: the panel has room); a big one as its summary."""
    if isinstance(value, Summary) or value.size <= INLINE:
        return format_value(value)
    text = np.array2string(value, separator=" ", threshold=value.size + 1,
                           formatter={"float_kind": format_number})
    return " ".join(text.split())


def _histogram(value: np.ndarray | Summary | None) -> dict[str, Any] | None:
    """Bar heights of a float value's histogram, or a summary's min, mean and max."""
    if isinstance(value, Summary):
        return {"min": value.min, "mean": value.mean, "max": value.max, "counts": []}
    if value is None or value.dtype.kind != "f" or value.size <= INLINE:
        return None
    finite = value[np.isfinite(value)].ravel()
    if not finite.size:
        return None
    counts, _ = np.histogram(finite, bins=BINS)
    return {"min": float(finite.min()), "mean": float(finite.mean()),
            "max": float(finite.max()), "counts": counts.tolist()}
