"""The backward pass replayed as data: steps in TensorFlow's order, captions with the numbers."""

import builtins
import doctest
import re
from pathlib import Path

import pytest
import tensorflow as tf

import tapeviz
from tapeviz.replay import ReplayStep, replay_steps
from tapeviz.serialize import loads

from .examples import EXAMPLE_2, record_source

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"

EXAMPLE_2_CAPTIONS = [
    "d position / d time² = 1.0 × 4.9 = 4.9",
    "d position / d time = 4.9 × 2·time = 4.9 × 0.0 = 0.0",
    "d position / d time = 0.0 × 1 = 0.0",
    # the outer tape differentiates the ops of the inner gradient call: speed = 9.8·t
    "inner_tape.gradient(position, time) computed speed = 9.8·time¹: "
    "d speed / d time¹ = 1.0 × 9.8 = 9.8",
    "inner_tape.gradient(position, time) computed time¹: d speed / d time = 9.8 × 1 = 9.8",
    "d speed / d time = 9.8 × 1 = 9.8",
]


def captions(rec):
    return [step.caption for step in replay_steps(rec)]


def op_types(rec, steps):
    return [rec.ops[step.op].type for step in steps]


def golden(name):
    return loads((GOLDEN / f"{name}.json").read_text())


def test_seed_example_1_square_then_the_variable_read():
    x = tf.Variable(3.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = tf.square(x)
        dy_dx = tape.gradient(y, x)

    steps = replay_steps(rec)
    assert op_types(rec, steps) == ["Square", "ReadVariableOp"]
    assert [s.caption for s in steps] == ["d y / d x = 1.0 × 2·x = 1.0 × 6.0 = 6.0",
                                          "d y / d x = 6.0 × 1 = 6.0"]
    square = steps[0]
    assert [rec.ops[i].phase for i in square.local_ops] == ["backward"] * len(square.local_ops)
    assert {rec.ops[i].region for i in square.local_ops} == {square.region}
    assert rec.tensors[square.downstream[0]].value == 6.0


def test_seed_example_1_from_its_golden_recording_uses_the_books_names():
    rec = golden("example_1")
    assert op_types(rec, replay_steps(rec)) == ["Square", "ReadVariableOp"]
    assert captions(rec) == [
        "d result / d input_var = 1.0 × 2·input_var = 1.0 × 6.0 = 6.0",
        "d result / d input_var = 6.0 × 1 = 6.0"]


def test_seed_example_2_inner_pass_then_the_outer_pass_reaches_9_8():
    rec, _ = record_source(EXAMPLE_2)
    steps = replay_steps(rec)
    assert captions(rec) == EXAMPLE_2_CAPTIONS
    assert op_types(rec, steps) == ["Mul", "Pow", "ReadVariableOp"] * 2
    inner_call, outer_call = rec.gradient_calls
    inner, outer = steps[:3], steps[3:]
    assert {rec.region(s.region).gradient_call for s in inner} == {inner_call.id}
    assert {rec.region(s.region).gradient_call for s in outer} == {outer_call.id}
    # the outer pass differentiates ops that the inner gradient call ran
    assert [rec.ops[s.op].gradient_call for s in outer[:2]] == [inner_call.id] * 2
    assert rec.tensors[outer[-1].downstream[0]] is rec.named("acceleration")


def test_seed_example_2_from_its_golden_recording():
    assert captions(golden("example_2")) == EXAMPLE_2_CAPTIONS


def test_a_gradient_summed_over_paths_says_so():
    x = tf.Variable(3.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = x * x + x
        dy_dx = tape.gradient(y, x)

    steps = replay_steps(rec)
    assert op_types(rec, steps) == ["AddV2", "Mul"] + ["ReadVariableOp"] * 3
    assert [s.caption for s in steps] == [
        "d y / d (x·x) = 1.0 × 1 = 1.0; d y / d x = 1.0 × 1 = 1.0",
        "d y / d x = 1.0 × x = 1.0 × 3.0 = 3.0; d y / d x = 1.0 × x = 1.0 × 3.0 = 3.0",
        "d y / d x = 1.0 × 1 = 1.0",
        "d y / d x = 3.0 × 1 = 3.0",
        "d y / d x = 3.0 × 1 = 3.0; d y / d x = 1.0 + 3.0 + 3.0 = 7.0 (3 paths)",
    ]
    variable = rec.ops[0].inputs[0]
    assert [s.accumulated for s in steps] == [()] * 4 + [(variable.key,)]
    # each read of x gets the gradient that flowed to its own output
    mul = rec.ops[steps[1].op]
    shares = dict(zip((n.key for n in mul.inputs), steps[1].downstream, strict=True))
    reads = {rec.ops[s.op].outputs[0].key: s.upstream for s in steps[3:]}
    assert reads == {key: (share,) for key, share in shares.items()}
    addn = [op for op in rec.ops if op.type == "AddN"]
    assert len(addn) == 1 and addn[0].index in steps[-1].local_ops
    assert addn[0].outputs[0] is rec.named("dy_dx") and float(dy_dx) == 7.0


def test_an_intermediate_used_twice_is_summed_before_its_own_step():
    c = tf.constant([0.0, 1.0])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            tape.watch(c)
            h = tf.exp(c)
            y = h * h
        dy_dc = tape.gradient(y, c)

    steps = replay_steps(rec)
    assert op_types(rec, steps) == ["Mul", "Exp"]
    assert steps[0].caption == (
        "d y / d h = [1.0 1.0] × h = [1.0 1.0] × [1.0 2.718] = [1.0 2.718]; "
        "d y / d h = [1.0 1.0] × h = [1.0 1.0] × [1.0 2.718] = [1.0 2.718]; "
        "d y / d h = [1.0 2.718] + [1.0 2.718] = [2.0 5.437] (2 paths)")
    assert steps[0].accumulated == (rec.named("h").key,)
    assert steps[1].caption == (
        "d y / d c = [2.0 5.437] × exp(c) = [2.0 5.437] × [1.0 2.718] = [2.0 14.78]")


def test_one_neuron_in_tensorflows_order_with_its_gradients():
    w, b = tf.Variable(0.5), tf.Variable(0.1)
    x, target = tf.constant(2.0), tf.constant(1.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            z = w * x + b
            a = tf.sigmoid(z)
            loss = (a - target) ** 2
        grads = tape.gradient(loss, [w, b])

    steps = replay_steps(rec)
    assert [s.index for s in steps] == list(range(len(rec.backward_steps)))
    assert [s.region for s in steps] == [b.id for b in rec.backward_steps]
    assert [s.op for s in steps] == [b.forward.index for b in rec.backward_steps]
    for step, recorded in zip(steps, rec.backward_steps, strict=True):
        assert step.upstream == tuple(dict.fromkeys(g.key for g in recorded.upstream if g))
        assert step.downstream == tuple(dict.fromkeys(g.key for g in recorded.downstream if g))
    assert op_types(rec, steps) == ["Pow", "Sub", "Sigmoid", "AddV2", "Mul",
                                    "ReadVariableOp", "ReadVariableOp"]
    assert [s.caption for s in steps] == [
        "d loss / d (a − target) = 1.0 × 2·(a − target) = 1.0 × -0.4995 = -0.4995",
        "d loss / d a = -0.4995 × 1 = -0.4995",
        "d loss / d z = -0.4995 × σ(z)·(1 − σ(z)) = -0.4995 × 0.1874 = -0.09359",
        "d loss / d (w·x) = -0.09359 × 1 = -0.09359; d loss / d b = -0.09359 × 1 = -0.09359",
        "d loss / d w = -0.09359 × x = -0.09359 × 2.0 = -0.1872",
        "d loss / d b = -0.09359 × 1 = -0.09359",
        "d loss / d w = -0.1872 × 1 = -0.1872",
    ]
    assert rec.tensors[steps[-1].downstream[0]].value == pytest.approx(float(grads[0]))


def test_a_name_like_script_stays_plain_text_in_captions():
    v = tf.Variable(2.0, name="<script>")
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            out = tf.exp(v)
        g = tape.gradient(out, v)
    assert captions(rec) == ["d out / d v (<script>) = 1.0 × exp(v (<script>)) = 1.0 × 7.389 "
                             "= 7.389", "d out / d v (<script>) = 7.389 × 1 = 7.389"]


def test_big_tensors_show_shape_and_mean_and_no_signed_zero():
    big = tf.Variable(tf.ones((10, 10)))
    x = tf.Variable(0.0)
    with tapeviz.record() as rec:
        with tf.GradientTape(persistent=True) as tape:
            total = tf.reduce_sum(big * 2.0)
            y = tf.square(x) * -1.0
        g = tape.gradient(total, big)
        dy_dx = tape.gradient(y, x)
    assert captions(rec) == [
        "d total / d (big·2.0) = 1.0 × 1 = ⟨10×10 mean 1.0⟩",
        "d total / d big = ⟨10×10 mean 1.0⟩ × 2.0 = ⟨10×10 mean 2.0⟩",
        "d total / d big = ⟨10×10 mean 2.0⟩ × 1 = ⟨10×10 mean 2.0⟩",
        "d y / d x² = 1.0 × -1.0 = -1.0",
        "d y / d x = -1.0 × 2·x = -1.0 × 0.0 = 0.0",  # TensorFlow's -0.0, shown as 0.0
        "d y / d x = 0.0 × 1 = 0.0",
    ]


LOCAL_DERIVATIVES = {
    "log": (lambda x, W: tf.math.log(x),
            ["d y / d x = [1.0 1.0] × 1/x = [1.0 1.0] × [2.0 0.5] = [2.0 0.5]"]),
    "tanh": (lambda x, W: tf.tanh(x),
             ["d y / d x = [1.0 1.0] × 1 − tanh(x)² = [1.0 1.0] × [0.7864 0.07065] "
              "= [0.7864 0.07065]"]),
    "relu": (lambda x, W: tf.nn.relu(x - 1.0),
             ["d y / d (x − 1.0) = [1.0 1.0] × 1 if (x − 1.0) > 0 else 0 = [1.0 1.0] × "
              "[0.0 1.0] = [0.0 1.0]", "d y / d x = [0.0 1.0] × 1 = [0.0 1.0]"]),
    "sub": (lambda x, W: 1.0 - x, ["d y / d x = [1.0 1.0] × −1 = [-1.0 -1.0]"]),
    "div": (lambda x, W: 1.0 / x,
            ["d y / d x = [1.0 1.0] × −1.0/x² = [1.0 1.0] × [-4.0 -0.25] = [-4.0 -0.25]"]),
    "pow": (lambda x, W: x ** 3,
            ["d y / d x = [1.0 1.0] × 3·x² = [1.0 1.0] × [0.75 12.0] = [0.75 12.0]"]),
    "matmul": (lambda x, W: tf.reduce_mean(tf.reshape(x, (1, 2)) @ W), [
        "d y / d (Reshape(x) @ W) = 1.0 × 1/3 = 1.0 × 0.3333 = [[0.3333 0.3333 0.3333]]",
        "d y / d Reshape(x) = [[0.3333 0.3333 0.3333]] @ Wᵀ = [[0.1667 1.0]]; d y / d W = "
        "Reshape(x)ᵀ @ [[0.3333 0.3333 0.3333]] = [[0.1667 0.1667 0.1667] [0.6667 0.6667 "
        "0.6667]]",
        "d y / d x = [[0.1667 1.0]] × 1, reshaped to (2): [0.1667 1.0]"]),
    "maximum": (lambda x, W: tf.maximum(x, 1.0),
                ["d y / d x = [1.0 1.0] × 1 if x ≥ 1.0 else 0 = [1.0 1.0] × [0.0 1.0] = "
                 "[0.0 1.0]"]),
    "minimum": (lambda x, W: tf.minimum(x, x * 2.0 - 1.0), [  # x and 2x - 1 = [0.0 3.0]
        "d y / d x = [1.0 1.0] × 1 if x ≤ (x·2.0 − 1.0) else 0 = [1.0 1.0] × [0.0 1.0] = "
        "[0.0 1.0]; d y / d (x·2.0 − 1.0) = [1.0 1.0] × 1 if (x·2.0 − 1.0) < x else 0 = "
        "[1.0 1.0] × [1.0 0.0] = [1.0 0.0]",
        "d y / d (x·2.0) = [1.0 0.0] × 1 = [1.0 0.0]",
        "d y / d x = [1.0 0.0] × 2.0 = [2.0 0.0]"]),
    "cross_entropy": (lambda x, W: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[1], logits=tf.reshape(x, (1, 2)) @ W)), [
        "d y / d SparseSoftmaxCrossEntropyWithLogits(…) = 1.0 × 1 = [1.0]",
        # softmax minus one-hot: logits [4.5 -0.5 2.25], their softmax [0.8992 0.0061 0.0948]
        "d y / d (Reshape(x) @ W) = [1.0] × (softmax(Reshape(x) @ W) − one_hot([1])) = "
        "[[0.8992 -0.9939 0.09477]]",
        "d y / d Reshape(x) = [[0.8992 -0.9939 0.09477]] @ Wᵀ = [[1.94 1.893]]; d y / d W = "
        "Reshape(x)ᵀ @ [[0.8992 -0.9939 0.09477]] = [[0.4496 -0.497 0.04739] [1.798 -1.988 "
        "0.1895]]",
        "d y / d x = [[1.94 1.893]] × 1, reshaped to (2): [1.94 1.893]"]),
}


@pytest.mark.parametrize("case", LOCAL_DERIVATIVES)
def test_local_derivatives_of_common_ops(case):
    f, expected = LOCAL_DERIVATIVES[case]
    x = tf.Variable([0.5, 2.0])
    W = tf.Variable([[1.0, -1.0, 0.5], [2.0, 0.0, 1.0]])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = f(x, W)
        grads = tape.gradient(y, [x, W])
    steps = replay_steps(rec)
    assert [s.caption for s in steps if rec.ops[s.op].type != "ReadVariableOp"] == expected


def test_an_op_without_a_formula_gets_a_generic_caption_that_is_true():
    x = tf.Variable([1.0, 4.0])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = tf.math.softplus(x)
        g = tape.gradient(y, x)
    assert captions(rec)[0] == "d y / d x via Softplus: upstream [1.0 1.0] → [0.7311 0.982]"


def test_a_variable_that_is_not_a_source_keeps_its_name():
    u, v = tf.Variable(1.0), tf.Variable(2.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = v * 2.0
        none = tape.gradient(y, u)
    assert captions(rec) == ["d y / d v = 1.0 × 2.0 = 2.0", "d y / d v = 2.0 × 1 = 2.0"]


def test_no_gradient_call_no_steps():
    x = tf.constant(3.0)
    with tapeviz.record() as rec:
        y = x * 2.0
    assert rec.ops and replay_steps(rec) == []


def test_public_api_and_frozen_steps():
    assert tapeviz.replay_steps is replay_steps
    step = replay_steps(golden("example_1"))[0]
    assert isinstance(step, ReplayStep)
    with pytest.raises(AttributeError):
        step.caption = "changed"


def test_readme_replay_section_runs_as_written(monkeypatch):
    # doctest shows values with Python's own displayhook, which sets builtins._; IPython stops
    # keeping `_` for a shell started after that (tests/test_magics.py needs it)
    monkeypatch.setattr(builtins, "_", None, raising=False)
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"## Replay the backward pass\n(.*?)(?=\n## )", readme, re.S).group(1)
    examples = re.findall(r"```python\n(.*?)```", section, re.S)
    assert examples and ">>>" in examples[0]
    test = doctest.DocTestParser().get_doctest(examples[0], {}, "README", "README.md", 0)
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0 and result.attempted >= 3
