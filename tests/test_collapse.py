"""Readable at any size: layers collapse into boxes, bookkeeping hides, a node budget holds."""

import re

import keras
import numpy as np
import tensorflow as tf

import tapeviz
from tapeviz import collapse
from tapeviz.options import Note, ViewOptions

KERAS_STEP = """\
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((8,)),
                          keras.layers.Dense(16, activation="relu", name="d1"),
                          keras.layers.Dense(16, activation="relu", name="d2"),
                          keras.layers.Dense(1, name="d3")], name="mlp")
optimizer = keras.optimizers.SGD(learning_rate=0.1, name="sgd")
loss_fn = keras.losses.MeanSquaredError()
x = tf.constant(np.random.default_rng(0).normal(size=(32, 8)), dtype=tf.float32)
y = tf.constant(np.random.default_rng(1).normal(size=(32, 1)), dtype=tf.float32)
model(x)
optimizer.build(model.trainable_variables)
"""

ONE_STEP = """\
with tf.GradientTape() as tape:
    loss = loss_fn(y, model(x))
grads = tape.gradient(loss, model.trainable_variables)
optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""


def keras_step():
    namespace = {"tf": tf, "keras": keras, "np": np}
    exec(KERAS_STEP, namespace)
    with tapeviz.record(namespace) as rec:
        exec(ONE_STEP, namespace)
    return rec


def node_count(dot):
    return len(re.findall(r"^\s*n\d+ \[", dot, re.M))


def box_titles(shown):
    return [box.title if isinstance(box, collapse.Group) else box.type for box in shown.boxes]


def test_three_dense_layers_trained_one_step_fit_in_40_nodes():
    rec = keras_step()
    dot = tapeviz.to_dot(rec)
    assert node_count(dot) <= 40
    titles = box_titles(collapse.view(rec))
    for name in ("d1 (Dense)", "d2 (Dense)", "d3 (Dense)", "mean_squared_error "
                 "(MeanSquaredError)", "gradient of d1", "gradient of d3", "sgd (SGD)"):
        assert name in titles
    assert "Collapsed" not in dot  # no budget trouble at this size


def test_all_ops_draws_every_op():
    rec = keras_step()
    dot = tapeviz.to_dot(rec, all_ops=True)
    op_nodes = re.findall(r'^\s*n\d+ \[label=<<b>[^<]*</b>>', dot, re.M)
    assert len(op_nodes) == len(rec.ops) > 60
    assert "BroadcastGradientArgs" in dot and "BroadcastGradientArgs" not in tapeviz.to_dot(rec)


def test_dot_is_identical_across_runs():
    assert tapeviz.to_dot(keras_step()) == tapeviz.to_dot(keras_step())


def test_expand_and_depth():
    rec = keras_step()
    opened = box_titles(collapse.view(rec, ViewOptions(expand=("d2",))))
    assert "d2 (Dense)" not in opened and "MatMul" in opened and "d1 (Dense)" in opened
    outer = box_titles(collapse.view(rec, ViewOptions(depth=1)))
    assert "mlp (Sequential)" in outer and "d1 (Dense)" not in outer
    assert "gradient of mlp" in outer


def test_budget_collapses_further_and_says_so():
    rec = keras_step()
    drawing = tapeviz.show(rec, budget=25)
    text = "Collapsed to 1 level(s) of layers/functions to stay within 25 nodes."
    assert text in drawing.source and node_count(drawing.source) <= 30
    whole = node_count(tapeviz.to_dot(rec, budget=1000))
    assert "Collapsed" not in tapeviz.to_dot(rec, budget=1000)
    # each note names the budget that undoes it: that one, and not one less
    collapsed, truncated = drawing.notes
    assert collapsed == Note("collapsed", text, (("budget", whole), ("all_ops", True)))
    assert "Collapsed" not in tapeviz.to_dot(rec, budget=whole)
    assert "Collapsed" in tapeviz.to_dot(rec, budget=whole - 1)
    assert str(collapsed) == f"{text} Use budget={whole} or all_ops=True to see more."
    assert truncated.kind == "truncated" and truncated.text.startswith("Showing the first")
    ((option, one_level),) = truncated.fixes
    assert option == "budget" and one_level < whole
    assert [n.kind for n in tapeviz.show(rec, budget=one_level).notes] == ["collapsed"]
    assert [n.kind for n in tapeviz.show(rec, budget=one_level - 1).notes] == \
        ["collapsed", "truncated"]


def test_budget_on_a_cell_with_nothing_to_collapse_draws_what_fits():
    namespace = {"tf": tf}
    with tapeviz.record(namespace) as rec:
        exec("t = tf.constant(0.0)\nfor _ in range(200):\n    t = t + 1.0\n", namespace)
    drawing = tapeviz.show(rec)
    assert node_count(drawing.source) <= 150
    (note,) = drawing.notes
    # 200 AddV2 ops, the 200 constants 1.0 they add and the 201 values of t
    assert note.kind == "truncated" and note.fixes == (("budget", 601),)
    assert note.text.endswith(" boxes (200 ops) to stay within 150 nodes.")
    assert note.text in drawing.source and "budget" not in drawing.source  # no voice in DOT
    assert tapeviz.show(rec, budget=601).notes == []


def reachable(shown, start, end):
    nexts = {}
    for tail, head in shown.edges:
        nexts.setdefault(tail, []).append(head)
    todo, seen = [start], {start}
    while todo:
        for head in nexts.get(todo.pop(), ()):
            if head not in seen:
                seen.add(head)
                todo.append(head)
    return end in seen


def test_hiding_bookkeeping_never_breaks_an_edge():
    x = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.reshape(x * x, (4,)) * 2.0)
        g = tape.gradient(y, x)
    shown = collapse.view(rec)
    drawn_types = {box.type for box in shown.boxes}
    assert "Reshape" in drawn_types  # the forward reshape means something: kept
    backward = [box.type for box in shown.boxes if box.phase == "backward"]
    assert "Reshape" not in backward and "Shape" not in backward  # bookkeeping: hidden
    seed = next(k for k, _ in shown.edges if k.startswith("t")
                and rec.tensors[k].is_constant and rec.tensors[k].value == 1.0)
    assert reachable(shown, seed, rec.named("g").key)  # the gradient still flows through
    variable = next(op.inputs[0] for op in rec.ops if op.type == "ReadVariableOp")
    assert reachable(shown, variable.key, rec.named("y").key)


class NaiveDense:
    """The book's from-scratch dense layer."""

    def __init__(self, w, b):
        self.W, self.b = w, b

    def __call__(self, inputs):
        return tf.nn.relu(tf.matmul(inputs, self.W) + self.b)


def naive_model(inputs, layers):
    for layer in layers:
        inputs = layer(inputs)
    return inputs


def test_the_users_own_functions_and_classes_group_too():
    rng = np.random.default_rng(0)
    layers = [NaiveDense(tf.Variable(rng.uniform(size=(4, 3)), dtype=tf.float32),
                         tf.Variable(tf.zeros(3))),
              NaiveDense(tf.Variable(rng.uniform(size=(3, 2)), dtype=tf.float32),
                         tf.Variable(tf.zeros(2)))]
    x = tf.ones((5, 4))
    with tapeviz.record() as rec:
        out = naive_model(x, layers)
    titles = box_titles(collapse.view(rec))
    assert titles == ["NaiveDense.__call__", "NaiveDense.__call__"]  # one box per call
    assert box_titles(collapse.view(rec, ViewOptions(depth=1))) == ["naive_model"]
    assert rec.named("out").shape == (5, 2)
