"""Gradients on the graph, the chain rule, diagnostics ("why is my gradient None?"), --check."""

import numpy as np
import pytest
import tensorflow as tf

import tapeviz

from .conftest import notes_of
from .examples import EXAMPLE_1, EXAMPLE_2, record_source


def kinds(rec):
    return [finding.kind for finding in rec.diagnostics]


def test_example_1_input_var_carries_value_3_and_gradient_6():
    rec, _ = record_source(EXAMPLE_1)
    read = next(op for op in rec.ops if op.type == "ReadVariableOp")
    input_var = read.inputs[0]
    assert input_var.name == "input_var"
    assert input_var.value == 3.0 and input_var.grad == 6.0
    assert rec.named("result").grad == 1.0  # d result / d result
    assert rec.target is rec.named("result")
    assert rec.diagnostics == []


def test_chain_rule_groups_backward_ops_under_the_forward_op_they_differentiate():
    rec, _ = record_source(EXAMPLE_1)
    square = next(op for op in rec.ops if op.type == "Square")
    step = next(s for s in rec.backward_steps if s.forward is square)
    assert step.title == "gradient of Square (result)"
    assert step.upstream[0].value == 1.0  # d result / d result flows in
    assert step.downstream[0].value == 6.0  # 2 x * upstream flows out, to x
    backward = [op for op in rec.ops if op.phase == "backward"]
    assert backward and all(op.differentiates == square.index for op in backward)
    assert all(op.region == step.id for op in backward)


def test_example_2_second_derivative_path():
    rec, _ = record_source(EXAMPLE_2)
    inner_call, outer_call = rec.gradient_calls
    # the last call (outer) differentiates the inner gradient computation: d speed / d time
    assert rec.target is rec.named("speed")
    time_node = next(op.inputs[0] for op in rec.ops if op.type == "ReadVariableOp")
    assert time_node.grad == pytest.approx(9.8)
    outer_steps = [s for s in rec.backward_steps if s.gradient_call == outer_call.id]
    differentiated = {s.forward.gradient_call for s in outer_steps}
    assert inner_call.id in differentiated  # the inner backward ops were differentiated again
    assert rec.named("acceleration").value == pytest.approx(9.8)
    assert "outer_tape.gradient(speed, time)" in tapeviz.to_dot(rec)


def test_explicit_target_gives_d_target_d_every_node():
    rec, ns = record_source(
        "w = tf.Variable([1.0, 2.0])\n"
        "x = tf.constant([3.0, 4.0])\n"
        "h = w * x\n"
        "loss = tf.reduce_sum(h * h)\n", target="loss", sources=["w"])
    assert rec.target is rec.named("loss")
    np.testing.assert_allclose(rec.named("h").grad, 2 * np.array([3.0, 8.0]))
    read = next(op for op in rec.ops if op.type == "ReadVariableOp")
    np.testing.assert_allclose(read.inputs[0].grad, [18.0, 64.0])  # 2 h x
    assert rec.named("x").grad is None  # a constant is not watched by any tape
    assert rec.diagnostics == []


CASES = {
    "unwatched": (
        "x = tf.constant(3.0)\n"
        "with tf.GradientTape() as tape:\n"
        "    y = x * x\n"
        "grad = tape.gradient(y, x)\n", "x"),
    "left_tensorflow": (
        "x = tf.Variable(3.0)\n"
        "with tf.GradientTape() as tape:\n"
        "    y = tf.square(tf.constant(x.numpy()))\n"
        "grad = tape.gradient(y, x)\n", "x"),
    "integer_dtype": (
        "x = tf.constant(3)\n"
        "with tf.GradientTape() as tape:\n"
        "    tape.watch(x)\n"
        "    y = x * x\n"
        "grad = tape.gradient(y, x)\n", "x"),
    "not_differentiable": (
        "x = tf.Variable([1.5, 2.5])\n"
        "with tf.GradientTape() as tape:\n"
        "    y = tf.reduce_sum(tf.round(x) * 2.0)\n"
        "grad = tape.gradient(y, x)\n", "Round"),
    "outside_tape": (
        "x = tf.Variable(2.0)\n"
        "h = x * 3.0\n"
        "with tf.GradientTape() as tape:\n"
        "    y = h * h\n"
        "grad = tape.gradient(y, x)\n", "Mul"),
    "disconnected": (
        "x = tf.Variable(1.0)\n"
        "z = tf.Variable(2.0)\n"
        "with tf.GradientTape() as tape:\n"
        "    y = z * 2.0\n"
        "grad = tape.gradient(y, x)\n", "x"),
}


@pytest.mark.parametrize("kind", CASES)
def test_each_diagnostic_is_found_and_marked(kind):
    source, mentioned = CASES[kind]
    rec, ns = record_source(source)
    assert ns["grad"] is None  # the situation really gives a None gradient
    assert kinds(rec) == [kind]
    finding = rec.diagnostics[0]
    assert mentioned in finding.message and len(finding.message) > 80
    assert finding.nodes or finding.ops
    dot = tapeviz.to_dot(rec)
    assert f"&#9888; {kind}" in dot and 'penwidth=3' in dot


def test_a_variable_made_with_trainable_false_is_unwatched_not_undifferentiable():
    # the TensorFlow autodiff guide's cell: x1's gradient is None because no tape watches it
    rec, ns = record_source(
        "x0 = tf.Variable(3.0, name='x0')\n"
        "x1 = tf.Variable(3.0, name='x1', trainable=False)\n"
        "with tf.GradientTape() as tape:\n"
        "    y = (x0**2) + (x1**2)\n"
        "grad = tape.gradient(y, [x0, x1])\n")
    assert ns["grad"][1] is None and float(ns["grad"][0]) == 6.0
    assert kinds(rec) == ["unwatched"]  # was "not_differentiable: AddV2 ... has no gradient"
    finding = rec.diagnostics[0]
    assert finding.message.startswith(
        "x1 is a tf.Variable made with trainable=False, and a GradientTape only watches "
        "trainable variables by itself, so it never recorded how y depends on x1")
    assert "tape.watch(x1)" in finding.message and "trainable=True" in finding.message
    assert finding.nodes == (rec.named("x1").key,)
    assert rec.named("x1").trainable is False and rec.named("x0").trainable is True


def test_a_variable_a_tape_without_watch_accessed_variables_did_not_watch_is_explained():
    # the guide's cell: only x1 is watched, so x0's gradient is None (no finding before)
    rec, ns = record_source(
        "x0 = tf.Variable(0.0)\n"
        "x1 = tf.Variable(10.0)\n"
        "with tf.GradientTape(watch_accessed_variables=False) as tape:\n"
        "    tape.watch(x1)\n"
        "    ys = tf.reduce_sum(tf.math.sin(x0) + tf.nn.softplus(x1))\n"
        "grad = tape.gradient(ys, {'x0': x0, 'x1': x1})\n")
    assert ns["grad"]["x0"] is None and ns["grad"]["x1"] is not None
    assert kinds(rec) == ["unwatched"]
    assert rec.diagnostics[0].message.startswith(
        "tape was made with watch_accessed_variables=False and watches only what is passed "
        "to tape.watch(), so it never recorded how ys depends on x0")
    assert [t.watches_variables for t in rec.tapes] == [False]


@pytest.mark.parametrize("leaves", [
    "tf.constant(x.numpy() ** 2)",       # NumPy math on the value: it never comes back unchanged
    "tf.constant(float(x) * 2.0)",
    "tf.constant(np.square(x))",
    "tf.square(tf.constant(x.numpy()))",
])
def test_leaving_tensorflow_is_seen_where_it_happens(leaves):
    rec, ns = record_source("x = tf.Variable(3.0)\n"
                            "with tf.GradientTape() as tape:\n"
                            f"    y = {leaves}\n"
                            "grad = tape.gradient(y, x)\n")
    assert ns["grad"] is None
    assert kinds(rec) == ["left_tensorflow"]
    assert "x was turned into a NumPy/Python value with" in rec.diagnostics[0].message


def test_the_magic_names_the_line_where_the_value_left_tensorflow(run_tape):
    rec, result, out = run_tape("v = tf.Variable(3.0)\n"
                                "with tf.GradientTape() as tape:\n"
                                "    y = tf.constant(v.numpy() ** 2)\n"
                                "g = tape.gradient(y, v)\n", "")
    assert result.success and out.stdout == ""
    assert kinds(rec) == ["left_tensorflow"]
    assert "with .numpy() on line 3 (`y = tf.constant(v.numpy() ** 2)`)" in notes_of(out)


def test_converting_values_outside_a_tape_is_not_a_finding():
    rec, _ = record_source("x = tf.Variable(3.0)\n"
                           "start = x.numpy()\n"
                           "with tf.GradientTape() as tape:\n"
                           "    y = x * x\n"
                           "print_me = float(y)\n"
                           "grad = tape.gradient(y, x)\n")
    assert rec.conversions == [] and rec.diagnostics == []


def test_stop_recording_is_outside_the_tape():
    rec, ns = record_source(
        "x = tf.Variable(2.0)\n"
        "with tf.GradientTape() as tape:\n"
        "    with tape.stop_recording():\n"
        "        h = x * 3.0\n"
        "    y = h * h\n"
        "grad = tape.gradient(y, x)\n")
    assert ns["grad"] is None and kinds(rec) == ["outside_tape"]


def test_argmax_is_not_differentiable():
    rec, ns = record_source(
        "x = tf.Variable([1.0, 3.0, 2.0])\n"
        "with tf.GradientTape() as tape:\n"
        "    y = tf.cast(tf.argmax(x), tf.float32) * 2.0\n"
        "grad = tape.gradient(y, x)\n")
    assert ns["grad"] is None and kinds(rec) == ["not_differentiable"]
    assert "ArgMax" in rec.diagnostics[0].message


MLP = """\
keras_rng = np.random.default_rng(0)
x = tf.constant(keras_rng.normal(size=(5, 3)), dtype=tf.float32)
y = tf.constant(keras_rng.normal(size=(5, 1)), dtype=tf.float32)
W1 = tf.Variable(keras_rng.normal(size=(3, 4)) * 0.5, dtype=tf.float32)
b1 = tf.Variable(tf.zeros(4))
W2 = tf.Variable(keras_rng.normal(size=(4, 1)) * 0.5, dtype=tf.float32)
b2 = tf.Variable(tf.zeros(1))
with tf.GradientTape() as tape:
    hidden = tf.nn.relu(tf.matmul(x, W1) + b1)
    loss = tf.reduce_mean(tf.square(tf.matmul(hidden, W2) + b2 - y))
grads = tape.gradient(loss, [W1, b1, W2, b2])
"""


def test_gradient_check_agrees_on_a_two_layer_mlp():
    rec, _ = record_source(MLP, check=True)
    assert set(rec.checks) == {"W1", "b1", "W2", "b2"}
    assert all(isinstance(diff, float) and diff < 1e-2 for diff in rec.checks.values()), \
        rec.checks
    assert rec.diagnostics == []  # a correct cell: no false alarms
    assert "check W1: max |tape - finite differences| < 0.01: they agree" in rec.summary()


def test_gradient_check_explains_what_it_skips():
    rec, _ = record_source(
        "x = tf.Variable(tf.ones((20, 20)))\n"
        "with tf.GradientTape() as tape:\n"
        "    y = tf.reduce_sum(x * x)\n"
        "g = tape.gradient(y, x)\n", check=True)
    assert rec.checks == {"x": "not checked: 400 elements (the check is for at most 256)"}


@pytest.mark.parametrize("source", [EXAMPLE_1, EXAMPLE_2, MLP])
def test_correct_cells_report_nothing(source):
    rec, _ = record_source(source)
    assert rec.diagnostics == []


def test_annotation_changes_nothing_the_user_sees(ipython):
    from IPython.utils.capture import capture_output

    cell = ("import numpy as np\n" + MLP
            + "print(float(loss), [float(tf.reduce_sum(g)) for g in grads])\n"
            + "print(W1.numpy().sum(), tape._tape is None)\n")
    with capture_output() as plain:
        ipython.run_cell(cell)
    with capture_output() as taped:
        ipython.run_cell("%%tape --quiet --check --target loss --sources W1,b2\n" + cell)
    assert taped.stdout == plain.stdout and "True" in plain.stdout
    rec = ipython.user_ns["_tape"]
    assert set(rec.checks) == {"W1", "b2"}
    np.testing.assert_allclose(rec.named("grads[1]").value,
                               ipython.user_ns["grads"][1].numpy())


def test_magic_shows_the_diagnosis_under_the_picture_not_on_stdout(run_tape):
    _, result, out = run_tape(CASES["unwatched"][0], "")
    assert result.success and out.stdout == ""
    notes = notes_of(out)
    assert "\N{WARNING SIGN} unwatched: x is a constant tensor" in notes
    assert "tape.watch(x)" in notes
    assert len(out.outputs) == 2 and "image/svg+xml" in out.outputs[0].data  # picture, note


def test_unknown_target_or_sources_are_explained():
    rec, _ = record_source(EXAMPLE_1, target="nonexistent * 2")
    assert "--target 'nonexistent * 2': NameError" in rec.summary()
    rec, _ = record_source(EXAMPLE_1, sources=["input_var", "W9"])
    assert "--sources: W9 is not a source of the last tape.gradient call" in rec.summary()
    assert rec.named("result").grad == 1.0  # the rest still works


def test_constants_the_tape_never_watched_carry_no_gradient():
    rec, _ = record_source(
        "w = tf.Variable([1.0, 2.0])\n"
        "y_true = tf.constant([0.5, 0.5])\n"
        "with tf.GradientTape() as tape:\n"
        "    loss = tf.reduce_sum(tf.square(w - y_true))\n"
        "g = tape.gradient(loss, w)\n")
    assert rec.named("y_true").grad is None  # tape.gradient(loss, y_true) would be None
    read = next(op for op in rec.ops if op.type == "ReadVariableOp")
    np.testing.assert_allclose(read.inputs[0].grad, [1.0, 3.0])


def test_writes_of_every_kind_make_versions_with_their_values():
    v = tf.Variable([1.0, 1.0, 1.0])
    with tapeviz.record() as rec:
        v[0].assign(3.0)
        v.assign_add([1.0, 1.0, 1.0])
        v.scatter_nd_update([[2]], [7.0])
    versions = [t for t in rec.tensors.values() if t.is_variable]
    assert [t.value.tolist() for t in versions] == [
        [1.0, 1.0, 1.0], [3.0, 1.0, 1.0], [4.0, 2.0, 2.0], [4.0, 2.0, 7.0]]
    np.testing.assert_array_equal(versions[-1].value, v.numpy())


def test_a_tf_function_traced_while_recording_is_one_node_and_no_phantom_tape():
    v = tf.Variable(1.0)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = v * v
        return tape.gradient(y, v)

    with tapeviz.record() as rec:
        result = step()
    assert [op.label for op in rec.ops] == ["step()"]
    assert rec.tapes == [] and rec.gradient_calls == []
    assert not [note for note in rec.notes if "missed" in note]
    assert float(result) == 2.0
