"""d target / d node for every recorded tensor, and a finite-difference check of the sources.

By default the gradients are the ones TensorFlow itself computed in the user's last
``tape.gradient(target, sources)`` call: each backward step (one link of the chain rule) saw
the gradient flowing into its forward op's outputs and out to its inputs, so nothing extra is
computed and nothing the user holds changes.

With an explicit target (``--target``), :func:`differentiate_all` asks a tape of tapeviz's own
(recording alongside the user's code) for the gradient of the target with respect to every
recorded tensor.

>>> import numpy as np
>>> central_difference(lambda x: float((x ** 2).sum()), np.array([3.0]))
array([6.])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from tapeviz import _tfhooks
from tapeviz.recording import GradientCall, Recording, Summary, TensorNode

CHECK_MAX_ELEMENTS = 256  # --check compares sources up to this size (2 replays per element)
EPSILON = 1e-3


def analyze(rec: Recording, namespace: Mapping[str, Any], *, target: str | None,
            sources: list[str] | None, check_sources: bool, live: Mapping[str, Any],
            attrs: Mapping[int, tuple], own_tape: Any,
            summarize: Callable[[Any], Any]) -> None:
    """Gradients on nodes, diagnostics and (optionally) the finite-difference check.

    The gradient question is d ``target`` / d ``sources``: given by name, or else the user's
    last ``tape.gradient`` call in the recording.
    """
    if target is not None:
        call = _own_call(rec, namespace, target, sources or [], own_tape, live, summarize)
        if call is None:
            return
    else:
        call = last_call(rec)
        if call is None:
            return
        annotate(rec, call)
        if sources:
            call = _only_sources(call, sources)
            missing = sorted(set(sources) - {s.title for s in call.sources if s is not None})
            if missing:
                rec.notes.append(f"--sources: {', '.join(missing)} is not a source of the last "
                                 "tape.gradient call; name its sources, or give --target too.")
    from tapeviz.diagnostics import diagnose

    rec.diagnostics = diagnose(rec, call)
    if check_sources:
        names = [s.title if s is not None else "?" for s in call.sources]
        rec.checks = check(rec, call, live, attrs, names)


def _own_call(rec: Recording, namespace: Mapping[str, Any], target: str,
              sources: list[str], own_tape: Any, live: Mapping[str, Any],
              summarize: Callable[[Any], Any]) -> GradientCall | None:
    """Answer d target / d sources with tapeviz's own tape, as if the user had asked."""
    try:
        target_value = eval(target, dict(namespace))  # noqa: S307 - the user's own expression
        source_values = [namespace[name] for name in sources]
    except Exception as error:
        rec.notes.append(f"--target {target!r}: {type(error).__name__}: {error}. Give an "
                         "expression for a tensor the cell computed, and names it defined.")
        return None
    target_node = _node_for(rec, target_value)
    if target_node is None:
        rec.notes.append(f"--target {target!r} is not a tensor this cell computed, so there "
                         "is nothing to differentiate.")
        return None
    rec.target = target_node
    differentiate_all(rec, own_tape, target_value, live, summarize)
    results = _tfhooks.gradients_unseen(own_tape, target_value, source_values)
    result_nodes = []
    for result in results:
        node = None
        if result is not None:
            dtype, shape, array = _tfhooks.tensor_info(result)
            node = TensorNode(id=_tfhooks.tensor_id(result), kind="op_output", shape=shape,
                              dtype=dtype, value=summarize(array))
            live[node.key] = result  # type: ignore[index]
        result_nodes.append(node)
    source_nodes = [_node_for(rec, value) for value in source_values]
    for node, name in zip(source_nodes, sources, strict=True):
        if node is not None and node.name is None:
            node.name = name
    return GradientCall(id=-1, tape=None, method="gradient", targets=[target_node],
                        sources=source_nodes, results=result_nodes, parent=None)


def _node_for(rec: Recording, value: Any) -> TensorNode | None:
    """The recorded node of a tensor (or the first read version of a variable)."""
    handle = _tfhooks.variable_handle_id(value)
    if handle is not None:
        versions = [n for n in rec.tensors.values() if n.is_variable and n.id == handle]
        read = [n for n in versions if n.grad is not None]
        return (read or versions or [None])[0]
    return rec.tensors.get(f"t{_tfhooks.tensor_id(value)}")


def _only_sources(call: GradientCall, names: list[str]) -> GradientCall:
    keep = [i for i, s in enumerate(call.sources) if s is not None and s.title in names]
    return GradientCall(id=call.id, tape=call.tape, method=call.method, targets=call.targets,
                        sources=[call.sources[i] for i in keep],
                        results=[call.results[i] for i in keep], parent=call.parent)


def last_call(rec: Recording) -> GradientCall | None:
    """The user's last ``tape.gradient`` call: by default, what the gradients are of."""
    calls = [call for call in rec.gradient_calls if call.method == "gradient"]
    return calls[-1] if calls else None


def annotate(rec: Recording, call: GradientCall) -> None:
    """Set ``.grad`` on every node from the backward steps of ``call``."""
    rec.target = call.target
    tape = rec.region(call.tape) if call.tape is not None else None
    tracked = {n.key for n in call.sources if n is not None}  # leaves tape.gradient would answer
    watched = tape.watched if tape is not None else set()
    for step in rec.backward_steps:
        if step.gradient_call != call.id:
            continue
        for output, grad in zip(step.forward.outputs, step.upstream, strict=False):
            if grad is not None:
                output.grad = grad.value  # the total d target / d output: already summed
        for node, grad in zip(step.forward.inputs, step.downstream, strict=False):
            leaf = node.producer is None or node.is_variable
            answered = node.is_variable or node.id in watched or node.key in tracked
            if grad is not None and leaf and answered:  # not unwatched constants: TF says None
                node.grad = _add(node.grad, grad.value)  # a leaf sums its uses' shares
    for source, result in zip(call.sources, call.results, strict=False):
        if source is not None and result is not None:
            source.grad = result.value  # what tape.gradient returned is the final word


def differentiate_all(rec: Recording, tape: Any, target: Any, live: Mapping[str, Any],
                      summarize: Callable[[Any], Any]) -> None:
    """Set ``.grad`` = d target / d node for every live recorded node, with tapeviz's own tape."""
    keys = [key for key in live if key in rec.tensors]
    grads = _tfhooks.gradients_unseen(tape, target, [live[key] for key in keys])
    for key, grad in zip(keys, grads, strict=True):
        if grad is not None:
            rec.tensors[key].grad = summarize(_tfhooks.tensor_info(grad)[2])
    for op in rec.ops:  # a variable's gradient is the sum over its reads
        if op.type == "ReadVariableOp" and op.outputs[0].grad is not None:
            op.inputs[0].grad = _add(op.inputs[0].grad, op.outputs[0].grad)


def check(rec: Recording, call: GradientCall, live: Mapping[str, Any],
          attrs: Mapping[int, tuple], names: list[str]) -> dict[str, float | str]:
    """Max |tape gradient - central finite differences| for each source of ``call``.

    The forward ops between the sources and the target are replayed with each element of a
    source nudged by +-EPSILON; only small float sources are checked.
    """
    results: dict[str, float | str] = {}
    target = call.target
    forward = [op for op in rec.ops_before(call) if op.phase == "forward"
               and (call.tape is None or call.tape in op.tapes)]
    for name, source, result in zip(names, call.sources, call.results, strict=False):
        reason = _why_not_checkable(source, result, live, target)
        if reason:
            results[name] = reason
            continue
        replay = _Replay(forward, live, attrs, source, target)
        value = np.array(replay.source_value, dtype=np.float64)
        numeric = central_difference(replay.target_sum, value)
        tape_grad = np.asarray(_tfhooks.tensor_info(live[result.key])[2], dtype=np.float64)
        results[name] = float(np.max(np.abs(numeric - tape_grad)))
    return results


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray,
                       epsilon: float = EPSILON) -> np.ndarray:
    """(f(x + e) - f(x - e)) / 2e for each element of ``x``."""
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        nudged = x.astype(np.float64).copy()
        nudged[i] += epsilon
        up = f(nudged)
        nudged[i] -= 2 * epsilon
        grad[i] = (up - f(nudged)) / (2 * epsilon)
    return grad


class _Replay:
    """Re-run the recorded forward ops from a source to the target with a new source value."""

    def __init__(self, ops: list, live: Mapping[str, Any], attrs: Mapping[int, tuple],
                 source: TensorNode, target: TensorNode) -> None:
        self.ops, self.live, self.attrs = ops, live, attrs
        self.source, self.target = source, target
        if source.is_variable:  # a variable enters the computation through its reads
            self.entry = [op.outputs[0].key for op in ops if op.type == "ReadVariableOp"
                          and op.inputs[0].id == source.id]
        else:
            self.entry = [source.key]
        self.source_value = _tfhooks.tensor_info(live[self.entry[0]])[2]

    def target_sum(self, value: np.ndarray) -> float:
        new = {key: tf.constant(value.astype(self.source_value.dtype)) for key in self.entry}
        for op in self.ops:
            if op.index not in self.attrs or not any(n.key in new for n in op.inputs):
                continue
            inputs = [new.get(n.key, self.live.get(n.key)) for n in op.inputs]
            outputs = _tfhooks.run_op(op.type, inputs, self.attrs[op.index], len(op.outputs))
            new.update({node.key: out for node, out in zip(op.outputs, outputs, strict=True)})
        result = new.get(self.target.key, self.live.get(self.target.key))
        return float(np.sum(_tfhooks.tensor_info(result)[2], dtype=np.float64))


def _why_not_checkable(source: TensorNode | None, result: TensorNode | None,
                       live: Mapping[str, Any], target: TensorNode | None) -> str | None:
    if source is None or target is None or target.key not in live:
        return "not checked: the source or the target was not recorded"
    if result is None or result.key not in live:
        return "not checked: tape.gradient returned None"
    if not source.dtype.startswith(("float", "bfloat")):
        return f"not checked: {source.dtype} is not a floating-point dtype"
    size = int(np.prod(source.shape or ()))
    if size > CHECK_MAX_ELEMENTS:
        return f"not checked: {size:,} elements (the check is for at most {CHECK_MAX_ELEMENTS})"
    return None


def _add(old: np.ndarray | Summary | None, new: np.ndarray | Summary | None):
    if isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old.shape == new.shape:
        return old + new
    return new if old is None else old
