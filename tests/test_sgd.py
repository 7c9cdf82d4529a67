"""The headless SGD engine: same numbers as a hand-written loop, history, reset, errors."""

import signal
from itertools import islice

import keras
import numpy as np
import pytest
import tensorflow as tf

from tapeviz.sgd import NonFiniteLossError, SetupError, SGDEngine, epoch_losses, two_blobs
from tests.sgd_fixtures import book_setup, book_variables, plain_batches, square_loss

STEPS = 15  # 200 points in batches of 32: 7 per epoch, the last one 8 wide; 15 crosses two ends


def small_engine(**kwargs):
    x, y, W, b, loss_fn = book_setup(n_per_class=100)
    options = {"batch_size": 32, "shuffle": True, "seed": 3, **kwargs}
    return SGDEngine.from_variables(x, y, {"W": W, "b": b}, loss_fn, 0.1, **options), W, b


def hand_written_sgd(x, y, W, b, loss_fn, steps, batch_size, shuffle, seed, lr=0.1):
    losses = []
    for _, idx in islice(plain_batches(len(x), batch_size, shuffle, seed), steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x[idx], y[idx])
        grad_W, grad_b = tape.gradient(loss, [W, b])
        W.assign_sub(grad_W * lr)
        b.assign_sub(grad_b * lr)
        losses.append(float(loss))
    return losses


def test_variables_mode_equals_hand_written_loop():
    engine, W, b = small_engine()
    engine_losses = [engine.step().loss for _ in range(STEPS)]

    x, y, W2, b2, loss_fn = book_setup(n_per_class=100)
    losses = hand_written_sgd(x, y, W2, b2, loss_fn, STEPS, 32, True, 3)

    assert engine_losses == losses
    np.testing.assert_array_equal(W.numpy(), W2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())


def keras_pair():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((2,)), keras.layers.Dense(3, activation="tanh"), keras.layers.Dense(1),
    ])
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return model, twin


def test_keras_mode_equals_hand_written_loop():
    x, y = two_blobs(100)
    model, twin = keras_pair()
    engine = SGDEngine.from_keras(
        x, y, model, keras.losses.MeanSquaredError(), keras.optimizers.SGD(0.1, momentum=0.5),
        [keras.metrics.BinaryAccuracy()], batch_size=32, seed=3,
    )
    records = [engine.step() for _ in range(STEPS)]

    loss_obj, optimizer = keras.losses.MeanSquaredError(), keras.optimizers.SGD(0.1, momentum=0.5)
    accuracy = keras.metrics.BinaryAccuracy()
    epoch_seen, losses, accuracies = -1, [], []
    for epoch, idx in islice(plain_batches(len(x), 32, True, 3), STEPS):
        if epoch != epoch_seen:
            accuracy.reset_state()
            epoch_seen = epoch
        with tf.GradientTape() as tape:
            predictions = twin(x[idx], training=True)
            loss = loss_obj(y[idx], predictions)
        grads = tape.gradient(loss, twin.trainable_variables)
        optimizer.apply_gradients(zip(grads, twin.trainable_variables, strict=True))
        accuracy.update_state(y[idx], predictions)
        losses.append(float(loss))
        accuracies.append(float(accuracy.result()))

    assert [r.loss for r in records] == losses
    assert [r.metrics["binary_accuracy"] for r in records] == accuracies
    for mine, theirs in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert set(records[0].grad_norms) == {v.path for v in model.trainable_variables}


def momentum_step_fn(W, b, loss_fn):
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)  # state the engine must not disturb

    def step_fn(inputs, targets):
        with tf.GradientTape() as tape:
            loss = loss_fn(inputs, targets)
        grads = tape.gradient(loss, [W, b])
        optimizer.apply_gradients(zip(grads, [W, b], strict=True))
        return loss

    return step_fn


def test_step_fn_mode_equals_hand_written_loop():
    x, y, W, b, loss_fn = book_setup(n_per_class=100)
    engine = SGDEngine.from_step_fn(
        x, y, momentum_step_fn(W, b, loss_fn), {"W": W, "b": b}, batch_size=32, seed=3
    )
    W_before = W.numpy()
    records = [engine.step() for _ in range(STEPS)]

    _, _, W2, b2, loss_fn2 = book_setup(n_per_class=100)
    step_fn = momentum_step_fn(W2, b2, loss_fn2)
    W2_before = W2.numpy()
    losses = []
    for i, (_, idx) in enumerate(islice(plain_batches(len(x), 32, True, 3), STEPS)):
        losses.append(float(step_fn(x[idx], y[idx])))
        if i == 0:
            first_change = np.linalg.norm(W2.numpy() - W2_before)

    assert [r.loss for r in records] == losses
    np.testing.assert_array_equal(W.numpy(), W2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    assert records[0].grad_norms is None and records[0].learning_rate is None
    assert records[0].change_norms["W"] == pytest.approx(first_change)
    assert np.linalg.norm(W.numpy() - W_before) > 0


def test_book_linear_classifier_full_batch():
    x, y, W, b, loss_fn = book_setup()
    assert x.shape == (2000, 2) and x.dtype == np.float32 and y.shape == (2000, 1)
    engine = SGDEngine.from_variables(
        x, y, {"W": W, "b": b}, loss_fn, 0.1, batch_size=2000, shuffle=False
    )
    losses = [r.loss for r in engine.run(epochs=40)]

    _, _, W2, b2, loss_fn2 = book_setup()
    assert losses == hand_written_sgd(x, y, W2, b2, loss_fn2, 40, 2000, False, 0)
    assert len(losses) == 40 and engine.epoch == 40
    # Measured: 1.419 at step 1, 0.0281 at step 40 (the book: about 1 down to about 0.03).
    assert 0.7 < losses[0] < 2.0
    assert 0.025 < losses[-1] < 0.035
    # The book's decision line, x2 = -W0/W1 x1 + (0.5 - b)/W1, separates the two means.
    (w0, w1), bias = W.numpy().ravel(), b.numpy()[0]

    def line(x1):
        return -w0 / w1 * x1 + (0.5 - bias) / w1

    assert (line(0) < 3) != (line(3) < 0)  # the means [0, 3] and [3, 0]: opposite sides


def test_minibatches_of_128_get_there_in_fewer_epochs():
    x, y, W, b, loss_fn = book_setup()
    full = SGDEngine.from_variables(x, y, [W, b], loss_fn, 0.1, batch_size=2000, shuffle=False)
    full.run(epochs=40)
    target = float(loss_fn(x, y))

    W2, b2 = book_variables()
    whole_data_loss = square_loss(W2, b2)
    mini = SGDEngine.from_variables(x, y, [W2, b2], whole_data_loss, 0.1, batch_size=128)
    epochs = 0
    while float(whole_data_loss(x, y)) > target:
        mini.run(epochs=1)
        epochs += 1
        assert epochs < 40
    # Measured: 3 epochs (48 steps of 128) reach the whole-data loss (0.0279) that
    # 40 full-batch epochs reach; the first epoch alone gets to 0.049.
    assert epochs <= 3
    assert mini.step_count == 16 * epochs  # 2000 / 128: 15 full batches and one of 80
    assert mini.history[15].batch_size == 80 and mini.history[15].ends_epoch


def test_history_records_what_each_step_did():
    engine, W, b = small_engine(shuffle=False)
    W0, b0 = W.numpy(), b.numpy()
    x, y, W2, b2, loss_fn = book_setup(n_per_class=100)
    with tf.GradientTape() as tape:
        loss = loss_fn(x[:32], y[:32])
    grad_W, grad_b = tape.gradient(loss, [W2, b2])

    first = engine.step()
    assert (first.step, first.epoch, first.batch, first.batch_size) == (1, 0, 0, 32)
    assert first.learning_rate == 0.1 and first.metrics == {}
    assert first.grad_norms == {
        "W": pytest.approx(np.linalg.norm(grad_W)), "b": pytest.approx(np.linalg.norm(grad_b))
    }
    np.testing.assert_array_equal(engine.last_grads["W"], grad_W)
    np.testing.assert_array_equal(W.numpy(), W0 - grad_W * 0.1)
    np.testing.assert_array_equal(b.numpy(), b0 - grad_b * 0.1)
    np.testing.assert_array_equal(engine.last_batch, np.arange(32))

    rest = engine.run(epochs=1)
    assert [r.batch for r in rest] == [1, 2, 3, 4, 5, 6]
    assert rest[-1].batch_size == 8 and rest[-1].ends_epoch
    assert (engine.epoch, engine.batch_index, engine.progress) == (1, 0, 0.0)
    sizes = np.array([r.batch_size for r in engine.history])
    mean = np.sum(sizes * [r.loss for r in engine.history]) / sizes.sum()
    assert epoch_losses(engine.history) == [(7, pytest.approx(mean))]


def test_settings_take_effect_at_documented_points():
    engine, _, _ = small_engine(shuffle=False)
    engine.step()
    engine.batch_size = 50  # from the next batch: rows 32..81
    engine.shuffle = True  # from the next epoch
    engine.step()
    np.testing.assert_array_equal(engine.last_batch, np.arange(32, 82))
    assert engine.progress == 82 / 200 and engine.batches_in_epoch == 2 + 3
    engine.learning_rate = 0.05
    assert engine.step().learning_rate == 0.05
    engine.run(epochs=1)
    engine.step()
    first_permutation = np.random.default_rng(3).permutation(200)  # nothing drawn in epoch 0
    np.testing.assert_array_equal(engine.last_batch, first_permutation[:50])
    with pytest.raises(ValueError, match="whole number"):
        engine.batch_size = 0
    with pytest.raises(ValueError, match="positive"):
        engine.learning_rate = -1.0


def test_reset_restores_weights_and_replays_the_same_steps():
    engine, W, b = small_engine()
    W0, b0 = W.numpy(), b.numpy()
    first_run = [r.loss for r in engine.run(epochs=2)]
    assert not np.array_equal(W.numpy(), W0)

    engine.reset()
    np.testing.assert_array_equal(W.numpy(), W0)
    np.testing.assert_array_equal(b.numpy(), b0)
    assert engine.step_count == 0 and engine.epoch == 0 and engine.last_batch is None
    assert [r.loss for r in engine.run(epochs=2)] == first_run


def test_keras_reset_restores_optimizer_and_keeps_the_new_learning_rate():
    x, y = two_blobs(100)
    model, _ = keras_pair()
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    engine = SGDEngine.from_keras(
        x, y, model, keras.losses.MeanSquaredError(), optimizer, batch_size=64
    )
    initial = model.get_weights()
    engine.run(epochs=1)
    engine.learning_rate = 0.02
    engine.reset()
    for now, then in zip(model.get_weights(), initial, strict=True):
        np.testing.assert_array_equal(now, then)
    assert int(optimizer.iterations) == 0
    assert all(not np.any(v.numpy()) for v in optimizer.variables if "momentum" in v.path)
    assert engine.learning_rate == pytest.approx(0.02)


def test_nan_loss_stops_and_names_the_step():
    x, y, W, b, loss_fn = book_setup(n_per_class=10)
    x[5, 0] = np.nan  # in the second batch of 4
    engine = SGDEngine.from_variables(x, y, [W, b], loss_fn, 0.1, batch_size=4, shuffle=False)
    engine.step()
    with pytest.raises(NonFiniteLossError, match=r"nan at step 2 \(epoch 0, batch 1\)") as err:
        engine.run(epochs=1)
    assert err.value.record is engine.history[-1]
    assert engine.step_count == 2 and np.isnan(engine.history[-1].loss)


def test_learning_rate_too_high_overflows_to_inf_and_is_caught():
    engine, _, _ = small_engine(batch_size=200, shuffle=False)
    engine.learning_rate = 10.0
    with pytest.raises(NonFiniteLossError, match="at step") as err:
        engine.run(epochs=100)
    assert not np.isfinite(err.value.record.loss) and err.value.record.step < 100


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda x, W, b: tf.matmul(x, tf.transpose(W)) + b, r"x \(32, 2\) float32"),
        (lambda x, W, b: tf.matmul(x, W), "does not depend on b"),
        (lambda x, W, b: tf.matmul(x.numpy(), W.numpy()) + b, "does not depend on W"),
    ],
    ids=["shape", "unused-variable", "numpy-breaks-tape"],
)
def test_mistakes_in_loss_fn_are_reported_before_any_step(model, message):
    x, y = two_blobs(50)
    W, b = book_variables()
    W0 = W.numpy()

    def loss_fn(inputs, targets):
        return tf.reduce_mean(tf.square(targets - model(inputs, W, b)))

    with pytest.raises(SetupError, match=message):
        SGDEngine.from_variables(x, y, {"W": W, "b": b}, loss_fn, 0.1)
    np.testing.assert_array_equal(W.numpy(), W0)


def test_setup_errors_say_what_to_do():
    x, y, W, b, loss_fn = book_setup(n_per_class=50)
    with pytest.raises(SetupError, match=r"x = x.astype\('float32'\)"):
        SGDEngine.from_variables(x.astype("float64"), y, [W, b], loss_fn, 0.1)
    with pytest.raises(SetupError, match="same number of rows"):
        SGDEngine.from_variables(x, y[:10], [W, b], loss_fn, 0.1)
    with pytest.raises(SetupError, match=r"tf.Variable\(\.\.\.\)"):
        SGDEngine.from_variables(x, y, {"W": W.numpy(), "b": b}, loss_fn, 0.1)

    def per_example_loss(inputs, targets):  # forgot reduce_mean
        return tf.square(targets - (tf.matmul(inputs, W) + b))

    with pytest.raises(SetupError, match=r"shape \(32, 1\).*reduce_mean"):
        SGDEngine.from_variables(x, y, [W, b], per_example_loss, 0.1)
    model, _ = keras_pair()
    with pytest.raises(SetupError, match="model or loss failed"):
        SGDEngine.from_keras(x[:, :1], y, model, keras.losses.MeanSquaredError(),
                             keras.optimizers.SGD(0.1))
    with pytest.raises(SetupError, match="Keras optimizer"):
        SGDEngine.from_keras(x, y, model, keras.losses.MeanSquaredError(), "sgd")


def test_failed_first_step_fn_call_is_undone():
    x, y, W, b, loss_fn = book_setup(n_per_class=50)
    W0 = W.numpy()

    def forgets_to_return(inputs, targets):
        W.assign_sub(tf.ones_like(W))

    engine = SGDEngine.from_step_fn(x, y, forgets_to_return, [W, b])
    with pytest.raises(SetupError, match="step_fn returned None"):
        engine.step()
    np.testing.assert_array_equal(W.numpy(), W0)
    assert engine.step_count == 0
    with pytest.raises(SetupError, match="float64"):
        SGDEngine.from_step_fn(x.astype("float64"), y, forgets_to_return, [W, b])
    with pytest.raises(ValueError, match="can't be changed"):
        engine.learning_rate = 0.5


def test_interrupt_during_the_forward_pass_means_the_step_did_not_happen():
    x, y, W, b, loss_fn = book_setup(n_per_class=100)
    calls = []

    def flaky_loss(inputs, targets):
        calls.append(1)
        if len(calls) == 3:  # 1: the set-up check, 2: step 1, 3: step 2
            raise KeyboardInterrupt
        return loss_fn(inputs, targets)

    engine = SGDEngine.from_variables(x, y, [W, b], flaky_loss, 0.1, batch_size=32, seed=3)
    engine.step()
    with pytest.raises(KeyboardInterrupt):
        engine.step()
    assert engine.step_count == 1
    engine.run(epochs=1)

    _, _, W2, b2, loss_fn2 = book_setup(n_per_class=100)
    losses = hand_written_sgd(x, y, W2, b2, loss_fn2, 7, 32, True, 3)
    assert [r.loss for r in engine.history] == losses
    np.testing.assert_array_equal(W.numpy(), W2.numpy())


class InterruptingMetric(keras.metrics.Mean):
    """Sends SIGINT from inside the update, as a kernel interrupt would arrive."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        signal.raise_signal(signal.SIGINT)
        return super().update_state(y_pred)


def test_interrupt_during_the_update_is_held_until_the_step_is_recorded():
    x, y = two_blobs(50)
    model, twin = keras_pair()
    engine = SGDEngine.from_keras(
        x, y, model, keras.losses.MeanSquaredError(), keras.optimizers.SGD(0.1),
        [InterruptingMetric()], batch_size=100, shuffle=False,
    )
    with pytest.raises(KeyboardInterrupt):
        engine.step()
    assert engine.step_count == 1 and engine.batch_index == 0 and engine.epoch == 1

    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, twin(x, training=True))
    grads = tape.gradient(loss, twin.trainable_variables)
    keras.optimizers.SGD(0.1).apply_gradients(zip(grads, twin.trainable_variables, strict=True))
    for mine, theirs in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def keras_engine(optimizer):
    x, y = two_blobs(50)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    engine = SGDEngine.from_keras(x, y, model, keras.losses.MeanSquaredError(), optimizer,
                                  batch_size=16, seed=1)
    return engine, model


def test_plain_sgd_update_is_w_minus_lr_g_as_applied():
    engine, W, b = small_engine()
    W0 = W.numpy()
    first = engine.step()
    update = first.updates["W"]
    assert first.rule.name == "SGD" and first.rule.formula == "w ← w − lr·g"
    assert first.rule.values == {"lr": 0.1}
    np.testing.assert_array_equal(update.before.full, W0)
    np.testing.assert_array_equal(update.after.full, W.numpy())
    np.testing.assert_array_equal(update.gradient.full, engine.last_grads["W"])
    np.testing.assert_array_equal(update.after.full, W0 - 0.1 * update.gradient.full)
    np.testing.assert_array_equal(update.change.full, update.after.full - update.before.full)
    assert update.state == {}


def test_momentum_update_is_the_velocity_the_optimizer_applied():
    engine, model = keras_engine(keras.optimizers.SGD(0.1, momentum=0.9))
    records = [engine.step() for _ in range(3)]
    kernel = model.trainable_variables[0].path
    assert records[-1].rule.name == "SGD with momentum"
    assert records[-1].rule.values == {"lr": pytest.approx(0.1), "momentum": pytest.approx(0.9)}
    velocity = np.zeros((2, 1), "float32")
    for record in records:
        update = record.updates[kernel]
        g = update.gradient.full
        velocity = velocity * np.float32(0.9) - g * np.float32(0.1)  # the rule, by hand
        np.testing.assert_allclose(update.state["velocity"].full, velocity, rtol=1e-6)
        np.testing.assert_array_equal(update.after.full,
                                      update.before.full + update.state["velocity"].full)
        np.testing.assert_array_equal(update.change.full, update.after.full - update.before.full)
    np.testing.assert_array_equal(records[-1].updates[kernel].after.full,
                                  model.trainable_variables[0].numpy())


def test_adam_update_shows_its_moments_and_the_change_it_applied():
    engine, model = keras_engine(keras.optimizers.Adam(0.05))
    records = [engine.step() for _ in range(3)]
    kernel = model.trainable_variables[0].path
    m = v = np.zeros((2, 1))
    for t, record in enumerate(records, start=1):
        rule, update = record.rule, record.updates[kernel]
        assert rule.name == "Adam" and rule.values["t"] == t and "√v" in rule.formula
        g = update.gradient.full
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2  # Adam, by hand
        np.testing.assert_allclose(update.state["m"].full, m, rtol=1e-5)
        np.testing.assert_allclose(update.state["v"].full, v, rtol=1e-5)
        assert rule.values["α"] == pytest.approx(0.05 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t))
        by_formula = -rule.values["α"] * m / (np.sqrt(v) + rule.values["ε"])
        np.testing.assert_allclose(update.change.full, by_formula, rtol=1e-4)
        np.testing.assert_array_equal(update.change.full, update.after.full - update.before.full)
    np.testing.assert_array_equal(records[-1].updates[kernel].after.full,
                                  model.trainable_variables[0].numpy())


def test_unknown_rules_still_record_the_change_applied():
    engine, model = keras_engine(keras.optimizers.RMSprop(0.01))
    record = engine.step()
    assert record.rule.name == "Keras RMSprop" and record.rule.formula == ""
    engine, _ = keras_engine(keras.optimizers.SGD(0.1, clipnorm=0.01))
    record = engine.step()
    assert record.rule.formula == "" and "clipping" in record.rule.name
    update = next(iter(record.updates.values()))
    np.testing.assert_array_equal(update.change.full, update.after.full - update.before.full)


def test_big_variables_are_summarised_not_copied():
    x, y = two_blobs(20)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    engine = SGDEngine.from_keras(x, y, model, keras.losses.MeanSquaredError(),
                                  keras.optimizers.SGD(0.1))
    before = model.trainable_variables[0].numpy()
    update = engine.step().updates[model.trainable_variables[0].path]
    after = model.trainable_variables[0].numpy()
    assert update.before.full is None and update.before.shape == (2, 8)  # 16 numbers > SMALL
    assert (update.before.min, update.before.max) == (before.min(), before.max())
    assert update.change.norm == pytest.approx(np.linalg.norm(after - before))
    assert update.gradient.mean == pytest.approx(float(np.mean((before - after) / 0.1)),
                                                 rel=1e-4)
