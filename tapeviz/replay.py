"""The backward pass, one chain-rule step at a time, each with a caption that has the numbers.

Data only: the same steps drive the replay in the notebook view and serve tests and lessons.

>>> import tapeviz, tensorflow as tf
>>> x = tf.Variable(3.0)
>>> with tapeviz.record() as rec:
...     with tf.GradientTape() as tape:
...         y = tf.square(x)
...     dy_dx = tape.gradient(y, x)
>>> [step.caption for step in replay_steps(rec)]
['d y / d x = 1.0 × 2·x = 1.0 × 6.0 = 6.0', 'd y / d x = 6.0 × 1 = 6.0']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tapeviz.recording import (
    BackwardStep,
    GradientCall,
    Op,
    Recording,
    TensorNode,
    format_number,
    format_value,
)
from tapeviz.summaries import INLINE, Summary

SUM, PRODUCT, ATOM = 1, 2, 3  # how tightly a name binds: "a + b" < "a·b" < "a", "a²", "f(a)"
MAX_DEPTH = 3                 # an unnamed tensor is named by an expression this deep at most
MAX_NAME = 32                 # and a longer one names only its named inputs ("relu(… @ W)")
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
FUNCTIONS = {"Exp": "exp", "Log": "log", "Tanh": "tanh", "Sigmoid": "σ", "Relu": "relu",
             "Sqrt": "√", "Sin": "sin", "Cos": "cos", "Mean": "mean", "Sum": "sum"}
RESHAPES = {"Reshape", "Squeeze", "ExpandDims"}
PASS_THROUGH = {"ReadVariableOp", "Identity", "AddV2", "Add", "AddN", "BiasAdd", *RESHAPES}
DIVISIONS = {"RealDiv", "Div", "DivNoNan"}
CROSS_ENTROPIES = {"SparseSoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits"}

Name = tuple[str, int]  # text and how tightly it binds


@dataclass(frozen=True)
class ReplayStep:
    """One link of the chain rule, as the replay shows it.

    ``upstream`` and ``downstream`` are the keys (:attr:`TensorNode.key`) of the gradients of
    the :class:`~tapeviz.recording.BackwardStep` ``region``, in its order, each once.
    ``accumulated`` names the forward op's inputs whose gradient this step completes by adding
    several paths (the ``AddN`` that does it is one of ``local_ops``).
    """

    index: int
    op: int
    region: int
    upstream: tuple[str, ...]
    local_ops: tuple[int, ...]
    downstream: tuple[str, ...]
    caption: str
    accumulated: tuple[str, ...] = ()


def replay_steps(rec: Recording) -> list[ReplayStep]:
    """The recorded backward steps in the order TensorFlow ran them, each with its caption.

    A caption is the chain rule with numbers, ``d y / d x = upstream × local = result``, for
    each input the gradient flows to on its way to the sources, e.g.
    ``"d y / d x = 1.0 × 2·x = 1.0 × 6.0 = 6.0"``. Captions are plain text.
    """
    by_region: dict[int | None, list[int]] = {}
    by_tape: dict[int, list[Op]] = {}
    for op in rec.ops:
        by_region.setdefault(op.region, []).append(op.index)
        for tape in op.tapes:
            by_tape.setdefault(tape, []).append(op)
    sums = _accumulations(rec)
    names: dict[int, _Names] = {}
    steps = []
    for index, step in enumerate(rec.backward_steps):
        call = rec.region(step.gradient_call)
        assert isinstance(call, GradientCall)
        if call.id not in names:
            names[call.id] = _Names(call, by_tape.get(call.tape, []) if call.tape is not None
                                     else rec.ops)
        name = names[call.id]
        added = sums.get(step.id, [])
        target = name(call.target)
        caption = "; ".join([_caption(rec, step, target, name),
                             *(_sum_caption(target, node, addn, name) for node, addn in added)])
        steps.append(ReplayStep(
            index=index, op=step.forward.index, region=step.id,
            upstream=_keys(step.upstream),
            local_ops=tuple(sorted([*by_region.get(step.id, ()),
                                    *(addn.index for _, addn in added)])),
            downstream=_keys(step.downstream), caption=caption,
            accumulated=tuple(dict.fromkeys(node.key for node, _ in added))))
    return steps


class _Names:
    """Names of tensors for the captions of one gradient call.

    A tensor the user named keeps its name; an unnamed one that does not depend on the call's
    sources is its number ("4.9"); otherwise the expression that computed it ("time²").
    """

    def __init__(self, call: GradientCall, recorded: list[Op]) -> None:
        """``recorded``: the ops the call's tape recorded, the only ones it differentiates."""
        sources = [s for s in call.sources if s is not None]
        variables = {s.id for s in sources if s.is_variable}
        self.dependent = {s.key for s in sources}
        for op in recorded:
            if any(n.key in self.dependent or (n.is_variable and n.id in variables)
                   for n in op.inputs):
                self.dependent.update(n.key for n in op.outputs)
        self._known: dict[tuple[str, int], Name] = {}

    def depends(self, node: TensorNode) -> bool:
        return node.key in self.dependent or node.is_variable

    def __call__(self, node: TensorNode | None, binds: int = ATOM) -> str:
        """The name of ``node``, in parentheses where it binds less tightly than ``binds``."""
        if node is None:
            return "target"
        text, tightness = self.name(node)
        return text if tightness >= binds else f"({text})"

    def name(self, node: TensorNode, depth: int = 0) -> Name:
        if (node.key, depth) not in self._known:
            self._known[node.key, depth] = self._name(node, depth)
        return self._known[node.key, depth]

    def _name(self, node: TensorNode, depth: int) -> Name:
        if node.title:
            return node.title, ATOM
        op = node.producer
        if op is not None and op.type in ("ReadVariableOp", "Identity"):
            return self.name(op.inputs[0], depth)
        small = isinstance(node.value, np.ndarray) and node.value.size <= INLINE
        if op is None or (small and not self.depends(node)):
            return _numbers(node.value, node.shape), ATOM
        if depth >= MAX_DEPTH:
            return "…", ATOM
        name = self._expression(op, [self.name(n, depth + 1) for n in op.inputs])
        if len(name[0]) > MAX_NAME and depth < MAX_DEPTH - 1:
            return self.name(node, MAX_DEPTH - 1)
        return name

    def formula(self, op: Op) -> str:
        """``speed = 9.8·time¹``: what ``op`` computed, from its inputs' names."""
        out = op.outputs[0]
        expression = self._expression(op, [self.name(n, 1) for n in op.inputs])[0]
        return f"{out.title} = {expression}" if out.title else expression

    def _expression(self, op: Op, args: list[Name]) -> Name:
        def arg(i: int, binds: int) -> str:
            text, tightness = args[i]
            return text if tightness >= binds else f"({text})"

        kind = op.type
        if kind == "Square":
            return arg(0, ATOM) + "²", ATOM
        if kind == "Pow":
            power = _small_int(op.inputs[1], self)
            return arg(0, ATOM) + (_superscript(power) if power is not None
                                   else f"^{arg(1, ATOM)}"), ATOM
        if kind in ("Mul", "MatMul"):
            return arg(0, PRODUCT) + (" @ " if kind == "MatMul" else "·") + arg(1, PRODUCT), PRODUCT
        if kind in ("AddV2", "Add"):
            return f"{arg(0, SUM)} + {arg(1, SUM)}", SUM
        if kind == "Sub":
            return f"{arg(0, SUM)} − {arg(1, PRODUCT)}", SUM
        if kind in DIVISIONS:
            return f"{arg(0, PRODUCT)} / {arg(1, ATOM)}", PRODUCT
        if kind == "Neg":
            return f"−{arg(0, ATOM)}", PRODUCT
        if kind in FUNCTIONS and args:
            return f"{FUNCTIONS[kind]}({args[0][0]})", ATOM
        # another op: its name and the inputs that matter (not shapes, indices or constants)
        inputs = [n for n in op.inputs if not n.is_integer]
        shown = [n for n in inputs if self.depends(n)] or inputs
        return f"{op.label}({', '.join(args[op.inputs.index(n)][0] for n in shown)})", ATOM


def _caption(rec: Recording, step: BackwardStep, target: str, name: _Names) -> str:
    op = step.forward
    flows = [j for j, grad in enumerate(step.downstream)
             if grad is not None and j < len(op.inputs) and not op.inputs[j].is_integer]
    on_path = [j for j in flows if name.depends(op.inputs[j])]
    parts = [_part(op, j, step, target, name) for j in on_path or flows]
    text = "; ".join(parts) or f"d {target} / d {_outputs(op, name)} via {op.type}: no " \
                               "gradient flows to its inputs"
    if op.phase == "backward" and op.gradient_call is not None and op.outputs:
        # an op of an inner gradient call, differentiated by an outer tape: say what it is
        text = f"{rec.region_title(op.gradient_call)} computed {name.formula(op)}: {text}"
    return text


def _part(op: Op, j: int, step: BackwardStep, target: str, name: _Names) -> str:
    """``d target / d input_j = upstream × local = downstream_j``, or the generic form."""
    node, down = op.inputs[j], step.downstream[j]
    assert down is not None
    head = f"d {target} / d {name(node)} = "
    upstream = step.upstream[0] if step.upstream else None
    if op.type == "MatMul" and upstream is not None and _plain_matmul(op):
        other = name(op.inputs[1 - j], ATOM)
        flow = f"{_text(upstream)} @ {other}ᵀ" if j == 0 else f"{other}ᵀ @ {_text(upstream)}"
        return head + f"{flow} = {_text(down)}"
    if op.type in CROSS_ENTROPIES and j == 0 and upstream is not None:
        # the fused loss's second output is this local derivative, row by row
        labels = name(op.inputs[1], ATOM)
        wanted = f"one_hot({labels})" if op.type.startswith("Sparse") else labels
        return head + (f"{_text(upstream)} × (softmax({name(node, SUM)}) − {wanted}) "
                       f"= {_text(down)}")
    local = _local(op, j, name)
    if local is None or upstream is None or len(op.outputs) != 1:
        flowing = ", ".join(_text(g) for g in step.upstream if g is not None) or "none"
        return f"d {target} / d {name(node)} via {op.type}: upstream {flowing} → {_text(down)}"
    symbol, value = local
    text = head + f"{_text(upstream)} × {symbol}"
    if value is not None:
        numbers = _numbers(value, value.shape)
        if numbers != symbol:
            text += f" = {_text(upstream)} × {numbers}"
    if op.type in RESHAPES:
        return text + f", reshaped to {down.shape_text}: {_text(down)}"
    if (down.shape != upstream.shape and _size(down) <= _size(upstream)
            and op.type not in ("Mean", "Sum")):  # a reduction spreads its gradient instead
        # a broadcast input: its shares are summed over the dimensions it was broadcast along
        return text + f", summed to shape {down.shape_text}: {_text(down)}"
    return text + f" = {_text(down)}"


def _local(op: Op, j: int, name: _Names) -> tuple[str, np.ndarray | None] | None:
    """The local derivative d output / d input_j: its formula and, when known, its numbers."""
    ins = [_array(n) for n in op.inputs]
    out = _array(op.outputs[0]) if op.outputs else None
    x = name(op.inputs[j], ATOM)
    inside = name(op.inputs[j], SUM)  # an argument in parentheses already
    kind = op.type
    if kind in PASS_THROUGH or (kind == "Sub" and j == 0):
        return "1", None
    if kind in ("Sub", "Neg"):
        return "−1", None
    if kind == "Square":
        return f"2·{name(op.inputs[j], PRODUCT)}", _known(lambda: 2 * ins[0], ins[0])
    if kind == "Mul":
        return name(op.inputs[1 - j], PRODUCT), _known(lambda: ins[1 - j], ins[1 - j])
    if kind in DIVISIONS:
        a, b = name(op.inputs[0], PRODUCT), name(op.inputs[1], ATOM)
        if j == 0:
            return f"1/{b}", _known(lambda: 1 / ins[1], ins[1])
        return f"−{a}/{b}²", _known(lambda: -ins[0] / ins[1] ** 2, *ins)
    if kind == "Pow":
        return _pow_local(op, j, name, ins, out)
    formulas = {
        "Exp": (f"exp({inside})", lambda: out), "Log": (f"1/{x}", lambda: 1 / ins[0]),
        "Tanh": (f"1 − tanh({inside})²", lambda: 1 - out ** 2),
        "Sigmoid": (f"σ({inside})·(1 − σ({inside}))", lambda: out * (1 - out)),
        "Sqrt": (f"1/(2·√{x})", lambda: 0.5 / out),
        "Sin": (f"cos({inside})", lambda: np.cos(ins[0])),
        "Cos": (f"−sin({inside})", lambda: -np.sin(ins[0])),
    }
    if kind in formulas and j == 0:
        symbol, f = formulas[kind]
        return symbol, _known(f, out, ins[0])
    if kind == "Relu" and j == 0:
        return f"1 if {x} > 0 else 0", _known(lambda: ins[0] > 0, ins[0])
    if kind in ("Maximum", "Minimum") and len(ins) == 2:
        # TensorFlow sends the gradient to the first input on a tie
        other = name(op.inputs[1 - j], ATOM)
        wins = ("≥" if j == 0 else ">") if kind == "Maximum" else ("≤" if j == 0 else "<")
        compare = np.greater_equal if kind == "Maximum" else np.less_equal
        return f"1 if {x} {wins} {other} else 0", _known(
            lambda: compare(ins[0], ins[1]) if j == 0 else ~compare(ins[0], ins[1]), *ins)
    if kind in ("Mean", "Sum") and j == 0:
        count = _size(op.inputs[0]) // max(_size(op.outputs[0]), 1)
        if kind == "Sum" or count <= 1:
            return "1", None
        return f"1/{count}", np.array(1 / count)
    return None


def _known(f: Callable[[], np.ndarray], *needed: np.ndarray | None) -> np.ndarray | None:
    """``f()``, the numbers of a local derivative, when the values it needs were kept."""
    if any(n is None for n in needed):
        return None
    with np.errstate(all="ignore"):  # 0 ** -1 is inf, and a caption may say so
        return np.asarray(f(), dtype=np.float64)


def _pow_local(op: Op, j: int, name: _Names, ins: list[np.ndarray | None],
               out: np.ndarray | None) -> tuple[str, np.ndarray | None]:
    base, exponent = name(op.inputs[0], ATOM), name(op.inputs[1], ATOM)
    if j == 1:
        return f"{name(op.outputs[0], PRODUCT)}·log({base})", _known(
            lambda: out * np.log(ins[0]), out, ins[0])
    value = _known(lambda: ins[1] * ins[0] ** (ins[1] - 1), *ins)
    power = _small_int(op.inputs[1], name)
    if power is None:
        return f"{exponent}·{base}^({exponent} − 1)", value
    if power in (0, 1):
        return str(power), None
    if power == 2:
        return f"2·{name(op.inputs[0], PRODUCT)}", value
    return f"{power}·{base}{_superscript(power - 1)}", value


def _accumulations(rec: Recording) -> dict[int, list[tuple[TensorNode, Op]]]:
    """For each step that completes a gradient summed over paths: the tensor, and the AddN.

    TensorFlow adds the shares of a tensor used more than once (an ``AddN`` of the gradient
    call itself, in no step): when the last consumer's step has run, or at the end for a
    source. Its inputs are shares the steps sent to that tensor.
    """
    order = {step.id: i for i, step in enumerate(rec.backward_steps)}
    shares: dict[tuple[int, str], list[tuple[BackwardStep, TensorNode]]] = {}
    for step in rec.backward_steps:
        for node, grad in zip(step.forward.inputs, step.downstream, strict=False):
            if grad is not None:
                shares.setdefault((step.gradient_call, grad.key), []).append((step, node))
    found: dict[int, list[tuple[TensorNode, Op]]] = {}
    for op in rec.ops:
        if op.type != "AddN" or op.gradient_call is None or op.region != op.gradient_call:
            continue
        sent = [shares.get((op.gradient_call, grad.key), []) for grad in op.inputs]
        common = set.intersection(*({node.key for _, node in s} for s in sent)) if sent else set()
        if len(common) != 1:
            continue  # not the shares of one tensor: say nothing rather than guess
        key = common.pop()
        last = max((step for s in sent for step, node in s if node.key == key),
                   key=lambda step: order[step.id])
        node = next(node for s in sent for _, node in s if node.key == key)
        found.setdefault(last.id, []).append((node, op))
    return found


def _sum_caption(target: str, node: TensorNode, addn: Op, name: _Names) -> str:
    shares = " + ".join(_text(grad) for grad in addn.inputs)
    total = _text(addn.outputs[0]) if addn.outputs else "?"
    return f"d {target} / d {name(node)} = {shares} = {total} ({len(addn.inputs)} paths)"


def _outputs(op: Op, name: _Names) -> str:
    return ", ".join(name(n) for n in op.outputs) or op.type


def _plain_matmul(op: Op) -> bool:
    """A 2-D ``a @ b`` with no transposes (the recording keeps no attributes: check shapes)."""
    a, b, out = (n.shape for n in (*op.inputs[:2], op.outputs[0]))
    if not (a and b and out and len(a) == len(b) == len(out) == 2):
        return False
    values = [_array(n) for n in (*op.inputs[:2], op.outputs[0])]
    if all(v is not None for v in values):
        return values[0].shape[1] == values[1].shape[0] and bool(
            np.allclose(values[0] @ values[1], values[2], rtol=1e-3, atol=1e-5))
    return a[1] == b[0] and out == (a[0], b[1]) and a[0] != a[1] and b[0] != b[1]


def _keys(nodes: list[TensorNode | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.key for n in nodes if n is not None))


def _array(node: TensorNode) -> np.ndarray | None:
    value = node.value
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return value.astype(np.float64)
    return None


def _scalar(value: np.ndarray | Summary | None) -> float | None:
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "fiu":
        return float(value.reshape(()))
    return None


def _small_int(node: TensorNode, name: _Names) -> int | None:
    """An exponent to write as a superscript: a small whole number not on the gradient path."""
    number = _scalar(node.value)
    if number is None or name.depends(node) or number != round(number) or abs(number) > 9:
        return None
    return int(number)


def _superscript(power: int) -> str:
    return str(power).translate(SUPERSCRIPT)


def _size(node: TensorNode) -> int:
    return int(np.prod(node.shape)) if node.shape and None not in node.shape else 1


def _text(node: TensorNode) -> str:
    return _numbers(node.value, node.shape)


def _numbers(value: np.ndarray | Summary | None, shape) -> str:
    """``6.0``, ``[1.0 2.0]``; a big tensor as its shape and mean: ``⟨64×10 mean 0.01⟩``."""
    if isinstance(value, np.ndarray) and value.size <= INLINE:
        return format_value(value)
    dims = "×".join("?" if d is None else str(d) for d in shape) if shape is not None else "?"
    if isinstance(value, Summary):
        return f"⟨{dims} mean {format_number(value.mean)}⟩"
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        return f"⟨{dims} mean {format_number(float(value.mean()))}⟩"
    return f"⟨{dims or 'scalar'}, value not kept⟩"
