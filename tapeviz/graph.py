"""Recording -> ``graphviz.Digraph``. All DOT building and all label escaping live here.

Tensors are rounded boxes (variables blue, constants grey, op outputs white), ops are ovals
(forward yellow, backward red). Tapes and ``gradient`` calls are nested clusters. Node ids are
numbered in execution order, so the same cell gives the same DOT on every run.

>>> from tapeviz.graph import escape
>>> escape('<script>alert("x") & more</script>')
'&lt;script&gt;alert(&quot;x&quot;) &amp; more&lt;/script&gt;'
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

import graphviz

from tapeviz import collapse
from tapeviz.options import DEFAULTS, Note, ViewOptions
from tapeviz.recording import (
    ASSIGN_OPS,
    BackwardStep,
    GradientCall,
    Op,
    Recording,
    TapeRecord,
    TensorNode,
    format_value,
)

GRAPH_ATTR = {"newrank": "true", "rankdir": "TB", "fontname": "Helvetica", "fontsize": "11",
              "nodesep": "0.25", "ranksep": "0.3"}
NODE_ATTR = {"fontname": "Helvetica", "fontsize": "10", "margin": "0.05,0.03", "height": "0.3"}
TENSOR_STYLE = {
    "variable": {"shape": "box", "style": "rounded,filled", "fillcolor": "#cfe8fc"},
    "constant": {"shape": "box", "style": "rounded,filled", "fillcolor": "#eeeeee"},
    "op_output": {"shape": "box", "style": "rounded", "color": "#555555"},
}
OP_STYLE = {
    "forward": {"shape": "oval", "style": "filled", "fillcolor": "#fff2cc"},
    "backward": {"shape": "oval", "style": "filled", "fillcolor": "#f8cecc"},
}
TAPE_CLUSTER = {"style": "rounded,dashed", "color": "#1f77b4", "fontcolor": "#1f77b4"}
GRADIENT_CLUSTER = {"style": "rounded,filled", "color": "#d62728", "fillcolor": "#fff7f7",
                    "fontcolor": "#d62728"}
GROUP_STYLE = {
    "forward": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#ffe599"},
    "backward": {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#f4cccc"},
}
LEAVES_PER_ROW = 4
ANCHOR = {"shape": "point", "style": "invis", "width": "0", "height": "0", "label": ""}
STEP_CLUSTER = {"style": "rounded,dotted", "color": "#c0392b", "fontcolor": "#922b21",
                "fontsize": "10"}


def escape(text: str) -> str:
    """Make any string safe inside an HTML-like Graphviz label (and so inside the SVG)."""
    return html.escape(text, quote=True).replace("\n", "<br/>")


def build(rec: Recording, options: ViewOptions = DEFAULTS) -> graphviz.Digraph:
    """Draw ``rec``: ``backward=False`` hides the backward pass, ``values=False`` the numbers.

    By default Keras layers (and the user's own functions) are collapsed into boxes and
    bookkeeping ops are hidden; see :func:`tapeviz.collapse.view` for ``all_ops``, ``depth``,
    ``expand``, ``budget`` and ``max_ops``.
    """
    return build_with_notes(rec, options)[0]


def build_with_notes(rec: Recording, options: ViewOptions = DEFAULTS
                     ) -> tuple[graphviz.Digraph, list[Note]]:
    """:func:`build`, and the notes on what the picture leaves out (their text is drawn in it;
    whoever shows the picture words the options that change them)."""
    shown = collapse.view(rec, options)
    return draw(rec, shown, values=options.values), shown.notes


def draw(rec: Recording, shown: collapse.View, *, values: bool = True,
         ids: NodeIds | None = None) -> graphviz.Digraph:
    """The Digraph of a :class:`~tapeviz.collapse.View`; ``ids`` learns which DOT node is which.

    >>> from tapeviz.recording import TensorNode
    >>> rec = Recording(tensors={"t1": TensorNode(1, "constant", (), "float32")})
    >>> ids = NodeIds()
    >>> print(draw(rec, collapse.View([], {"t1": None}, [], []), ids=ids).source.count("n0 ["))
    1
    >>> ids.keys
    {'n0': 't1'}
    """
    marked_nodes = {key: f.kind for f in rec.diagnostics for key in f.nodes}
    marked_ops = {index: f.kind for f in rec.diagnostics for index in f.ops}
    ids = NodeIds() if ids is None else ids
    placed: dict[int | None, list[str]] = {}  # region id -> node ids drawn in it
    nodes: dict[str, dict[str, str]] = {}
    for box in shown.boxes:
        node_id = ids.of(collapse.box_key(box))
        placed.setdefault(box.region, []).append(node_id)
        if isinstance(box, collapse.Group):
            kinds = [marked_ops[op.index] for op in box.ops if op.index in marked_ops]
            nodes[node_id] = _marked(_group_attrs(box), kinds[0] if kinds else None)
        else:
            nodes[node_id] = _marked(_op_attrs(box), marked_ops.get(box.index))
    for key, region in shown.tensors.items():
        placed.setdefault(region, []).append(ids.of(key))
        nodes[ids.of(key)] = _marked(_tensor_attrs(rec.tensors[key], values),
                                     marked_nodes.get(key))

    children = _children(rec)
    anchors = _backward_anchors(rec, shown, ids, placed, children)
    nodes.update(dict.fromkeys((a for anchor in anchors for a in anchor.nodes), ANCHOR))
    for anchor in anchors:
        nodes.update({node: {**nodes[node], "group": group}
                      for node, group in anchor.groups.items()})
    graph = graphviz.Digraph(name="tapeviz", graph_attr=GRAPH_ATTR, node_attr=NODE_ATTR)
    _add_region(graph, rec, None, placed, nodes, children)
    for tail, head in shown.edges:
        graph.edge(ids.of(tail), ids.of(head))
    for anchor in anchors:
        anchor.draw(graph)
    for tail, head in [*_after_hidden_passes(rec, shown, ids, placed, children),
                       *_stacked_leaves([(ids.of(t), ids.of(h)) for t, h in shown.edges])]:
        graph.edge(tail, head, style="invis")
    if shown.notes:
        graph.attr(label="<" + "<br/>".join(escape(n.text) for n in shown.notes) + ">",
                   labelloc="b", fontcolor="#7f6000")
    return graph


def _stacked_leaves(edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Invisible edges that stack the inputs nothing feeds (variables, constants) of a box
    with more than :data:`LEAVES_PER_ROW` of them in rows, so that a ``tf.function`` call with
    ten captured variables is not one long row of boxes."""
    fed = {head for _, head in edges}
    leaves_of: dict[str, list[str]] = {}
    for tail, head in edges:
        if tail not in fed:
            leaves_of.setdefault(head, []).append(tail)
    stacked: set[str] = set()
    rows = []
    for leaves in leaves_of.values():
        leaves = [leaf for leaf in leaves if leaf not in stacked]
        if len(leaves) > LEAVES_PER_ROW:
            stacked.update(leaves)
            rows += zip(leaves, leaves[LEAVES_PER_ROW:], strict=False)
    return rows


@dataclass(frozen=True)
class _Anchor:
    """Invisible nodes that hold one drawn backward pass right of its tape and below its target.

    ``left -> right`` is a flat edge in the pass's parent region, ``left`` joined to ``side`` (a
    node of the tape's cluster) and ``right`` to ``start`` (in the pass): drawing the pass left
    of the tape would cross those two edges. Each joined pair shares a ``group``, and dot counts
    a crossing of two such edges as a million plain ones, so no layout saves more than it costs.
    (Dot keeps a flat edge's tail left of its head, but not across clusters: the pair cannot
    join ``side`` to ``start`` directly.) ``start`` is on the row of ``target`` (the tensor
    differentiated, where drawn outside the pass), above each node of the pass that no node of
    the pass feeds: the pass begins below it.
    """

    side: str
    target: str | None
    start: str
    left: str
    right: str
    sources: list[str]

    @property
    def nodes(self) -> tuple[str, str, str]:
        return self.start, self.left, self.right

    @property
    def groups(self) -> dict[str, str]:
        """Node id -> its dot ``group``."""
        return {self.side: f"{self.side}_side", self.left: f"{self.side}_side",
                self.right: self.start, self.start: self.start}

    def draw(self, graph: graphviz.Digraph) -> None:
        rows = [(self.target, self.start)] if self.target else []
        for tail, head in [*rows, (self.left, self.right)]:
            with graph.subgraph() as row:
                row.attr(rank="same")
                row.edge(tail, head, style="invis")
        for tail, head in [(self.left, self.side), (self.right, self.start),
                           *((self.start, source) for source in self.sources)]:
            graph.edge(tail, head, style="invis")


def _backward_anchors(rec: Recording, shown: collapse.View, ids: NodeIds,
                      placed: dict[int | None, list[str]],
                      children: dict[int | None, list[int]]) -> list[_Anchor]:
    """An :class:`_Anchor` for each drawn ``gradient`` call with a drawn tape or target; its
    nodes are added to ``placed`` (the flat pair first in its region, where dot starts
    ordering)."""
    edges = [(ids.of(tail), ids.of(head)) for tail, head in shown.edges]
    drawn = {call.id: (_inside(call.id, placed, children),
                       [] if call.tape is None else _inside(call.tape, placed, children))
             for call in rec.gradient_calls}
    anchors = []
    for call in rec.gradient_calls:
        inside, tape = drawn[call.id]
        target = call.target and _drawn_as(call.target, shown)
        target_id = None if target is None or ids.of(target) in inside else ids.of(target)
        side = _side(call, target_id, tape, shown, ids)
        if side is None or not inside:
            continue
        fed = {head for tail, head in edges if tail in inside}
        name = f"backward{call.id}"
        anchor = _Anchor(side=side, target=target_id, start=f"{name}_start",
                         left=f"{name}_left", right=f"{name}_right",
                         sources=[n for n in inside if n not in fed])
        placed.setdefault(call.id, []).append(anchor.start)
        placed[call.parent] = [anchor.left, anchor.right, *placed.get(call.parent, [])]
        anchors.append(anchor)
    return anchors


def _side(call: GradientCall, target: str | None, tape: list[str], shown: collapse.View,
          ids: NodeIds) -> str | None:
    """The node of the tape's cluster that ``call``'s pass is held right of: its target, else
    the nearest drawn tensor the target was computed from, else the tape's last drawn node
    (the target may be hidden, or drawn in the pass itself); the target without a tape."""
    if not tape or target in tape:
        return target
    seen: set[int] = set()
    todo = [call.target] if call.target is not None else []
    while todo:
        node = todo.pop(0)
        if node.id in seen:
            continue
        seen.add(node.id)
        drawn = _drawn_as(node, shown)
        if drawn is not None and ids.of(drawn) in tape:
            return ids.of(drawn)
        todo += node.producer.inputs if node.producer is not None else []
    return tape[-1]


def _after_hidden_passes(rec: Recording, shown: collapse.View, ids: NodeIds,
                         placed: dict[int | None, list[str]],
                         children: dict[int | None, list[int]]) -> list[tuple[str, str]]:
    """Invisible edges from the target of each ``gradient`` call whose pass is not drawn
    (``backward=False``) to its results that are, so that what used them (the optimizer's
    update) is drawn below the tape that ran first, not above it."""
    edges = []
    for call in rec.gradient_calls:
        target = call.target and _drawn_as(call.target, shown)
        if target is None or _inside(call.id, placed, children):
            continue
        edges += [(ids.of(target), ids.of(result.key)) for result in call.results
                  if result is not None and result.key in shown.tensors]
    return edges


def _inside(region: int, placed: dict[int | None, list[str]],
            children: dict[int | None, list[int]]) -> list[str]:
    """The node ids drawn in ``region`` and in the regions inside it."""
    return [*placed.get(region, []),
            *(node for child in children.get(region, []) for node in _inside(child, placed,
                                                                              children))]


def _drawn_as(node: TensorNode, shown: collapse.View) -> str | None:
    """The key ``node`` is drawn as: itself, or the box that hides the op that made it."""
    if node.key in shown.tensors:
        return node.key
    for box in shown.boxes:
        if isinstance(box, collapse.Group) and node.producer in box.ops:
            return box.key
    return None


def _add_region(graph: graphviz.Digraph, rec: Recording, region: int | None,
                placed: dict[int | None, list[str]], nodes: dict[str, dict[str, str]],
                children: dict[int | None, list[int]]) -> None:
    for node_id in placed.get(region, []):
        graph.node(node_id, **nodes[node_id])
    for child in children.get(region, []):
        if not _has_content(child, placed, children):
            continue
        with graph.subgraph(name=f"cluster_r{child}") as sub:
            sub.attr(**_cluster_attrs(rec, child))
            _add_region(sub, rec, child, placed, nodes, children)


def _children(rec: Recording) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = {}
    for region in sorted([*rec.tapes, *rec.gradient_calls, *rec.backward_steps],
                         key=lambda r: r.id):
        children.setdefault(region.parent, []).append(region.id)
    return children


def _has_content(region: int, placed: dict[int | None, list[str]],
                 children: dict[int | None, list[int]]) -> bool:
    return bool(placed.get(region)) or any(
        _has_content(c, placed, children) for c in children.get(region, []))


def _cluster_attrs(rec: Recording, region_id: int) -> dict[str, str]:
    region: TapeRecord | GradientCall | BackwardStep = rec.region(region_id)
    title = escape(rec.region_title(region_id))
    if isinstance(region, TapeRecord):
        kind = "persistent GradientTape" if region.persistent else "GradientTape"
        return {**TAPE_CLUSTER, "label": f"<<b>{kind} {title}</b>>"}
    if isinstance(region, BackwardStep):
        return {**STEP_CLUSTER, "label": f"<{title}>"}
    return {**GRADIENT_CLUSTER, "label": f"<<b>backward: {title}</b>>"}


def _group_attrs(group: collapse.Group) -> dict[str, str]:
    attrs = dict(GROUP_STYLE[group.phase])
    rows = [f"<b>{escape(group.title)}</b>"]
    ins = ", ".join(n.shape_text for n in group.inputs[:3])
    outs = ", ".join(n.shape_text for n in group.outputs[:3])
    if ins or outs:
        flow = f"in {ins or '-'} -> out {outs or '-'}"
        rows.append(f'<font point-size="8">{escape(flow)}</font>')
    if group.variables:
        names = ", ".join(f"{_short(v)} {v.shape_text}" for v in _unique(group.variables))
        rows.append(f'<font point-size="8">{escape(names)}</font>')
    rows.append(f'<font point-size="8">{len(group.ops)} ops</font>')
    attrs["label"] = _table(rows)
    return attrs


def _short(node: TensorNode) -> str:
    name = node.title or "variable"
    return name.rsplit("/", 1)[-1]


def _unique(nodes: list[TensorNode]) -> list[TensorNode]:
    return list({n.id: n for n in nodes}.values())


def _op_attrs(op: Op) -> dict[str, str]:
    attrs = dict(OP_STYLE[op.phase])
    attrs["label"] = f"<<b>{escape(op.label)}</b>>"
    if op.function:
        attrs.update(shape="component", tooltip=escape(f"tf.function {op.function}"))
    return attrs


def _tensor_attrs(node: TensorNode, values: bool) -> dict[str, str]:
    attrs = dict(TENSOR_STYLE[node.kind])
    rows = []
    title = _variable_title(node) if node.is_variable else node.title
    if title:
        rows.append(f"<b>{escape(title)}</b>")
    rows.append(f'<font point-size="8">{escape(node.dtype)} {escape(node.shape_text)}</font>')
    if values and node.value is not None:
        rows.append(escape(format_value(node.value)))
    if values and node.grad is not None:
        rows.append(f'<font color="#c0392b">grad {escape(format_value(node.grad))}</font>')
    attrs["label"] = _table(rows)
    return attrs


def _marked(attrs: dict[str, str], kind: str | None) -> dict[str, str]:
    """Where a diagnosis says the gradient path breaks: a thick red outline and the kind."""
    if kind is None:
        return attrs
    label = attrs["label"]
    warning = f'<font color="#c0392b"><b>&#9888; {escape(kind)}</b></font>'
    if label.startswith("<<table"):
        label = label.replace("</table>>", f"<tr><td>{warning}</td></tr></table>>")
    else:
        label = f"<{label[1:-1]}<br/>{warning}>"
    return {**attrs, "label": label, "color": "#c0392b", "penwidth": "3"}


def _variable_title(node: TensorNode) -> str:
    """``W``, ``W (created)``, ``W (initial value)`` or ``W (after assign_sub)``."""
    name = node.title or "variable"
    op = node.producer
    if op is None:
        return name
    if op.type == "VarHandleOp":
        return f"{name} (created)"
    previous = op.inputs[0].producer
    if previous is not None and previous.type == "VarHandleOp":
        return f"{name} (initial value)"
    return f"{name} (after {ASSIGN_OPS.get(op.type, op.type)})"


def _table(rows: Iterable[str]) -> str:
    cells = "".join(f"<tr><td>{row}</td></tr>" for row in rows)
    return f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="0">{cells}</table>>'


class NodeIds:
    """Stable DOT ids (n0, n1, ...) in order of first use: never TensorFlow's global ids."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def of(self, key: str) -> str:
        """The DOT id of a box key (``op3``, ``g7``) or tensor key (``t12``, ``v4.1``)."""
        return self._ids.setdefault(key, f"n{len(self._ids)}")

    @property
    def keys(self) -> dict[str, str]:
        """DOT id -> the key it stands for (Graphviz writes the id as each node's title)."""
        return {node_id: key for key, node_id in self._ids.items()}
