"""The data model: what ran, in order, as plain data. No TensorFlow import.

A :class:`Recording` holds :class:`Op` objects in execution order. Each op reads and writes
:class:`TensorNode` objects. Tapes and ``tape.gradient`` calls are *regions*
(:class:`TapeRecord`, :class:`GradientCall`): every op knows the innermost region it ran in,
and regions know their parent, so nested tapes nest.

>>> import tapeviz, tensorflow as tf
>>> x = tf.Variable(3.0)
>>> with tapeviz.record() as rec:
...     with tf.GradientTape() as tape:
...         y = tf.square(x)
...     dy_dx = tape.gradient(y, x)
>>> [op.type for op in rec.ops if op.phase == "forward"]
['ReadVariableOp', 'Square']
>>> rec.named("dy_dx").value
array(6., dtype=float32)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tapeviz.summaries import INLINE, Summary

Phase = Literal["forward", "backward"]
Kind = Literal["variable", "constant", "op_output"]
AGREE = 0.01  # --check: tape and finite differences closer than this agree (float32 noise)

# ops that write a variable, by the tf.Variable method that runs them
ASSIGN_OPS = {"AssignVariableOp": "assign", "AssignAddVariableOp": "assign_add",
              "AssignSubVariableOp": "assign_sub"}


@dataclass(eq=False, slots=True)
class TensorNode:
    """One tensor (or one version of a variable) in the recording.

    ``id`` is TensorFlow's own tensor id; for a variable it is the id of its handle tensor, and
    ``version`` counts the assignments seen so far (0 is the value first read).
    """

    id: int
    kind: Kind
    shape: tuple[int | None, ...] | None
    dtype: str
    value: np.ndarray | Summary | None = None
    name: str | None = None            # the user's Python name, when one refers to it
    variable_name: str | None = None   # a variable's own name, e.g. "sequential/dense/kernel"
    version: int = 0
    producer: Op | None = field(default=None, repr=False)
    grad: np.ndarray | Summary | None = None
    trainable: bool = True  # a variable: whether tapes watch it by themselves

    @property
    def key(self) -> str:
        """A key unique within the recording."""
        return f"v{self.id}.{self.version}" if self.kind == "variable" else f"t{self.id}"

    @property
    def is_variable(self) -> bool:
        return self.kind == "variable"

    @property
    def is_constant(self) -> bool:
        return self.kind == "constant"

    @property
    def is_integer(self) -> bool:
        """Integer or boolean: no gradient flows through it."""
        return self.dtype.startswith(("int", "uint", "bool"))

    @property
    def shape_text(self) -> str:
        """``(2, 1)``, or ``?`` when the rank is unknown."""
        return "?" if self.shape is None else "(" + ", ".join(map(str, self.shape)) + ")"

    @property
    def title(self) -> str | None:
        """The best human name: the Python name, with a variable's own name when it says more.

        ``W``; ``w (output/b)`` for a Python name bound to a Keras weight; ``output/b``.
        """
        own = self.variable_name
        if (self.name and own and not re.fullmatch(r"Variable(_\d+)?", own)
                and own.rsplit("/", 1)[-1] != self.name):
            return f"{self.name} ({own})"
        return self.name or own


@dataclass(eq=False, slots=True)
class Op:
    """One executed TensorFlow op."""

    index: int
    type: str
    inputs: list[TensorNode]
    outputs: list[TensorNode]
    phase: Phase
    tapes: tuple[int, ...]          # ids of the tapes recording when it ran, outermost first
    region: int | None              # innermost TapeRecord/GradientCall id it ran in
    gradient_call: int | None       # the gradient call that ran it (backward ops only)
    layers: tuple[str, ...] = ()    # Keras layer names, outermost first
    function: str | None = None     # set when the op is a call of this tf.function
    differentiates: int | None = None  # backward ops: index of the forward op they differentiate
    scope: tuple[int, ...] = ()     # Scope ids (Python function calls, then Keras layer calls)
    line: int | None = None         # forward ops: the line of the user's code that ran it
    code: str = ""                  # and its text

    @property
    def label(self) -> str:
        return f"{self.function}()" if self.function else self.type


@dataclass(frozen=True)
class Scope:
    """One call of a Keras layer or of a Python function of the user's: a box when collapsed."""

    id: int
    name: str          # "dense", "NaiveDense.__call__"
    kind: Literal["layer", "function"]
    cls: str = ""      # a layer's class, e.g. "Dense"


@dataclass(eq=False)
class TapeRecord:
    """A ``tf.GradientTape`` seen while recording."""

    id: int
    name: str | None
    persistent: bool
    parent: int | None
    watched: set[int] = field(default_factory=set)  # ids of tensors passed to tape.watch
    watches_variables: bool = True  # watch_accessed_variables: trainable variables by itself

    @property
    def title(self) -> str:
        return self.name or f"GradientTape #{self.id}"


@dataclass(eq=False)
class GradientCall:
    """One ``tape.gradient`` (or ``jacobian``/``batch_jacobian``) call."""

    id: int
    tape: int | None  # None: tapeviz's own tape (an explicit --target)
    method: str
    targets: list[TensorNode | None]
    sources: list[TensorNode | None]
    results: list[TensorNode | None]
    parent: int | None

    @property
    def target(self) -> TensorNode | None:
        """The (first) tensor being differentiated."""
        return next((t for t in self.targets if t is not None), None)


@dataclass(eq=False)
class BackwardStep:
    """One link of the chain rule: a gradient call differentiating one forward op.

    ``upstream[i]`` is d target / d ``forward.outputs[i]`` (flowing in), ``downstream[j]`` is
    this op's share of d target / d ``forward.inputs[j]`` (flowing out); None where TensorFlow
    computed nothing.
    """

    id: int
    forward: Op
    gradient_call: int
    upstream: list[TensorNode | None]
    downstream: list[TensorNode | None]
    parent: int | None

    @property
    def title(self) -> str:
        named = [out.title for out in self.forward.outputs if out.title]
        return f"gradient of {self.forward.label}" + (f" ({named[0]})" if named else "")


@dataclass(frozen=True)
class Finding:
    """A diagnosis, e.g. why a gradient is None: what happened, how to fix it, where."""

    kind: str
    message: str
    nodes: tuple[str, ...] = ()  # keys of the tensor nodes to mark on the graph
    ops: tuple[int, ...] = ()    # indices of the ops to mark


@dataclass(frozen=True)
class Conversion:
    """A recorded tensor's value taken out of TensorFlow inside a tape (``.numpy()``, ...)."""

    node: str          # key of the tensor node converted
    how: str           # ".numpy()", "float()", ...
    line: int | None   # the line of the user's code that did it, and its text
    code: str = ""


@dataclass(frozen=True)
class InternalError:
    """A bug in tapeviz itself, caught so that the user's code runs on unchanged."""

    stage: str         # "recording", "naming", "gradients", "graph building", ...
    kind: str          # the exception's type, e.g. "IndexError"
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.kind} in {self.stage}: {self.message}"


@dataclass(eq=False, repr=False)
class Recording:
    """Everything recorded by :func:`tapeviz.record` or ``%%tape``: plain data.

    Drawing it is a later stage's work: ``tapeviz.show(rec)`` (in IPython, ``rec`` on its own
    shows the same), ``tapeviz.to_dot(rec)``; JSON files: :mod:`tapeviz.serialize`.
    """

    ops: list[Op] = field(default_factory=list)
    tensors: dict[str, TensorNode] = field(default_factory=dict)
    tapes: list[TapeRecord] = field(default_factory=list)
    gradient_calls: list[GradientCall] = field(default_factory=list)
    backward_steps: list[BackwardStep] = field(default_factory=list)
    scopes: dict[int, Scope] = field(default_factory=dict)
    diagnostics: list[Finding] = field(default_factory=list)
    checks: dict[str, float | str] = field(default_factory=dict)  # --check: source -> max diff
    target: TensorNode | None = None  # what .grad is the gradient of
    notes: list[str] = field(default_factory=list)
    truncated: bool = False
    conversions: list[Conversion] = field(default_factory=list)
    internal_errors: list[InternalError] = field(default_factory=list)

    # -- lookups -----------------------------------------------------------------------------
    def named(self, name: str) -> TensorNode:
        """The newest tensor node the user's Python name ``name`` refers to."""
        found = [t for t in self.tensors.values() if t.name == name]
        if not found:
            known = sorted({t.name for t in self.tensors.values() if t.name})
            raise KeyError(f"No recorded tensor is named {name!r}. Named tensors: {known}")
        return found[-1]

    def ops_before(self, call: GradientCall) -> list[Op]:
        """The ops that ran before ``call`` started its backward pass."""
        first = min((op.index for op in self.ops if op.gradient_call == call.id),
                    default=len(self.ops))
        return self.ops[:first]

    def region(self, region_id: int) -> TapeRecord | GradientCall | BackwardStep:
        for region in (*self.tapes, *self.gradient_calls, *self.backward_steps):
            if region.id == region_id:
                return region
        raise KeyError(region_id)

    def region_title(self, region_id: int) -> str:
        """``"tape"`` for a tape, ``"tape.gradient(result, input_var)"`` for a gradient call."""
        region = self.region(region_id)
        if isinstance(region, (TapeRecord, BackwardStep)):
            return region.title
        tape = self.region(region.tape).title
        args = ", ".join(_names(part) for part in (region.targets, region.sources))
        return f"{tape}.{region.method}({args})"

    def __repr__(self) -> str:  # the dataclass's own would print every op and tensor
        return self.summary()

    def summary(self) -> str:
        """A short, stable text description: op counts by phase, tapes, named tensors."""
        if not self.ops:
            return "tapeviz: no TensorFlow op ran."
        lines = []
        for phase in ("forward", "backward"):
            counts = Counter(op.label for op in self.ops if op.phase == phase)
            if counts:
                listed = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
                lines.append(f"{phase} ({sum(counts.values())} ops): {listed}")
        for tape in self.tapes:
            where = f" inside {self.region_title(tape.parent)}" if tape.parent else ""
            kind = "persistent GradientTape" if tape.persistent else "GradientTape"
            lines.append(f"{kind} {tape.title}{where}")
        for call in self.gradient_calls:
            n = sum(op.gradient_call == call.id for op in self.ops)
            lines.append(f"{self.region_title(call.id)}: {n} backward ops")
        newest = {node.name: node for node in self.tensors.values() if node.name}
        grads = {node.name: node.grad for node in self.tensors.values()
                 if node.name and node.grad is not None}
        lines += [f"{name} = {describe(node)}"
                  + (f", grad {format_value(grads[name])}" if name in grads else "")
                  for name, node in newest.items()]
        if self.target is not None:
            lines.append(f"gradients are d {self.target.title or 'target'} / d node")
        lines += [f"check {name}: {check_text(diff)}" for name, diff in self.checks.items()]
        lines += [f"{finding.kind}: {finding.message}" for finding in self.diagnostics]
        lines.extend(self.notes)
        lines += [f"internal error: {error}" for error in self.internal_errors]
        head = f"tapeviz recording: {len(self.ops)} ops"
        return "\n".join([head, *("  " + line for line in lines)])


def describe(node: TensorNode) -> str:
    """``"variable float32 () 3.0"``: kind, dtype, shape and value in one line."""
    origin = {"variable": "variable", "constant": "constant"}.get(node.kind)
    if origin is None:
        origin = node.producer.label if node.producer else "tensor"
    return f"{origin} {node.dtype} {node.shape_text} {format_value(node.value)}".rstrip()


def format_value(value: np.ndarray | Summary | None) -> str:
    """Numbers as a learner reads them: ``3.0``, ``[1.0 2.0]``, or a summary for big tensors.

    Floats show 4 significant digits, never a signed zero: the same text on every CPU, where
    float32 rounding may differ in the last digits.

    >>> format_value(np.array([0.36151248, -0.0, 6.0], dtype=np.float32))
    '[0.3615 0.0 6.0]'
    """
    if value is None:
        return ""
    if isinstance(value, Summary):
        return str(value)
    if value.size > INLINE:  # kept whole, shown short: a label is no place for 64 numbers
        flat = value.ravel()
        return str(Summary(min=float(flat.min()), mean=float(flat.mean()),
                           max=float(flat.max()), first=tuple(flat[:4].tolist())))
    if not value.ndim:
        return format_number(value[()]) if value.dtype.kind == "f" else str(value[()])
    text = np.array2string(value, separator=" ", formatter={"float_kind": format_number})
    return " ".join(text.split())


def format_number(x: float) -> str:
    """``0.3615``, ``6.0``, ``2.3e-08``: 4 significant digits, no signed zero."""
    x = float(x) + 0.0  # -0.0 + 0.0 is 0.0: a signed zero means nothing to a learner
    if x != 0 and np.isfinite(x) and not 1e-4 <= abs(x) < 1e4:
        return np.format_float_scientific(x, precision=3, trim="-")
    return np.format_float_positional(x, precision=4, fractional=False, trim="0")


def check_text(diff: float | str) -> str:
    """``"max |tape - finite differences| < 0.01: they agree"``, or why it was not checked.

    A difference that small is float32 rounding (its digits vary between CPUs), so it is
    shown as a bound; a bigger one is shown as it is.
    """
    if isinstance(diff, str):
        return diff
    if diff < AGREE:
        return f"max |tape - finite differences| < {AGREE}: they agree"
    return (f"max |tape - finite differences| = {format_number(diff)}: they differ; check "
            "the gradient (or the step size of the finite differences)")


def _names(nodes: list[TensorNode | None]) -> str:
    titles = [(n.title if n is not None else None) or "..." for n in nodes]
    if len(titles) > 3:
        return f"[{len(titles)} sources]"
    return titles[0] if len(titles) == 1 else "[" + ", ".join(titles) + "]"
