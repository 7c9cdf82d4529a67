"""Tensor identity and versions: what each tensor id is, and the value kept of it.

While the cell runs, tensors are only referred to (eager tensors never change, so a reference
is as good as a copy) within a byte budget; past it a :class:`Snapshot` (shape, dtype and the
summary) is taken at once. :class:`Tensors` then decides, in order, what each tensor *is* (a
variable version, a constant leaf, an op output) and keeps values for the first ``values``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from tapeviz import _tfhooks
from tapeviz.recording import ASSIGN_OPS, Op, Recording, TensorNode
from tapeviz.summaries import SMALL, Summary, summarize


class Snapshot(NamedTuple):
    """What is kept of a tensor past the byte budget: read at once, summarised."""

    dtype: str
    shape: tuple[int, ...]
    value: np.ndarray | Summary | None
    readable: bool  # it has a value to read (not a resource, variant or string tensor)


def snapshot(tensor: Any) -> Snapshot:
    dtype, shape, array = _tfhooks.tensor_info(tensor)
    return Snapshot(dtype, shape, summarize(array), array is not None)


Pair = tuple[int, Any]  # (tensor id, tensor or Snapshot)


class Kept:
    """Tensors referred to while the cell runs, up to ``budget`` bytes (None: no limit).

    Past the budget each new tensor is read at once into a :class:`Snapshot`: its summary, or
    past the first ``values`` readable op outputs (the recording keeps no more values, see
    :class:`Tensors`) only its shape and dtype.
    """

    def __init__(self, budget: int | None, values: float = math.inf) -> None:
        self.left = budget
        # a lower bound of the values the recording will have kept when it reaches the next
        # op: every readable op output before it takes one, while any are left
        self.values_left = values
        self.summarised = 0  # bytes of the tensors summarised at once, past the budget
        self._known: dict[int, Snapshot | None] = {}  # tensor id -> snapshot, None: referred to

    def outputs(self, pairs: list[Pair]) -> list[Pair]:
        """An op's outputs (new tensors), counted against the values the recording keeps
        once read: an output past the budget is still snapshotted with its value."""
        kept = self.pairs(pairs)
        if self.values_left > 0:
            self.values_left -= sum(map(_tfhooks.readable, (tensor for _, tensor in pairs)))
        return kept

    def pairs(self, pairs: list[Pair | None]) -> list[Pair | None]:
        """Tensors of an event: referred to, or past the budget read at once."""
        if self.left is None:
            return pairs
        kept, known = pairs, self._known
        for i, pair in enumerate(pairs):
            if pair is None:
                continue
            tid, tensor = pair
            snap = known.get(tid, _NEW)
            if snap is None:
                continue
            if snap is _NEW:
                size = _tfhooks.tensor_nbytes(tensor)
                if size <= self.left:
                    self.left -= size
                    known[tid] = None
                    continue
                self.summarised += size
                known[tid] = snap = (snapshot(tensor) if self.values_left > 0
                                     else shape_only(tensor))
            if kept is pairs:
                kept = list(pairs)
            kept[i] = (tid, snap)
        return kept


_NEW: Any = object()


def shape_only(tensor: Any) -> Snapshot:
    """What is kept of a tensor whose value the recording will not keep."""
    dtype, shape, _ = _tfhooks.tensor_info(tensor, with_array=False)
    return Snapshot(dtype, shape, None, _tfhooks.readable(tensor))


def read(tensor: Any, wanted: bool) -> tuple[str, tuple[int, ...], bool, Any]:
    """``(dtype, shape, has a value, value)`` of a tensor or Snapshot; a value if ``wanted``."""
    if isinstance(tensor, Snapshot):
        has = wanted and tensor.readable
        return tensor.dtype, tensor.shape, has, tensor.value if has else None
    dtype, shape, array = _tfhooks.tensor_info(tensor, wanted)
    return dtype, shape, array is not None, summarize(array)


def value_of(tensor: Any) -> np.ndarray | Summary | None:
    return read(tensor, True)[3] if tensor is not None else None


class Tensors:
    """Tensor nodes by id, variable versions by handle id, and the values kept."""

    def __init__(self, rec: Recording, values: int, keep_tensors: bool) -> None:
        self.tensors = rec.tensors
        self.values_left = values
        self.values_dropped = False
        self.keep_tensors = keep_tensors
        self.live: dict[str, Any] = {}         # node key -> tensor (--target/--check)
        self.variables: dict[int, Any] = {}    # handle id -> variable object
        self.versions: dict[int, TensorNode] = {}  # handle id -> newest version node
        self.by_id: dict[int, TensorNode] = {}     # tensor id -> node (not variables)

    def input(self, tensor_id: int, tensor: Any) -> TensorNode:
        node = self.by_id.get(tensor_id) or self.versions.get(tensor_id)
        if node is None:
            dtype, shape, has, value = read(tensor, self.values_left > 0)
            if dtype == "resource":  # a variable's handle, first seen here
                return self.new_version(tensor_id, value=None)
            # produced by no recorded op: a Python literal, tf.constant, a gradient seed
            node = self._node(tensor_id, "constant", dtype, shape, has, value, tensor)
        return node

    def output(self, tensor_id: int, tensor: Any, op: Op) -> TensorNode:
        dtype, shape, has, value = read(tensor, self.values_left > 0)
        if op.type == "VarHandleOp":  # a new variable's first version (other resources, such
            node = self.new_version(tensor_id, value=None)  # as tf.data iterators, are not)
        else:
            node = self._node(tensor_id, "op_output", dtype, shape, has, value, tensor)
        node.producer = op
        if op.type == "ReadVariableOp" and op.inputs and op.inputs[0].value is None:
            op.inputs[0].value = node.value  # a variable shows the value it was read with
        return node

    def written(self, op: Op) -> None:
        """A write (an op with no outputs on a variable): a new version of the variable."""
        op.outputs = [self.new_version(op.inputs[0].id, value=_written(op))]
        op.outputs[0].producer = op

    def on_variable(self, handle_id: int, variable: Any, value: Any) -> None:
        self.variables[handle_id] = variable
        if value is not None and handle_id not in self.versions:
            self.new_version(handle_id, value_of(value))

    def on_variable_written(self, handle_id: int, value: Any) -> None:
        """A write's new value: computed from its inputs when it can be, else read back."""
        newest = self.versions.get(handle_id)
        if (newest is not None and newest.value is None and self.values_left > 0
                and value is not None):
            newest.value = value_of(value)

    def _node(self, tensor_id: int, kind: Any, dtype: str, shape: tuple[int, ...],
              has_value: bool, value: Any, tensor: Any) -> TensorNode:
        node = TensorNode(tensor_id, kind, shape, dtype, value)
        if has_value:
            self.values_left -= 1
        elif self.values_left <= 0:
            self.values_dropped = True
        self.by_id[tensor_id] = self.tensors[f"t{tensor_id}"] = node
        if self.keep_tensors:
            self.live[node.key] = tensor
        return node

    def new_version(self, handle_id: int, value: Any) -> TensorNode:
        previous = self.versions.get(handle_id)
        variable = self.variables.get(handle_id)
        node = TensorNode(
            id=handle_id, kind="variable",
            shape=shape_of(variable) if variable is not None else None,
            dtype=variable.dtype.name if variable is not None else "resource",
            value=value, version=previous.version + 1 if previous else 0,
            variable_name=variable_name(variable))
        self.versions[handle_id] = node
        self.tensors[node.key] = node
        return node

    def known(self, structure: Any) -> list[TensorNode | None]:
        """Nodes for a (nested) structure of tensors/variables; None for anything else."""
        found = []
        for item in flatten(structure):
            handle = _tfhooks.variable_handle_id(item)  # reading .handle reports the variable
            tid = _tfhooks.tensor_id(item)
            if handle is not None:
                found.append(self.versions.get(handle))
            else:
                found.append(self.input(tid, item) if tid is not None else None)
        return found


def flatten(structure: Any) -> list[Any]:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure, key=str) for leaf in flatten(structure[key])]
    return [structure]


def shape_of(tensor: Any) -> tuple[int | None, ...] | None:
    dims = tensor.shape
    return None if dims.rank is None else tuple(dims.as_list())


def variable_name(variable: Any) -> str | None:
    name = getattr(variable, "name", None)
    return name.removesuffix(":0") if isinstance(name, str) else None


def computable(op_type: str, inputs: list[Pair]) -> bool:
    """Whether :func:`_written` will have the value a write wrote, so that it need not be read
    back: an assign of a small value, or an add/sub of one (same shape as the variable)."""
    if op_type not in ASSIGN_OPS or len(inputs) < 2:
        return False
    delta = inputs[1][1]
    if isinstance(delta, Snapshot):
        return delta.readable and isinstance(delta.value, np.ndarray)
    return _tfhooks.readable(delta) and _tfhooks.elements(delta) <= SMALL


def _written(op: Op) -> np.ndarray | None:
    """The value an assign/assign_add/assign_sub wrote, from its inputs (small values only)."""
    method = ASSIGN_OPS.get(op.type)
    if method is None or len(op.inputs) < 2:
        return None
    old, delta = op.inputs[0].value, op.inputs[1].value
    if not isinstance(delta, np.ndarray):
        return None
    if method == "assign":
        return delta
    if not isinstance(old, np.ndarray):
        return None
    return old + delta if method == "assign_add" else old - delta

