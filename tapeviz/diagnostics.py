"""Why is my gradient None? Findings for each source whose ``tape.gradient`` result is None.

Pure functions over a :class:`~tapeviz.recording.Recording`: they follow the recorded data flow
from each source to the target and name the first thing that explains the None:

- ``integer_dtype``: the source (or the target) is an integer or boolean tensor;
- ``unwatched``: a source the tape never watched: a constant, a variable made with
  ``trainable=False``, or any variable under ``watch_accessed_variables=False`` (tapes watch
  only trainable variables by themselves);
- ``disconnected``: no recorded op leads from the source to the target;
- ``left_tensorflow``: a value computed from the source was taken out of TensorFlow
  (``.numpy()``, ``float()``, NumPy math) inside the tape, which cannot see through it;
- ``outside_tape``: an op on the path ran before the tape or inside ``stop_recording``;
- ``not_differentiable``: an op on the path has no gradient (argmax, round, comparisons,
  casts to integers).

Each finding marks the nodes or ops where the path breaks. Sources whose gradient is fine
produce nothing: no false alarms.
"""

from __future__ import annotations

from collections import defaultdict

from tapeviz.recording import (
    BackwardStep,
    Finding,
    GradientCall,
    Op,
    Recording,
    TapeRecord,
    TensorNode,
)


def diagnose(rec: Recording, call: GradientCall) -> list[Finding]:
    """Findings for every source of ``call`` whose gradient came back None."""
    target = call.target
    if target is None:
        return []
    flow = _Flow(rec.ops_before(call))
    findings: list[Finding] = []
    for source, result in zip(call.sources, call.results, strict=False):
        if source is not None and result is None:
            finding = _explain(rec, call, flow, source, target)
            if finding is not None and finding not in findings:
                findings.append(finding)
    if target.is_integer and "integer_dtype" not in [f.kind for f in findings]:
        findings.append(Finding("integer_dtype", (
            f"The target {_name(target)} has dtype {target.dtype}: gradients only flow through "
            "floating-point tensors. Compute the target in float32 (keep values as floats; "
            "cast to integers only after taking the gradient)."), nodes=(target.key,)))
    return findings


def _explain(rec: Recording, call: GradientCall, flow: _Flow, source: TensorNode,
             target: TensorNode) -> Finding | None:
    src, tgt = _name(source), _name(target)
    if source.is_integer:
        return Finding("integer_dtype", (
            f"{src} has dtype {source.dtype}, and TensorFlow only differentiates with respect "
            f"to floating-point tensors, so the gradient of {tgt} with respect to {src} is "
            "None. Create it as a float (tf.constant(3.0), not tf.constant(3)) or tf.cast it "
            "to tf.float32 before the tape."), nodes=(source.key,))
    tape = rec.region(call.tape) if call.tape is not None else None
    if (tape is not None and source.is_variable and source.id not in tape.watched
            and not (source.trainable and tape.watches_variables)):
        return _unwatched_variable(tape, source, src, tgt)
    if tape is not None and not source.is_variable and not flow.tracked(
            source, tape.id, tape.watched):
        return Finding("unwatched", (
            f"{src} is a constant tensor, and a GradientTape only tracks variables by itself, "
            f"so it never recorded how {tgt} depends on {src}. Call {tape.title}.watch({src}) "
            f"inside the `with tf.GradientTape()` block before computing with {src}, or make "
            f"{src} a tf.Variable."), nodes=(source.key,))
    reached, path_ops = flow.path(source, target)
    if not path_ops:
        left = next((c for c in rec.conversions if c.node in reached), None)
        if left is not None:
            where = f" on line {left.line} (`{left.code}`)" if left.line and left.code else ""
            return Finding("left_tensorflow", (
                f"The path from {src} to {tgt} leaves TensorFlow: {_name(rec.tensors[left.node])}"
                f" was turned into a NumPy/Python value with {left.how}{where}, and the tape "
                "cannot see through NumPy or Python math, so it never learned how "
                f"{tgt} depends on {src}. Keep the computation in TensorFlow ops inside the "
                "tape (tf.square rather than np.square or **, no .numpy() or float())."),
                nodes=(source.key, left.node))
        return Finding("disconnected", (
            f"{src} never reaches {tgt}: no recorded operation leads from {src} to {tgt}, so "
            "TensorFlow returns None (not zero) for its gradient. Check that "
            f"{tgt} is "
            f"computed from {src}; if a zero gradient is what you want, pass "
            "unconnected_gradients=tf.UnconnectedGradients.ZERO."), nodes=(source.key,))
    outside = [op for op in path_ops if tape is not None and tape.id not in op.tapes]
    if outside and tape is not None:
        return Finding("outside_tape", (
            f"{_op_names(outside)} on the path from {src} to {tgt} ran outside {tape.title} "
            "(before its `with` block or inside stop_recording()), so the tape did not record "
            f"it and the gradient with respect to {src} is None. Compute everything between "
            f"{src} and {tgt} inside the `with tf.GradientTape()` block."),
            ops=tuple(op.index for op in outside))
    steps = {step.forward.index: step for step in rec.backward_steps
             if step.gradient_call == call.id}
    broken = [op for op in path_ops if _no_gradient(steps.get(op.index), op, reached)]
    broken = broken or [op for op in path_ops if any(out.is_integer for out in op.outputs)]
    if broken:
        names = _op_names(broken)
        return Finding("not_differentiable", (
            f"{names} on the path from {src} to {tgt} has no gradient (argmax, round, "
            "comparisons and casts to integers are not differentiable), so nothing flows back "
            f"to {src}. Use a differentiable alternative (softmax instead of argmax, keep "
            "values as floats) or take the gradient before that op."),
            ops=tuple(op.index for op in broken))
    return None


def _unwatched_variable(tape: TapeRecord, source: TensorNode, src: str, tgt: str) -> Finding:
    if not source.trainable:
        why = (f"{src} is a tf.Variable made with trainable=False, and a GradientTape only "
               "watches trainable variables by itself")
        fix = f", or create {src} with trainable=True (the default)"
    else:
        why = (f"{tape.title} was made with watch_accessed_variables=False and watches only "
               f"what is passed to {tape.title}.watch()")
        fix = ""
    return Finding("unwatched", (
        f"{why}, so it never recorded how {tgt} depends on {src} and the gradient is None. "
        f"Call {tape.title}.watch({src}) inside the `with tf.GradientTape()` block before "
        f"computing with {src}{fix}."), nodes=(source.key,))


class _Flow:
    """The recorded data flow: who produced and who consumed each tensor node."""

    def __init__(self, ops: list[Op]) -> None:
        self.ops = ops
        self.consumers: dict[str, list[Op]] = defaultdict(list)
        for op in ops:
            for node in op.inputs:
                self.consumers[node.key].append(op)

    def starts(self, source: TensorNode) -> set[str]:
        """A variable starts from all of its versions; a tensor from itself."""
        if not source.is_variable:
            return {source.key}
        return {n.key for op in self.ops for n in (*op.inputs, *op.outputs)
                if n.is_variable and n.id == source.id} | {source.key}

    def downstream(self, keys: set[str]) -> tuple[set[str], set[int]]:
        """Nodes and ops computed from ``keys`` (a variable feeds what reads it, not writes)."""
        nodes, ops, todo = set(keys), set(), list(keys)
        while todo:
            for op in self.consumers.get(todo.pop(), ()):
                if op.index not in ops and not any(n.is_variable for n in op.outputs):
                    ops.add(op.index)
                    fresh = [n.key for n in op.outputs if n.key not in nodes]
                    nodes.update(fresh)
                    todo.extend(fresh)
        return nodes, ops

    def upstream(self, node: TensorNode) -> tuple[set[str], set[int]]:
        """Nodes and ops ``node`` was computed from (up to the variables it read)."""
        nodes, ops, todo = {node.key}, set(), [node]
        while todo:
            current = todo.pop()
            producer = None if current.is_variable else current.producer
            if producer is not None and producer in self.ops and producer.index not in ops:
                ops.add(producer.index)
                fresh = [n for n in producer.inputs if n.key not in nodes]
                nodes.update(n.key for n in fresh)
                todo.extend(fresh)
        return nodes, ops

    def path(self, source: TensorNode, target: TensorNode) -> tuple[set[str], list[Op]]:
        """Nodes reached from ``source``, and the ops on some path from it to ``target``."""
        reached, down_ops = self.downstream(self.starts(source))
        _, up_ops = self.upstream(target)
        return reached, [op for op in self.ops if op.index in down_ops & up_ops]

    def tracked(self, node: TensorNode, tape: int, watched: set[int]) -> bool:
        """Whether the tape tracked ``node``: watched, or computed on it from tracked inputs."""
        seen = {n.key for op in self.ops for n in op.inputs
                if n.id in watched or n.is_variable}
        for op in self.ops:
            if tape in op.tapes and any(n.key in seen for n in op.inputs):
                seen.update(n.key for n in op.outputs)
        return node.id in watched or node.key in seen


def _no_gradient(step: BackwardStep | None, op: Op, reached: set[str]) -> bool:
    """The backward step of ``op`` sent no gradient to any of its inputs on the path."""
    if step is None:
        return False
    on_path = [i for i, node in enumerate(op.inputs) if node.key in reached]
    return bool(on_path) and all(
        i >= len(step.downstream) or step.downstream[i] is None for i in on_path)


def _name(node: TensorNode) -> str:
    if node.title:
        return node.title
    producer = node.producer
    if producer is not None and producer.type in ("ReadVariableOp", "Identity"):
        return _name(producer.inputs[0])  # a read of b is "b" to the user
    return f"the output of {producer.label}" if producer else f"a {node.dtype} constant"


def _op_names(ops: list[Op]) -> str:
    labels = sorted({op.label for op in ops})
    return ", ".join(labels[:-1]) + (" and " if len(labels) > 1 else "") + labels[-1]
