"""Turn hook events into a :class:`~tapeviz.recording.Recording`.

The recorder decides what a tensor *is* (a variable, a constant leaf, an op output), keeps
small values and summaries of big ones (never big copies), tracks which tapes and which
``gradient`` call each op ran under, and at the end gives tensors the user's Python names.
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any

import numpy as np
import tensorflow as tf

from tapeviz import _tfhooks, gradients
from tapeviz.firewall import guarded, internal_error
from tapeviz.recording import (
    ASSIGN_OPS,
    BackwardStep,
    Conversion,
    GradientCall,
    Op,
    Recording,
    Scope,
    Summary,
    TapeRecord,
    TensorNode,
)

MAX_OPS = 20_000        # recording stops here; the cell itself runs on unchanged
VALUES = 2_000          # tensors whose values are kept; later ones keep shape and dtype
SMALL = 64              # tensors with at most this many elements keep their full value
EXACT = 4096            # up to this many elements, summaries are exact; beyond, sampled
SUMMARIZED = 10_000_000  # bigger tensors than this keep only shape and dtype


class Recorder:
    """Receives :mod:`tapeviz._tfhooks` events and builds a Recording."""

    def __init__(self, max_ops: int = MAX_OPS, keep_tensors: bool = False) -> None:
        self.recording = Recording()
        self.max_ops = max_ops
        # --target/--check replay and differentiate recorded tensors: then keep them (and the
        # ops' attributes) until the end of the recording
        self.keep_tensors = keep_tensors
        self.live: dict[str, Any] = {}            # node key -> tensor or variable
        self.stop_frame: Any = None  # the frame that started recording: not a scope itself
        self.attrs: dict[int, tuple] = {}         # op index -> op attributes
        self._variables: dict[int, Any] = {}      # handle id -> variable object
        self._versions: dict[int, TensorNode] = {}  # handle id -> newest version node
        self._tapes: dict[int, tuple[Any, TapeRecord]] = {}  # id(tape) -> (tape, record)
        self._active_tapes: list[int] = []        # TapeRecord ids, outermost first
        self._regions: list[int] = []             # innermost last
        self._calls: list[tuple[Any, GradientCall]] = []
        self._layers: list[Scope] = []
        self._layer_names: tuple[str, ...] = ()
        self._layer_scopes: tuple[int, ...] = ()
        self._functions: dict[int, tuple[Any, Scope]] = {}  # id(frame) -> (frame, scope)
        self._user_code = _UserCode()
        self._last_frame: Any = None              # innermost user frame of the last op
        self._last_scopes: tuple[int, ...] = ()
        self._steps: list[BackwardStep | None] = []
        self._values_left = VALUES
        self._values_dropped = False
        self._by_type: dict[str, list[Op]] = {}   # ops recorded by a tape, by type
        self._differentiated: set[tuple[int, int]] = set()  # (gradient call id, op index)
        self._next_region = 1

    # -- hook events -------------------------------------------------------------------------
    def on_op(self, op_type: str, inputs: list[tuple[int, Any]],
              outputs: list[tuple[int, Any]], attrs: tuple = ()) -> None:
        rec = self.recording
        if len(rec.ops) >= self.max_ops:
            if not rec.truncated:
                rec.truncated = True
                rec.notes.append(f"Recording stopped after {self.max_ops:,} ops; the cell ran "
                                 "to its end. Record a smaller part of it to see everything.")
            return
        call = self._calls[-1][1] if self._calls else None
        op = Op(index=len(rec.ops), type=op_type, inputs=[], outputs=[],
                phase="backward" if call else "forward",
                tapes=tuple(self._active_tapes),
                region=self._regions[-1] if self._regions else None,
                gradient_call=call.id if call else None,
                layers=self._layer_names,
                # backward ops are grouped by the forward op they differentiate instead
                scope=() if call else self._function_scopes() + self._layer_scopes,
                function=_tfhooks.function_name(op_type),
                differentiates=self._steps[-1].forward.index if self._steps and self._steps[-1]
                else None)
        op.inputs = [self._input(tid, t) for tid, t in inputs]
        if not outputs and op.inputs and op.inputs[0].is_variable:  # a write: a new version
            op.outputs = [self._new_version(op.inputs[0].id, value=_written(op))]
            op.outputs[0].producer = op
        else:
            op.outputs = [self._output(tid, t, op) for tid, t in outputs]
        rec.ops.append(op)
        if op.tapes:
            self._by_type.setdefault(op_type, []).append(op)
        if self.keep_tensors:
            self.attrs[op.index] = attrs

    def on_variable_written(self, handle_id: int, read: Any) -> None:
        """A write's new value: computed from its inputs when it can be, else read back."""
        newest = self._versions.get(handle_id)
        if newest is not None and newest.value is None and self._values_left > 0:
            value = read()
            if value is not None:
                newest.value = summarize(_tfhooks.tensor_info(value)[2])

    def on_variable(self, handle_id: int, variable: Any, value: Any) -> None:
        self._variables[handle_id] = variable
        if value is not None and handle_id not in self._versions:
            self._new_version(handle_id, summarize(_tfhooks.tensor_info(value)[2]))

    def on_tape_push(self, tape: Any) -> None:
        entry = self._tapes.get(id(tape))
        if entry is None:
            record = TapeRecord(id=self._new_region(), name=None,
                                persistent=bool(getattr(tape, "_persistent", False)),
                                parent=self._regions[-1] if self._regions else None)
            self._tapes[id(tape)] = (tape, record)  # the tape is kept so id() stays unique
            self.recording.tapes.append(record)
        record = self._tapes[id(tape)][1]
        self._active_tapes.append(record.id)
        self._regions.append(record.id)

    def on_tape_pop(self, tape: Any) -> None:
        entry = self._tapes.get(id(tape))
        if entry is not None and entry[1].id in self._active_tapes:
            self._active_tapes.remove(entry[1].id)
            _remove_last(self._regions, entry[1].id)

    def on_gradient_start(self, tape: Any, method: str, target: Any, sources: Any) -> None:
        if id(tape) not in self._tapes:  # a tape entered before recording began
            self.on_tape_push(tape)
            self.on_tape_pop(tape)
        call = GradientCall(id=self._new_region(), tape=self._tapes[id(tape)][1].id,
                            method=method, targets=self._known(target),
                            sources=self._known(sources), results=[],
                            parent=self._regions[-1] if self._regions else None)
        self.recording.gradient_calls.append(call)
        self._calls.append((tape, call))
        self._regions.append(call.id)

    def on_gradient_end(self, tape: Any, result: Any) -> None:
        _, call = self._calls.pop()
        _remove_last(self._regions, call.id)
        call.results = self._known(result)

    def on_watch(self, tape: Any, tensors: Any) -> None:
        entry = self._tapes.get(id(tape))
        if entry is not None:
            for item in _flatten(tensors):
                tid = _tfhooks.tensor_id(item)
                entry[1].watched.add(tid if tid is not None else _tfhooks.variable_handle_id(item))

    def on_backward_start(self, op_type: str, inputs: list[tuple[int, Any]],
                          outputs: list[tuple[int, Any]],
                          upstream: list[tuple[int, Any] | None]) -> None:
        call = self._calls[-1][1] if self._calls else None
        forward = self._forward_op(op_type, inputs, outputs, call)
        if forward is None or call is None:  # differentiating ops from before recording
            self._steps.append(None)
            return
        self._differentiated.add((call.id, forward.index))
        step = BackwardStep(id=self._new_region(), forward=forward, gradient_call=call.id,
                            upstream=[self._input(*g) if g else None for g in upstream],
                            downstream=[], parent=self._regions[-1] if self._regions else None)
        self.recording.backward_steps.append(step)
        self._steps.append(step)
        self._regions.append(step.id)

    def _forward_op(self, op_type: str, inputs: list[tuple[int, Any]],
                    outputs: list[tuple[int, Any]], call: GradientCall | None) -> Op | None:
        """The recorded op a backward step differentiates.

        Its outputs identify it; when TensorFlow passes none (gradients that do not need
        them), take the newest op of that type and inputs not yet differentiated by this call:
        the tape differentiates in reverse order of execution.
        """
        tensors = self.recording.tensors
        for tid, _ in outputs:
            node = tensors.get(f"t{tid}")
            if node is not None and node.producer is not None:
                return node.producer
        input_ids = [tid for tid, _ in inputs]
        for op in reversed(self._by_type.get(op_type, ())):
            if call is not None and (call.id, op.index) in self._differentiated:
                continue
            if not input_ids or [n.id for n in op.inputs] == input_ids:
                return op
        return None

    def on_backward_end(self, downstream: list[tuple[int, Any] | None]) -> None:
        step = self._steps.pop()
        if step is not None:
            _remove_last(self._regions, step.id)
            step.downstream = [self._input(*g) if g else None for g in downstream]

    def on_left_tensorflow(self, tensor_id: int, how: str) -> None:
        """A value taken out of TensorFlow inside a tape: where the tape stops seeing it."""
        node = self.recording.tensors.get(f"t{tensor_id}")
        if node is None or not self._active_tapes:
            return
        frame = sys._getframe(1)
        while frame is not None and not self._user_code[frame.f_code]:
            frame = frame.f_back
        line = frame.f_lineno if frame is not None else None
        code = linecache.getline(frame.f_code.co_filename, line).strip() if line else ""
        self.recording.conversions.append(Conversion(node.key, how, line, code))

    def on_layer_start(self, layer: Any) -> None:
        scope = Scope(id=self._new_region(), kind="layer", cls=type(layer).__name__,
                      name=str(getattr(layer, "name", type(layer).__name__)))
        self.recording.scopes[scope.id] = scope
        self._layers.append(scope)
        self._layers_changed()

    def on_layer_end(self, layer: Any) -> None:
        self._layers.pop()
        self._layers_changed()

    def _layers_changed(self) -> None:  # kept as tuples: every op reads them
        self._layer_names = tuple(s.name for s in self._layers)
        self._layer_scopes = tuple(s.id for s in self._layers)

    def _function_scopes(self) -> tuple[int, ...]:
        """Scopes of the user's own Python functions the current op runs in, outermost first.

        Walks the stack up to the user's top-level code (a cell, a script); library frames
        (TensorFlow, Keras, tapeviz) are skipped. A frame is held only while it is on the
        stack, so each call of a function is its own scope.
        """
        user_code = self._user_code
        frame = sys._getframe(1)
        while frame is not None and not user_code[frame.f_code]:  # ~15 frames, every op
            frame = frame.f_back
        if frame is self._last_frame:  # still in the same call as the last op: same scopes
            return self._last_scopes
        innermost, frames = frame, []
        while frame is not None:
            if user_code[frame.f_code]:
                name = frame.f_code.co_name
                if name == "<module>" or frame is self.stop_frame:
                    break
                if not name.startswith("<"):  # not a lambda or comprehension
                    frames.append(frame)
            frame = frame.f_back
        known = self._functions
        if not frames:
            known.clear()
            self._last_frame, self._last_scopes = innermost, ()
            return ()
        current = {id(f): f for f in frames}
        for key in [key for key, (f, _) in known.items() if current.get(key) is not f]:
            del known[key]  # that call has returned
        for f in frames:
            if id(f) not in known:
                name = getattr(f.f_code, "co_qualname", f.f_code.co_name)
                scope = Scope(id=self._new_region(), name=name, kind="function")
                self.recording.scopes[scope.id] = scope
                known[id(f)] = (f, scope)
        self._last_frame = innermost
        self._last_scopes = tuple(known[id(f)][1].id for f in reversed(frames))
        return self._last_scopes

    def release_frames(self) -> None:
        """Hold no frame (and so none of its locals) once recording ends."""
        self.stop_frame = self._last_frame = None
        self._functions.clear()

    # -- tensors -----------------------------------------------------------------------------
    def _input(self, tensor_id: int, tensor: Any) -> TensorNode:
        node = self.recording.tensors.get(f"t{tensor_id}") or self._versions.get(tensor_id)
        if node is None:
            dtype, shape, array = _tfhooks.tensor_info(tensor, self._values_left > 0)
            if dtype == "resource":  # a variable's handle, first seen here
                return self._new_version(tensor_id, value=None)
            # produced by no recorded op: a Python literal, tf.constant, a gradient seed
            node = self._node(tensor_id, "constant", dtype, shape, array, tensor)
        return node

    def _output(self, tensor_id: int, tensor: Any, op: Op) -> TensorNode:
        dtype, shape, array = _tfhooks.tensor_info(tensor, self._values_left > 0)
        if op.type == "VarHandleOp":  # a new variable's first version (other resources, such
            node = self._new_version(tensor_id, value=None)  # as tf.data iterators, are not)
        else:
            node = self._node(tensor_id, "op_output", dtype, shape, array, tensor)
        node.producer = op
        if op.type == "ReadVariableOp" and op.inputs and op.inputs[0].value is None:
            op.inputs[0].value = node.value  # a variable shows the value it was read with
        return node

    def _node(self, tensor_id: int, kind: Any, dtype: str, shape: tuple[int, ...],
              array: np.ndarray | None, tensor: Any) -> TensorNode:
        node = TensorNode(id=tensor_id, kind=kind, shape=shape, dtype=dtype,
                          value=summarize(array))
        if array is not None:
            self._values_left -= 1
        elif self._values_left <= 0:
            self._values_dropped = True
        self.recording.tensors[node.key] = node
        if self.keep_tensors:
            self.live[node.key] = tensor
        return node

    def _new_version(self, handle_id: int, value: Any) -> TensorNode:
        previous = self._versions.get(handle_id)
        variable = self._variables.get(handle_id)
        node = TensorNode(
            id=handle_id, kind="variable",
            shape=_shape(variable) if variable is not None else None,
            dtype=variable.dtype.name if variable is not None else "resource",
            value=value, version=previous.version + 1 if previous else 0,
            variable_name=_variable_name(variable))
        self._versions[handle_id] = node
        self.recording.tensors[node.key] = node
        return node

    def _known(self, structure: Any) -> list[TensorNode | None]:
        """Nodes for a (nested) structure of tensors/variables; None for anything else."""
        found = []
        for item in _flatten(structure):
            handle = _tfhooks.variable_handle_id(item)  # reading .handle reports the variable
            tid = _tfhooks.tensor_id(item)
            if handle is not None:
                found.append(self._versions.get(handle))
            else:
                found.append(self._input(tid, item) if tid is not None else None)
        return found

    # -- helpers -----------------------------------------------------------------------------
    def _new_region(self) -> int:
        self._next_region += 1
        return self._next_region - 1

    # -- the end -----------------------------------------------------------------------------
    def finish(self, namespace: Mapping[str, Any]) -> Recording:
        """Give tensors, variables and tapes the Python names that refer to them.

        Named tensors and variables whose values were not kept (past the first VALUES
        tensors) get them now, from the objects the names refer to.
        """
        rec = self.recording
        versions: dict[int, list[TensorNode]] = {}
        for node in rec.tensors.values():
            if node.is_variable:
                versions.setdefault(node.id, []).append(node)
        for handle, variable in self._variables.items():
            for node in versions.get(handle, ()):
                if node.variable_name is None:
                    node.variable_name = _variable_name(variable)
                    node.shape, node.dtype = _shape(variable), variable.dtype.name
            newest = versions.get(handle, [None])[-1]
            if newest is not None and newest.value is None and self._values_dropped:
                now = _tfhooks.read_unseen(variable.handle, variable.dtype)
                newest.value = summarize(_tfhooks.tensor_info(now)[2]) if now is not None \
                    else None
        tapes = {id(tape): record for tape, record in self._tapes.values()}
        for name, value in _user_names(namespace):
            if id(value) in tapes and tapes[id(value)].name is None:
                tapes[id(value)].name = name
                continue
            handle = _tfhooks.variable_handle_id(value)
            if handle is not None:
                for node in versions.get(handle, ()):
                    node.name = node.name or name
                continue
            node = rec.tensors.get(f"t{_tfhooks.tensor_id(value)}")
            if node is not None and node.name is None:
                node.name = name
                if node.value is None:
                    node.value = summarize(_tfhooks.tensor_info(value)[2])
        if self._values_dropped:
            rec.notes.append(f"Values were kept for the first {VALUES:,} tensors (and for "
                             "named ones); later tensors show their shape and dtype only.")
        if not rec.ops:
            rec.notes.append("This cell ran no TensorFlow op, so there is nothing to draw.")
        return rec


class record:  # noqa: N801 - used like a function: `with tapeviz.record() as rec:`
    """Record every eager TensorFlow op run inside the ``with`` block.

    Tensors get the Python names that refer to them when the block ends, looked up in
    ``namespace`` (default: the caller's globals and locals). Gradients on the nodes are those
    of the block's last ``tape.gradient`` call, or of ``target`` (an expression evaluated in
    the namespace at the end) with respect to ``sources`` (names); ``check=True`` compares
    them with finite differences. ``max_ops`` caps the recording (the code runs on).

    A bug in tapeviz never breaks the block: it ends up in ``rec.internal_errors`` (and the
    summary) instead; ``debug=True`` raises it, with tapeviz's traceback.

    >>> import tapeviz, tensorflow as tf
    >>> with tapeviz.record() as rec:
    ...     y = tf.constant(2.0) * 3.0
    >>> rec.named("y").value
    array(6., dtype=float32)
    """

    def __init__(self, namespace: Mapping[str, Any] | None = None, *,
                 target: str | None = None, sources: Sequence[str] | str | None = None,
                 check: bool = False, max_ops: int = MAX_OPS, debug: bool = False) -> None:
        self._namespace = namespace
        self._debug = debug
        self._target = target
        self._sources = [sources] if isinstance(sources, str) else list(sources or [])
        self._check = check
        self._recorder = Recorder(max_ops=max_ops, keep_tensors=bool(target or check))
        self._own_tape: Any = None
        self._frame: FrameType | None = None
        self._hooks: Any = None
        self._errors: list[Exception] = []

    def __enter__(self) -> Recording:
        self._recorder.stop_frame = sys._getframe(1)
        if self._namespace is None:
            self._frame = sys._getframe(1)
        if self._target is not None:  # entered before the hooks: invisible to the recording
            self._own_tape = tf.GradientTape(persistent=True)
            self._own_tape.__enter__()
        self._hooks = _tfhooks.installed(self._recorder)
        self._errors = self._hooks.__enter__()
        return self._recorder.recording

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._hooks.__exit__(None, None, None)
        if self._own_tape is not None:
            self._own_tape.__exit__(None, None, None)
        namespace = self._namespace
        if namespace is None and self._frame is not None:
            namespace = {**self._frame.f_globals, **self._frame.f_locals}
            self._frame = None
        recorder = self._recorder
        rec = recorder.recording
        recorder.release_frames()
        try:
            with guarded(rec.internal_errors, "naming", self._debug):
                recorder.finish(namespace or {})
            with guarded(rec.internal_errors, "gradients", self._debug):
                gradients.analyze(rec, namespace or {}, target=self._target,
                                  sources=self._sources, check_sources=self._check,
                                  live=recorder.live, attrs=recorder.attrs,
                                  own_tape=self._own_tape, summarize=summarize)
        finally:
            recorder.live.clear()  # what --target/--check kept alive is not needed any more
            recorder.attrs.clear()
            self._own_tape = None
        if self._errors:
            rec.internal_errors += [internal_error(e, "recording") for e in self._errors]
            rec.notes.append(
                f"tapeviz missed part of this cell ({len(self._errors)} internal errors, first: "
                f"{self._errors[0]!r}); the cell itself ran normally. Please report this.")


def _user_names(namespace: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """(name, value) pairs: public names, and items of short lists/tuples as ``name[i]``."""
    for name, value in list(namespace.items()):
        if name.startswith("_"):
            continue
        if isinstance(value, (list, tuple)) and len(value) <= 32:
            for i, item in enumerate(value):
                yield f"{name}[{i}]", item
        else:
            yield name, value


def _flatten(structure: Any) -> list[Any]:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure, key=str) for leaf in _flatten(structure[key])]
    return [structure]


def _shape(tensor: Any) -> tuple[int | None, ...] | None:
    dims = tensor.shape
    return None if dims.rank is None else tuple(dims.as_list())


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


def summarize(array: np.ndarray | None) -> np.ndarray | Summary | None:
    """A copy of a small array; min/mean/max and the first values of a big one."""
    if array is None:
        return None
    if array.size <= SMALL:
        return np.array(array)  # a copy, and a 0-d array rather than a NumPy scalar
    if array.size > SUMMARIZED or array.dtype.kind not in "fiub":
        return None
    flat = array.reshape(-1)
    sample = flat if flat.size <= EXACT else _even_sample(flat)
    return Summary(min=float(sample.min()), mean=float(sample.sum()) / sample.size,
                   max=float(sample.max()), first=tuple(flat[:4].tolist()),
                   sampled=sample is not flat)


def _even_sample(flat: np.ndarray, runs: int = 64) -> np.ndarray:
    """EXACT elements in ``runs`` short contiguous runs spread evenly over a big array.

    Reading every element of big tensors after every op would cost more than the ops
    themselves; contiguous runs keep the sample cheap to read (whole cache lines).
    """
    rows = flat[: flat.size // runs * runs].reshape(runs, -1)
    return rows[:, : EXACT // runs]


def _variable_name(variable: Any) -> str | None:
    name = getattr(variable, "name", None)
    return name.removesuffix(":0") if isinstance(name, str) else None


_LIBRARY_PATHS = tuple(
    {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {os.path.dirname(os.path.abspath(__file__))})


class _UserCode(dict):
    """``code object -> bool``: code the user wrote (a cell, a script, their module), not a
    library's; each code object is judged once."""

    def __missing__(self, code: Any) -> bool:
        filename = code.co_filename
        self[code] = user = not (filename.startswith(_LIBRARY_PATHS)
                                 or filename.startswith("<frozen") or "site-packages" in filename)
        return user


def _remove_last(stack: list[int], item: int) -> None:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] == item:
            del stack[i]
            return
