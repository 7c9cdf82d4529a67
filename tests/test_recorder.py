"""Faithful recording: what tapeviz.record() sees, asserted on the Recording itself."""

import numpy as np
import pytest
import tensorflow as tf

import tapeviz
from tapeviz import _tfhooks


def forward_types(rec):
    return [op.type for op in rec.ops if op.phase == "forward"]


def test_example_1_draws_variable_read_square_and_backward_ops():
    input_var = tf.Variable(initial_value=3.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            result = tf.square(input_var)
        gradient = tape.gradient(result, input_var)

    read, square, *backward = rec.ops
    # input_var -> ReadVariableOp -> Square -> result, although tf.square reads the variable
    # on TensorFlow's C++ fast path, which op callbacks alone never see
    assert (read.type, square.type) == ("ReadVariableOp", "Square")
    assert read.inputs[0].is_variable and read.inputs[0].name == "input_var"
    assert read.inputs[0].value == 3.0
    assert square.inputs == read.outputs
    assert square.outputs[0].name == "result" and square.outputs[0].value == 9.0
    assert [op.phase for op in backward] == ["backward"] * len(backward) and backward
    assert backward[-1].outputs[0].name == "gradient"
    assert backward[-1].outputs[0].value == 6.0 and float(gradient) == 6.0
    assert float(input_var.numpy()) == 3.0  # the variable is unchanged


def test_tensors_are_identified_by_tensorflow_ids():
    x = tf.constant([1.0, 2.0])
    with tapeviz.record() as rec:
        y = x * 2.0
        z = y + y
    assert rec.named("y").id == _tfhooks.tensor_id(y)
    assert rec.named("z").id == _tfhooks.tensor_id(z)
    add = rec.ops[-1]
    assert add.inputs[0] is add.inputs[1] is rec.named("y")


def test_fast_path_variable_reads_appear_as_variable_nodes():
    v = tf.Variable([1.0, 2.0], name="weights")
    x = tf.constant([3.0, 4.0])
    with tapeviz.record() as rec:
        y = x * v
    assert forward_types(rec) == ["ReadVariableOp", "Mul"]
    variable = rec.ops[0].inputs[0]
    assert variable.kind == "variable" and variable.name == "v"
    assert variable.variable_name == "weights"
    assert variable.title == "v (weights)"  # the Python name, and the variable's own
    assert rec.ops[1].inputs[1] is rec.ops[0].outputs[0]
    np.testing.assert_array_equal(rec.named("y").value, [3.0, 8.0])


def test_example_2_nested_tapes_are_distinguishable():
    time = tf.Variable(0.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as outer_tape:
            with tf.GradientTape() as inner_tape:
                position = (4.9) * (time)**2
            speed = inner_tape.gradient(position, time)
        acceleration = outer_tape.gradient(speed, time)

    assert float(acceleration) == pytest.approx(9.8)
    outer, inner = rec.tapes
    assert (outer.name, inner.name) == ("outer_tape", "inner_tape")
    assert inner.parent == outer.id and outer.parent is None
    inner_call, outer_call = rec.gradient_calls
    assert (inner_call.tape, outer_call.tape) == (inner.id, outer.id)
    assert inner_call.parent == outer.id and outer_call.parent is None
    assert rec.region_title(inner_call.id) == "inner_tape.gradient(position, time)"

    forward = [op for op in rec.ops if op.phase == "forward"]
    assert {op.tapes for op in forward} == {(outer.id, inner.id)}
    inner_backward = [op for op in rec.ops if op.gradient_call == inner_call.id]
    outer_backward = [op for op in rec.ops if op.gradient_call == outer_call.id]
    # the inner gradient computation was itself recorded by the outer tape
    assert inner_backward and {op.tapes for op in inner_backward} == {(outer.id,)}
    assert outer_backward and {op.tapes for op in outer_backward} == {()}
    assert {op.phase for op in inner_backward + outer_backward} == {"backward"}
    assert rec.named("acceleration").value == pytest.approx(9.8)


def test_constants_are_leaves_with_values():
    x = tf.Variable(2.0)
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = 4.9 * x
        tape.gradient(y, x)
    constants = [t for t in rec.tensors.values() if t.is_constant]
    assert all(t.producer is None for t in constants)
    values = sorted(float(t.value) for t in constants)
    assert values[-1] == pytest.approx(4.9)
    assert 1.0 in values  # the seed of tape.gradient: d y / d y = 1
    literal = next(t for t in constants if float(t.value) == pytest.approx(4.9))
    assert any(literal in op.inputs for op in rec.ops if op.type == "Mul")


def test_keras_layers_and_optimizer_updates():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    x, y = tf.ones((4, 3)), tf.zeros((4, 2))
    model(x)  # builds everything before recording
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    names = {t.variable_name for t in rec.tensors.values() if t.is_variable}
    assert {"sequential/dense/kernel", "sequential/dense/bias"} <= names
    in_dense = [op for op in rec.ops if "dense" in op.layers]
    assert "MatMul" in [op.type for op in in_dense]
    updates = [op for op in rec.ops if op.type.startswith("Assign") and
               op.inputs[0].variable_name == "sequential/dense/kernel"]
    assert updates, "apply_gradients must show the update of the kernel"
    after = updates[-1].outputs[0]
    assert after.is_variable and after.version > 0
    np.testing.assert_allclose(after.value, model.layers[0].kernel.numpy(), rtol=1e-6)


def test_tf_function_call_is_one_node_named_after_the_function():
    @tf.function
    def affine(x):
        return x * 2.0 + 1.0

    plain = affine(tf.constant(1.0))
    with tapeviz.record() as rec:
        out = affine(tf.constant(1.0))
    assert [op.label for op in rec.ops] == ["affine()"]
    assert rec.ops[0].function == "affine"
    assert float(out) == float(plain) == 3.0
    assert rec.named("out").producer is rec.ops[0]


def test_persistent_tape_and_jacobian_are_backward_calls():
    x = tf.Variable([1.0, 2.0])
    with tapeviz.record() as rec:
        with tf.GradientTape(persistent=True) as tape:
            y = x * x
        first = tape.gradient(y, x)
        jac = tape.jacobian(y, x)
    assert rec.tapes[0].persistent
    assert [c.method for c in rec.gradient_calls] == ["gradient", "jacobian"]
    np.testing.assert_array_equal(first, [2.0, 4.0])
    np.testing.assert_array_equal(jac, [[2.0, 0.0], [0.0, 4.0]])


def test_each_variable_read_is_matched_to_the_gradient_of_its_own_output():
    # TensorFlow passes a ReadVariableOp's backward step neither its inputs nor its outputs
    x, big = tf.Variable(3.0), tf.Variable(tf.ones((2, 2)))
    with tapeviz.record() as rec:
        with tf.GradientTape(persistent=True) as tape:
            y = x * x + x
            total = tf.reduce_sum(big * 2.0)
        tape.gradient(y, x)
        tape.gradient(total, big)

    sent = {}  # (gradient call, gradient tensor key) -> keys of the tensors it is the gradient of
    for step in rec.backward_steps:
        for node, grad in zip(step.forward.inputs, step.downstream, strict=True):
            if grad is not None:
                sent.setdefault((step.gradient_call, grad.key), set()).add(node.key)
    reads = [s for s in rec.backward_steps if s.forward.type == "ReadVariableOp"]
    assert [s.forward.inputs[0].name for s in reads] == ["x", "x", "x", "big"]
    for step in reads:
        assert step.forward.outputs[0].key in sent[step.gradient_call, step.upstream[0].key]


def test_a_step_is_recorded_when_tensorflow_passes_only_the_inputs_its_gradient_needs():
    x = tf.Variable([0.5, 2.0])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = tf.reshape(x, (1, 2))  # Reshape's gradient gets its tensor, not its shape
        tape.gradient(y, x)
    assert [s.forward.type for s in rec.backward_steps] == ["Reshape", "ReadVariableOp"]
    reshape = rec.backward_steps[0]
    assert reshape.forward.outputs[0] is rec.named("y")
    assert {op.type for op in rec.ops if op.region == reshape.id} == {"Shape", "Reshape"}


def test_lists_of_gradients_get_indexed_names():
    w, b = tf.Variable([[1.0], [2.0]]), tf.Variable([0.5])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.matmul(tf.ones((1, 2)), w) + b)
        grads = tape.gradient(loss, [w, b])
    assert rec.named("grads[0]").id == _tfhooks.tensor_id(grads[0])
    assert rec.named("grads[1]").value.tolist() == [1.0]
    with pytest.raises(KeyError, match="Named tensors"):
        rec.named("nonexistent")


def test_big_tensors_are_summarized_not_copied():
    with tapeviz.record() as rec:
        big = tf.range(1000.0) + 1.0
    node = rec.named("big")
    assert node.shape == (1000,)
    assert (node.value.min, node.value.max) == (1.0, 1000.0)
    assert node.value.mean == pytest.approx(500.5)


def test_recording_stops_at_the_cap_and_the_cell_runs_on():
    with tapeviz.record(max_ops=100) as rec:
        total = tf.constant(0.0)
        for _ in range(300):
            total = total + 1.0
    assert float(total) == 300.0
    assert len(rec.ops) == 100 and rec.truncated
    assert "stopped after 100 ops" in rec.notes[0]


def test_no_op_block_gets_a_note():
    with tapeviz.record() as rec:
        _ = 1 + 1
    assert rec.ops == [] and "ran no TensorFlow op" in rec.notes[0]
    assert rec.summary() == "tapeviz: no TensorFlow op ran."


def test_variables_updated_by_hand_show_each_version():
    w = tf.Variable([1.0, 2.0])
    with tapeviz.record() as rec:
        w.assign_sub([0.5, 0.5])
        w.assign_add([1.0, 0.0])
    versions = [t for t in rec.tensors.values() if t.is_variable]
    assert [t.version for t in versions] == [0, 1, 2]
    assert [t.value.tolist() for t in versions] == [[1.0, 2.0], [0.5, 1.5], [1.5, 1.5]]
    np.testing.assert_array_equal(versions[-1].value, w.numpy())
    assert [op.type for op in rec.ops] == ["AssignSubVariableOp", "AssignAddVariableOp"]


def test_values_are_kept_for_the_first_tensors_and_the_named_ones(monkeypatch):
    from tapeviz import recorder

    monkeypatch.setattr(recorder, "VALUES", 10)
    w = tf.Variable(0.0)
    with tapeviz.record() as rec:
        total = tf.constant(0.0)
        for _ in range(30):
            total = total + 1.0
            w.assign_add(1.0)
    assert rec.ops[0].outputs[0].value == 1.0  # early tensors: values
    adds = [op.outputs[0] for op in rec.ops if op.type == "AddV2"]
    assert adds[-2].value is None and adds[-2].shape == ()  # later unnamed: shape, dtype
    assert rec.named("total").value == 30.0  # named ones get theirs at the end
    assert rec.named("w").value == 30.0
    assert "Values were kept for the first 10 tensors" in rec.summary()


def test_keras_fit_records_and_draws_collapsed():
    import keras

    keras.utils.set_random_seed(0)
    x = np.random.rand(16, 3).astype("float32")
    y = np.random.rand(16, 1).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="net")
    model.compile("sgd", "mse")
    with tapeviz.record() as rec:
        model.fit(x, y, epochs=2, batch_size=len(x), verbose=0)
    iterators = [op.outputs[0] for op in rec.ops if op.type == "AnonymousIteratorV3"]
    assert iterators and not any(node.is_variable for node in iterators)  # not a variable
    steps = [op for op in rec.ops if op.function and "step_on_iterator" in op.function]
    assert len(steps) == 2  # one tf.function call per epoch, one batch each
    assert rec.internal_errors == []
    dot = tapeviz.to_dot(rec)  # the whole fit is one box, as a layer is
    assert "net.fit (Sequential)" in dot and "step_on_iterator" not in dot
    opened = tapeviz.to_dot(rec, expand=["net.fit"])  # inside: 2 compiled steps, one pipeline
    assert "2 \N{MULTIPLICATION SIGN} multi_step_on_iterator()" in opened
    assert "tf.data pipeline" in opened and "Dataset" not in opened


def test_savedmodel_with_custom_gradients_saves_as_without_tapeviz(tmp_path):
    @tf.custom_gradient
    def clip_gradients(y):
        def backward(dy):
            return tf.clip_by_norm(dy, 0.5)
        return y, backward

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(None)])
        def call_custom_grad(self, x):
            return clip_gradients(x)

    options = tf.saved_model.SaveOptions(experimental_custom_gradients=True)
    with tapeviz.record() as rec:
        tf.saved_model.save(Module(), str(tmp_path), options=options)
        loaded = tf.saved_model.load(str(tmp_path))
        x = tf.constant(2.0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = loaded.call_custom_grad(x)
        grad = tape.gradient(out, x)
    assert float(out) == 2.0 and float(grad) == 0.5  # the custom gradient was saved
    assert rec.internal_errors == []


def test_ops_without_a_gradient_function_differentiate_as_without_tapeviz():
    x = tf.Variable([1.0, 2.0])
    with tapeviz.record() as rec:
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(x * tf.ones_like(x))  # OnesLike: NotDifferentiable, no inputs kept
        grad = tape.gradient(y, x)
    np.testing.assert_array_equal(grad.numpy(), [1.0, 1.0])
    assert rec.internal_errors == []


def test_past_the_byte_budget_tensors_are_summarised_at_once_with_the_same_values(monkeypatch):
    from tapeviz import recorder

    def cell():
        w = tf.Variable(tf.ones((8, 8)))
        with tapeviz.record() as rec:
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(tf.matmul(w, w) * 0.5)
                big = tf.range(1000.0) + y
            grad = tape.gradient(y, w)
            w.assign_sub(0.1 * grad)
        return rec, (big, grad)

    unlimited, _ = cell()
    monkeypatch.setattr(recorder, "BUDGET", 300)  # bytes: a few small tensors fit, then none
    limited, _ = cell()
    assert limited.summary() == unlimited.summary()
    assert tapeviz.to_dot(limited) == tapeviz.to_dot(unlimited)
    for a, b in zip(unlimited.tensors.values(), limited.tensors.values(), strict=True):
        assert (a.key.startswith("v"), a.shape, a.dtype, a.name) == \
            (b.key.startswith("v"), b.shape, b.dtype, b.name)
        assert repr(a.value) == repr(b.value) and repr(a.grad) == repr(b.grad)


def test_kept_tensors_stay_within_the_budget():
    from tapeviz.recorder.tensors import Kept, Snapshot

    kept = Kept(budget=1000)
    small, big = tf.ones((10,)), tf.ones((1000,))  # 40 and 4,000 bytes
    pairs = kept.pairs([(small._id, small), (big._id, big), None])
    assert pairs[0][1] is small and isinstance(pairs[1][1], Snapshot) and pairs[2] is None
    assert pairs[1][1].value.mean == 1.0 and pairs[1][1].shape == (1000,)
    assert kept.left == 960
    again = kept.pairs([(big._id, big), (small._id, small)])  # seen: no bytes counted twice
    assert isinstance(again[0][1], Snapshot) and again[1][1] is small and kept.left == 960


def test_the_last_value_kept_past_the_budget_is_read_with_its_value():
    from tapeviz.recorder.tensors import Kept

    kept = Kept(budget=0, values=1)  # room for one more value, none for references
    first, second = tf.ones((100,)), tf.ones((100,)) * 2.0
    (_, snap), = kept.outputs([(first._id, first)])
    assert snap.value.mean == 1.0 and kept.values_left == 0
    (_, later), = kept.outputs([(second._id, second)])  # the recording keeps no more values
    assert later.value is None and later.shape == (100,)


def test_a_cell_past_the_byte_budget_says_so_in_a_note(monkeypatch):
    from tapeviz import recorder

    monkeypatch.setattr(recorder, "BUDGET", 2**20)
    x = tf.ones((512, 512))  # 1 MB: the whole budget
    with tapeviz.record() as rec:
        y = x * 2.0
        z = y + 1.0  # 1 MB each, past the budget
    assert rec.notes == [
        "This cell made more tensors than tapeviz keeps while a cell runs (1 MB): the 2 MB "
        "past that were summarised as they were made, so recording held no more memory than "
        "that; values and picture are the same. (tapeviz.recorder.BUDGET sets it.)"]
    assert rec.named("z").value.mean == 3.0 and rec.named("y").value.max == 2.0


def test_the_hot_path_only_logs_and_the_end_builds_the_recording():
    with tapeviz.record() as rec:
        y = tf.constant(2.0) * 3.0
        assert rec.ops == [] and rec.tensors == {}  # nothing is built while the cell runs
    assert [op.type for op in rec.ops] == ["Mul"] and rec.named("y").value == 6.0


def test_variables_captured_by_a_tf_function_get_their_own_names():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")], name="net")
    optimizer = keras.optimizers.SGD(0.1)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x) ** 2)
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    x = tf.ones((4, 3))
    train_step(x)  # traced before recording: only its captured handles reach the call
    with tapeviz.record() as rec:
        train_step(x)
    call = next(op for op in rec.ops if op.function == "train_step")
    captured = [node for node in call.inputs if node.is_variable]
    assert captured and all(node.variable_name for node in captured)
    assert {"net/out/kernel", "net/out/bias"} <= {
        node.variable_name for node in captured}
