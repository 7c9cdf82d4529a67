"""What to draw: a :class:`View` of a recording, collapsed to fit on a screen.

- Ops run inside one call of a Keras layer (or of a Python function of the user's, such as the
  book's ``NaiveDense.__call__``) become one :class:`Group` box named after it, showing the
  shapes flowing in and out and the variables it read; the backward ops that differentiate
  them become one "gradient of <layer>" box.
- Bookkeeping ops a learner does not need (``Shape``, ``BroadcastGradientArgs``, reshapes of
  gradients, ...) are hidden; a float tensor passing through a hidden op is connected straight
  to where it goes, so hiding never breaks an edge.
- Beyond a node budget the view collapses further (fewer scope levels), and says so.

The :class:`~tapeviz.options.ViewOptions` say how: ``all_ops=True`` draws every op,
``depth=N`` keeps N levels of nested scopes, ``expand=(NAME,)`` opens the scope called NAME.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tapeviz.options import DEFAULTS, Note, ViewOptions
from tapeviz.recording import Op, Recording, TensorNode

# ops that only shuffle shapes and bookkeeping around: hidden unless all_ops
BOOKKEEPING = frozenset({
    "Shape", "ShapeN", "Size", "Rank", "BroadcastGradientArgs", "BroadcastArgs",
    "VarIsInitializedOp", "DestroyResourceOp", "VarHandleOp", "Identity", "IdentityN",
    "StopGradient", "Const", "ZerosLike", "OnesLike", "Fill", "Range", "Prod", "Maximum",
    "FloorDiv", "Pack", "StridedSlice", "Reshape", "ExpandDims", "Squeeze", "Cast",
    "ConcatV2", "TensorListReserve", "DynamicStitch",
})
# tf.data: datasets ("MapDataset", "ParallelMapDatasetV2") and the iterators that read them
DATASET_SUFFIXES = ("Dataset", "DatasetV2", "DatasetV3")
ITERATOR_OPS = frozenset({"AnonymousIteratorV2", "AnonymousIteratorV3", "MakeIterator",
                          "IteratorGetNext", "IteratorGetNextAsOptional", "OptionalHasValue",
                          "OptionalGetValue", "OptionalNone", "DeleteIterator",
                          "DatasetCardinality"})
# of those, ops that are bookkeeping only in the backward pass (forward they mean something)
BACKWARD_ONLY = frozenset({"Reshape", "ExpandDims", "Squeeze", "Cast", "Maximum", "FloorDiv",
                           "Fill", "ZerosLike", "OnesLike", "Range", "Prod", "ConcatV2",
                           "StridedSlice", "Pack", "DynamicStitch"})


@dataclass(eq=False)
class Group:
    """Several ops drawn as one box."""

    key: str                      # stable id, from the first op's index
    path: tuple[int, ...]         # the scope path it collapses
    title: str                    # "dense (Dense)", "gradient of dense"
    phase: str
    region: int | None
    ops: list[Op] = field(default_factory=list)
    inputs: list[TensorNode] = field(default_factory=list)
    outputs: list[TensorNode] = field(default_factory=list)
    variables: list[TensorNode] = field(default_factory=list)


Box = Op | Group


@dataclass
class View:
    """Boxes (ops and groups) in execution order, the tensors between them, and notes."""

    boxes: list[Box]
    tensors: dict[str, int | None]           # node key -> region it is drawn in
    edges: list[tuple[str, str]]             # box keys ("op3", "g7") and node keys
    notes: list[Note]


def box_key(box: Box) -> str:
    return box.key if isinstance(box, Group) else f"op{box.index}"


def view(rec: Recording, options: ViewOptions = DEFAULTS) -> View:
    """The view to draw: collapsed and within ``options.budget`` nodes unless ``all_ops``."""
    ops = [op for op in rec.ops if options.backward or op.phase == "forward"]
    notes = [Note("recording", text) for text in rec.notes]
    if options.all_ops:
        return _limited(_build(rec, ops, None, set(), hide=False), ops, options.max_ops, notes)
    budget, expand = options.budget, set(options.expand)
    result = _build(rec, ops, options.depth, expand, hide=True)
    wanted = _size(result)
    levels = max((len(op.scope) for op in ops), default=0)
    current = options.depth if options.depth is not None else levels
    while _size(result) > budget and current > 1:
        current -= 1
        result = _build(rec, ops, current, expand, hide=True)
    if current != (options.depth if options.depth is not None else levels):
        notes.append(Note("collapsed", f"Collapsed to {current} level(s) of layers/functions "
                          f"to stay within {budget} nodes.",
                          (("budget", wanted), ("all_ops", True))))
    if _size(result) > budget:  # nothing left to collapse: draw the first boxes that fit
        keep = min(options.max_ops, len(result.boxes))
        while keep > 1:
            size = _size(_first(result, keep))
            if size <= budget:
                break
            keep = min(keep - 1, keep * budget // size)
        return _limited(result, ops, keep, notes, f" to stay within {budget} nodes",
                        (("budget", _size(result)),))
    return _limited(result, ops, options.max_ops, notes)


def _limited(result: View, ops: list[Op], max_ops: int, notes: list[Note], why: str = "",
             fixes: tuple[tuple[str, int], ...] = ()) -> View:
    if len(result.boxes) > max_ops:
        notes.append(Note("truncated", f"Showing the first {max_ops:,} of "
                          f"{len(result.boxes):,} boxes ({len(ops):,} ops){why}.", fixes))
        result = _first(result, max_ops)
    result.notes = notes
    return result


def _first(result: View, count: int) -> View:
    """The first ``count`` boxes, with the tensors and edges that touch them."""
    kept = result.boxes[:count]
    keys = {box_key(b) for b in kept}
    edges = [(t, h) for t, h in result.edges if t in keys or h in keys]
    drawn = {k for edge in edges for k in edge} - keys
    return View(kept, {k: r for k, r in result.tensors.items() if k in drawn}, edges, [])


def _size(result: View) -> int:
    return len(result.boxes) + len(result.tensors)


def _build(rec: Recording, ops: list[Op], depth: int | None, expand: set[str],
           hide: bool) -> View:
    by_index = {op.index: op for op in rec.ops}
    calls = Counter(op.function for op in ops if op.function and op.phase == "forward")
    repeated = {name for name, n in calls.items() if n > 1}
    hidden = {op.index for op in ops if hide and _is_bookkeeping(op)}
    alias = _bypass(ops, hidden)
    groups: dict[tuple, Group] = {}
    boxes: list[Box] = []
    member: dict[int, Box] = {}
    for op in ops:
        if op.index in hidden:
            continue
        key = _group_key(rec, op, by_index, depth, expand, repeated) if hide else None
        if key is None:
            boxes.append(op)
            member[op.index] = op
            continue
        group = groups.get(key)
        if group is None:
            path = key[1:] if key[0] == "forward" else key[2:]
            group = groups[key] = Group(key=f"g{op.index}", path=path,
                                        title=_group_title(rec, key),
                                        phase=op.phase, region=_group_region(rec, op))
            boxes.append(group)
        group.ops.append(op)
        member[op.index] = group
    for key, group in groups.items():
        if key[1] == "function":  # known only now: how many calls the box stands for
            group.title = f"{len(group.ops)} \N{MULTIPLICATION SIGN} {key[2]}()"

    users = _final_users(ops, hidden)
    tensors: dict[str, int | None] = {}
    edges: list[tuple[str, str]] = []
    seen_edges: set[tuple[str, str]] = set()

    def connect(tail: str, head: str) -> None:
        if tail != head and (tail, head) not in seen_edges:
            seen_edges.add((tail, head))
            edges.append((tail, head))

    for box in boxes:
        box_ops = box.ops if isinstance(box, Group) else [box]
        here = {op.index for op in box_ops}
        # a box that writes a variable several times shows the version it leaves behind
        newest = {n.id: n.key for op in box_ops for n in op.outputs if n.is_variable}
        for op in box_ops:
            for node in op.inputs:
                source = alias.get(node.key, node)
                if source is None or _inside(source, here, box):
                    continue
                producer = member.get(source.producer.index) if source.producer else None
                if hide and _plumbing(source) and producer is not None:
                    connect(box_key(producer), box_key(box))  # box to box, no tensor drawn
                    continue
                if isinstance(box, Group) and _hidden_in_box(source, box, member, tensors):
                    continue
                if isinstance(box, Group):
                    (box.variables if source.is_variable else box.inputs).append(source)
                tensors.setdefault(source.key, None if source.is_variable else box.region)
                connect(source.key, box_key(box))
            for node in op.outputs:
                if node.key in alias or hide and _plumbing(node) and users.get(node.key):
                    continue
                if isinstance(box, Group) and node.is_variable and newest[node.id] != node.key:
                    continue
                if isinstance(box, Group) and not _leaves_group(node, users, member, box):
                    continue
                if isinstance(box, Group):
                    box.outputs.append(node)
                tensors[node.key] = None if node.is_variable else box.region
                connect(box_key(box), node.key)
    for key in [k for f in rec.diagnostics for k in f.nodes if k in rec.tensors]:
        tensors.setdefault(key, None)  # a diagnosis may point at a source nothing used
    return View(boxes, tensors, edges, [])


def _plumbing(node: TensorNode) -> bool:
    """An unnamed dataset, iterator or optional: drawn as an edge between boxes, not a box."""
    return node.dtype in ("variant", "resource") and not node.is_variable and not node.name


def _is_bookkeeping(op: Op) -> bool:
    if op.type not in BOOKKEEPING:
        return False
    return op.phase == "backward" or op.type not in BACKWARD_ONLY


def _bypass(ops: list[Op], hidden: set[int]) -> dict[str, TensorNode | None]:
    """For outputs of hidden ops: the float tensor to draw instead, or None (drop it)."""
    alias: dict[str, TensorNode | None] = {}
    for op in ops:
        if op.index not in hidden:
            continue
        carried = [alias.get(n.key, n) for n in op.inputs
                   if n.dtype.startswith(("float", "bfloat", "complex"))]
        carried = [n for n in carried if n is not None]
        for node in op.outputs:
            float_out = node.dtype.startswith(("float", "bfloat", "complex"))
            alias[node.key] = carried[0] if float_out and carried else None
    return alias


def _group_key(rec: Recording, op: Op, by_index: dict[int, Op], depth: int | None,
               expand: set[str], repeated: set[str]) -> tuple | None:
    """Which box an op goes in: its scope path, cut to the depth; None to draw it alone.

    Outside any scope, the ops of tf.data pipelines form one box per region, and repeated
    calls of one tf.function (``fit`` runs one per batch) one box "60 x train_step()".
    """
    source = by_index.get(op.differentiates) if op.differentiates is not None else op
    if source is None or (op.phase == "backward" and op.differentiates is None):
        return None
    path = _cut(rec, source.scope, depth, expand)
    if not path and op.phase == "forward":
        if op.function in repeated:
            return ("forward", "function", op.function, op.region)
        if op.type.endswith(DATASET_SUFFIXES) or op.type in ITERATOR_OPS:
            return ("forward", "tf.data", op.region)
    if not path:
        return None
    if op.phase == "backward":
        return ("backward", op.gradient_call, *path)
    return ("forward", *path)


def _cut(rec: Recording, scope: tuple[int, ...], depth: int | None,
         expand: set[str]) -> tuple[int, ...]:
    keep = len(scope) if depth is None else min(depth, len(scope))
    for i, scope_id in enumerate(scope):
        if rec.scopes[scope_id].name in expand:
            keep = max(keep, i + 2)  # open it: its ops go one level deeper
            if i + 1 == len(scope):
                return ()  # ops directly inside the opened scope are drawn one by one
    return scope[:keep]


def _group_title(rec: Recording, key: tuple) -> str:
    if key[1] == "tf.data":
        return "tf.data pipeline"
    if key[1] == "function":
        return f"{key[2]}()"
    scope = rec.scopes[key[-1]]
    name = f"{scope.name} ({scope.cls})" if scope.cls else scope.name
    return f"gradient of {scope.name}" if key[0] == "backward" else name


def _group_region(rec: Recording, op: Op) -> int | None:
    """Backward groups sit in their gradient call, not in one chain-rule step."""
    if op.phase == "backward" and op.gradient_call is not None:
        return op.gradient_call
    return op.region


def _inside(node: TensorNode, here: set[int], box: Box) -> bool:
    return node.producer is not None and node.producer.index in here and isinstance(box, Group)


def _final_users(ops: list[Op], hidden: set[int]) -> dict[str, list[Op]]:
    """node key -> the drawn ops that use it (looking through hidden ops)."""
    direct: dict[str, list[Op]] = {}
    for op in ops:
        for node in op.inputs:
            direct.setdefault(node.key, []).append(op)
    final: dict[str, list[Op]] = {}

    def resolve(key: str, seen: frozenset[str] = frozenset()) -> list[Op]:
        if key not in final:
            found = []
            for op in direct.get(key, ()):
                if op.index not in hidden:
                    found.append(op)
                else:
                    for out in op.outputs:
                        if out.key not in seen:
                            found += resolve(out.key, seen | {key})
            final[key] = found
        return final[key]

    for key in direct:
        resolve(key)
    return final


def _leaves_group(node: TensorNode, users: dict[str, list[Op]], member: dict[int, Box],
                  box: Group) -> bool:
    """An output is drawn if it is named, or used outside the group.

    Its own gradient box reusing it (an activation saved for the backward pass) is not
    "outside".
    """
    if node.name or node.is_variable:
        return True
    found = users.get(node.key, [])  # an unnamed result nothing uses is a dead end: not drawn
    return any(not _same_layer(member.get(op.index), box) for op in found)


def _same_layer(other: Box | None, box: Group) -> bool:
    return other is box or isinstance(other, Group) and other.path == box.path


def _hidden_in_box(source: TensorNode, box: Group, member: dict[int, Box],
                   drawn: dict[str, int | None]) -> bool:
    """Inputs a collapsed box does not draw: integer constants (shapes, axes), unnamed scalar
    constants (a metric's reset to 0.0), the constants of gradient formulas, and tensors its
    forward twin keeps inside (what a gradient box reads from its layer's forward pass)."""
    if source.is_constant and (box.phase == "backward" or source.is_integer
                               or (not source.name and source.shape == ())):
        return True
    producer = member.get(source.producer.index) if source.producer is not None else None
    return source.key not in drawn and producer is not None and _same_layer(producer, box)
