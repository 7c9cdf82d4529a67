"""The SGDStepper widget: clicks change the engine, the labels and the plotted data."""

import time
from itertools import islice

import keras
import numpy as np
import pytest
import tensorflow as tf

from tapeviz.sgd import SGDEngine, epoch_losses, two_blobs
from tapeviz.widgets.numbers import numbers_text
from tapeviz.widgets.stepper import SGDStepper
from tests.sgd_fixtures import book_setup, plain_batches

PNG = b"\x89PNG"


def book_stepper(n_per_class=100, **options):
    x, y, W, b, loss_fn = book_setup(n_per_class)
    options = {"batch_size": 32, "seed": 3, "model": lambda x: tf.matmul(x, W) + b, **options}
    engine = SGDEngine.from_variables(x, y, {"W": W, "b": b}, loss_fn, 0.1, **options)
    return SGDStepper(engine), W, b


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_step_click_updates_engine_labels_and_plots():
    stepper, W, b = book_stepper()
    engine = stepper.engine
    W0, b0 = W.numpy(), b.numpy()
    assert "No steps yet" in stepper.loss_label.value
    blank_loss_image = stepper.loss_plot.image.value

    stepper.step_button.click()

    record = engine.history[-1]
    assert engine.step_count == 1
    assert f"loss {record.loss:.4g}" in stepper.loss_label.value  # at once, before any drawing
    assert "next: batch 1 of 7" in stepper.loss_label.value
    assert stepper.progress.value == 32 / 200
    stepper.flush()
    np.testing.assert_array_equal(stepper.loss_plot.lines["per step"].get_ydata(), [record.loss])
    np.testing.assert_array_equal(
        stepper.grad_plot.lines["W"].get_ydata(), [record.grad_norms["W"]]
    )
    assert bytes(stepper.loss_plot.image.value).startswith(PNG)
    assert stepper.loss_plot.image.value != blank_loss_image
    np.testing.assert_array_equal(
        stepper.data_plot.batch_points.get_offsets(), engine.x[engine.last_batch]
    )
    # The numbers of the step just taken: the rule, w, g, the change applied and the new w.
    g = engine.last_grads["W"].numpy()
    assert "SGD" in stepper.numbers.value and "w ← w − lr·g" in stepper.numbers.value
    for shown in (W0, g, W.numpy() - W0, W.numpy(), b0):
        assert numbers_text(shown) in stepper.numbers.value


def test_epoch_click_finishes_the_epoch_and_plots_its_mean():
    stepper, _, _ = book_stepper()
    stepper.step_button.click()
    stepper.epoch_button.click()
    stepper.flush()

    engine = stepper.engine
    assert engine.step_count == 7 and engine.epoch == 1 and stepper.progress.value == 0
    assert stepper.progress.description == "epoch 1"
    losses = [r.loss for r in engine.history]
    np.testing.assert_array_equal(stepper.loss_plot.lines["per step"].get_ydata(), losses)
    (end_step, mean), = epoch_losses(engine.history)
    np.testing.assert_array_equal(stepper.loss_plot.lines["epoch mean"].get_xdata(), [end_step])
    np.testing.assert_allclose(stepper.loss_plot.lines["epoch mean"].get_ydata(), [mean])


def test_decision_boundary_is_the_books_line():
    stepper, W, b = book_stepper()
    for _ in range(3):
        stepper.step_button.click()
    stepper.flush()
    segments = stepper.data_plot.boundary.allsegs[0]
    points = np.concatenate(segments)
    assert len(points) > 10
    # On the line x @ W + b = 0.5, i.e. x2 = -W0/W1 x1 + (0.5 - b)/W1.
    np.testing.assert_allclose(points @ W.numpy() + b.numpy(), 0.5, atol=1e-4)


def test_reset_click_restores_weights_and_clears_the_views():
    stepper, W, b = book_stepper()
    W0 = W.numpy()
    stepper.epoch_button.click()
    stepper.lr_slider.value = 0.05
    stepper.reset_button.click()
    stepper.flush()

    np.testing.assert_array_equal(W.numpy(), W0)
    assert stepper.engine.step_count == 0 and stepper.engine.learning_rate == 0.05
    assert len(stepper.loss_plot.lines["per step"].get_ydata()) == 0
    assert len(stepper.data_plot.batch_points.get_offsets()) == 0
    assert "No steps yet" in stepper.loss_label.value and "Take a step" in stepper.numbers.value


def test_controls_change_the_engine_settings():
    stepper, _, _ = book_stepper()
    stepper.lr_slider.value = 0.01
    stepper.batch_size.value = 64
    stepper.shuffle.value = False
    engine = stepper.engine
    assert (engine.learning_rate, engine.batch_size, engine.shuffle) == (0.01, 64, False)
    assert "next: batch 0 of 4" in stepper.loss_label.value
    stepper.step_button.click()
    assert engine.history[-1].batch_size == 64 and engine.history[-1].learning_rate == 0.01
    assert ("64", 64) in stepper.batch_size.options
    assert stepper.batch_size.options[-1] == ("200 (all)", 200)
    engine.step()  # behind the widget's back: refresh() catches up
    stepper.refresh()
    assert "step 2 " in stepper.loss_label.value
    assert len(stepper.loss_plot.lines["per step"].get_ydata()) == 2


def test_play_then_pause_leaves_a_consistent_state():
    stepper, W, b = book_stepper()
    stepper.speed.value = 100
    stepper.play_button.click()
    assert stepper.playing and stepper.play_button.description == "⏸ Pause"
    wait_until(lambda: stepper.engine.step_count >= 5)
    stepper.play_button.click()
    stepper.flush()

    assert not stepper.playing and stepper.play_button.description == "▶ Play"
    engine = stepper.engine
    steps = engine.step_count
    assert len(stepper.loss_plot.lines["per step"].get_ydata()) == steps  # final redraw
    assert f"step {steps} " in stepper.loss_label.value
    # Whole steps only: the weights are those of a plain loop after exactly `steps` batches.
    x, y, W2, b2, loss_fn = book_setup(100)
    for _, idx in islice(plain_batches(len(x), 32, True, 3), steps):
        with tf.GradientTape() as tape:
            loss = loss_fn(x[idx], y[idx])
        grad_W, grad_b = tape.gradient(loss, [W2, b2])
        W2.assign_sub(grad_W * 0.1)
        b2.assign_sub(grad_b * 0.1)
    np.testing.assert_array_equal(W.numpy(), W2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())


def test_nan_loss_pauses_play_with_a_message_naming_the_step():
    stepper, _, _ = book_stepper(batch_size=200, shuffle=False)
    stepper.lr_slider.value = 10.0
    stepper.speed.value = 100
    stepper.play()
    wait_until(lambda: not stepper.playing)

    last = stepper.engine.history[-1]
    assert not np.isfinite(last.loss)
    assert f"at step {last.step} " in stepper.message.value and "Paused" in stepper.message.value
    assert stepper.play_button.description == "▶ Play"
    stepper.reset_button.click()
    assert stepper.message.value == ""


def test_keras_mode_shows_metrics_and_the_models_boundary():
    x, y = two_blobs(100)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    engine = SGDEngine.from_keras(
        x, y, model, keras.losses.BinaryCrossentropy(), keras.optimizers.SGD(0.5),
        [keras.metrics.BinaryAccuracy()], batch_size=50,
    )
    stepper = SGDStepper(engine)
    for _ in range(2):
        stepper.step_button.click()
    stepper.flush()

    accuracies = [r.metrics["binary_accuracy"] for r in engine.history]
    np.testing.assert_array_equal(
        stepper.metrics_plot.lines["binary_accuracy"].get_ydata(), accuracies
    )
    assert f"binary_accuracy {accuracies[-1]:.4g}" in stepper.loss_label.value
    points = np.concatenate(stepper.data_plot.boundary.allsegs[0]).astype("float32")
    np.testing.assert_allclose(model(points).numpy(), 0.5, atol=1e-3)
    kernel, bias = (v.path for v in model.trainable_variables)
    assert bias in stepper.numbers.value and kernel in stepper.numbers.value


def test_step_fn_mode_shows_weight_changes_and_fixes_the_learning_rate():
    x, y = two_blobs(20)
    x3 = np.hstack([x, x[:, :1]])  # 3 features: no data view
    W, b = tf.Variable(tf.zeros((3, 1))), tf.Variable(tf.zeros((1,)))

    def step_fn(inputs, targets):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(targets - (tf.matmul(inputs, W) + b)))
        grad_W, grad_b = tape.gradient(loss, [W, b])
        W.assign_sub(0.05 * grad_W)
        b.assign_sub(0.05 * grad_b)
        return loss

    stepper = SGDStepper(SGDEngine.from_step_fn(x3, y, step_fn, {"W": W, "b": b}))
    assert stepper.data_plot is None and stepper.lr_slider.disabled
    assert "weight change" in stepper.grad_plot.axes.get_title()
    stepper.step_button.click()
    stepper.flush()
    change = stepper.engine.history[-1].change_norms["W"]
    assert change == pytest.approx(np.linalg.norm(W.numpy()))
    np.testing.assert_allclose(stepper.grad_plot.lines["W"].get_ydata(), [change])
    assert "w after" in stepper.numbers.value


def test_tape_button_draws_the_next_step():
    try:
        from tapeviz import record  # noqa: F401
    except (ImportError, AttributeError):
        pytest.skip("tapeviz.record() does not exist yet (the core recording API)")
    stepper, _, _ = book_stepper()
    stepper.tape_button.click()

    assert stepper.engine.step_count == 1
    (output,) = stepper.tape_output.outputs
    assert output["output_type"] == "display_data"
    assert "<svg" in output["data"]["image/svg+xml"]
    assert "MatMul" in output["data"]["text/plain"] or "matmul" in output["data"]["text/plain"]
    assert stepper.tape_box.selected_index == 0


def test_without_a_model_there_is_no_boundary_and_no_guess():
    stepper, _, _ = book_stepper(model=None)
    stepper.step_button.click()
    stepper.flush()
    assert stepper.data_plot.boundary is None and stepper.data_plot.scores is None
    assert "boundary" not in stepper.data_plot.axes.get_title()


def test_a_keras_models_boundary_is_its_predictions_on_the_grid():
    x, y = two_blobs(100)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    engine = SGDEngine.from_keras(x, y, model, keras.losses.BinaryCrossentropy(),
                                  keras.optimizers.Adam(0.05), batch_size=32)
    stepper = SGDStepper(engine)
    for _ in range(5):
        stepper.step_button.click()
    stepper.flush()

    plot = stepper.data_plot
    predictions = model.predict(plot.points, verbose=0)
    np.testing.assert_allclose(plot.scores, predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(plot.points[:, 0], plot.grid[0].ravel())
    drawn = np.concatenate(plot.boundary.allsegs[0]).astype("float32")
    assert len(drawn) > 10
    np.testing.assert_allclose(model.predict(drawn, verbose=0), 0.5, atol=0.02)


def test_several_outputs_draw_where_the_top_class_changes():
    x, y = two_blobs(50)
    onehot = np.hstack([1 - y, y])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    engine = SGDEngine.from_keras(x, onehot, model, keras.losses.CategoricalCrossentropy(),
                                  keras.optimizers.SGD(0.5), batch_size=100)
    stepper = SGDStepper(engine)
    for _ in range(3):
        stepper.step_button.click()
    stepper.flush()
    drawn = np.concatenate(stepper.data_plot.boundary.allsegs[0]).astype("float32")
    probabilities = model.predict(drawn, verbose=0)
    np.testing.assert_allclose(probabilities[:, 0], probabilities[:, 1], atol=0.05)


@pytest.mark.parametrize("optimizer,slots", [
    (keras.optimizers.Adam(0.05), ("m", "v")),
    (keras.optimizers.SGD(0.1, momentum=0.9), ("velocity",)),
])
def test_numbers_view_shows_the_update_the_optimizer_applied(optimizer, slots):
    x, y = two_blobs(50)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    engine = SGDEngine.from_keras(x, y, model, keras.losses.MeanSquaredError(), optimizer,
                                  batch_size=16)
    stepper = SGDStepper(engine)
    kernel = model.trainable_variables[0]
    for _ in range(3):
        before = kernel.numpy()
        stepper.step_button.click()
    stepper.flush()

    record = engine.history[-1]
    update = record.updates[kernel.path]
    shown = stepper.numbers.value
    # The displayed update is exactly what happened to the weights, not w - lr * g.
    np.testing.assert_array_equal(update.change.full, kernel.numpy() - before)
    assert numbers_text(kernel.numpy() - before) in shown
    assert numbers_text(kernel.numpy()) in shown and numbers_text(before) in shown
    assert record.rule.formula in shown and record.rule.name in shown
    for slot in slots:
        assert f"<th>{slot}</th>" in shown
        assert numbers_text(update.state[slot].full) in shown
    if "m" in slots:
        assert "α = " in shown and "t = 3" in shown
        lr_times_g = numbers_text(before - 0.05 * update.gradient.full)
        assert lr_times_g != numbers_text(kernel.numpy())  # Adam is not w - lr * g here


def test_clicks_never_wait_for_matplotlib(monkeypatch):
    stepper, _, _ = book_stepper()
    stepper.flush()
    drawn = []

    def slow_draw(draw):
        def wrapper():
            time.sleep(0.3)  # a very slow matplotlib
            draw()
            drawn.append(stepper.engine.step_count)
        return wrapper

    monkeypatch.setattr(stepper._renderer, "_draw", slow_draw(stepper._renderer._draw))
    started = time.monotonic()
    for _ in range(10):
        stepper.step_button.click()
    clicking = time.monotonic() - started
    assert stepper.engine.step_count == 10 and "step 10 " in stepper.loss_label.value
    assert clicking < 1.0, f"10 clicks took {clicking:.2f} s: they waited for the drawing"
    stepper.flush()
    assert len(drawn) <= 3, f"10 clicks cost {len(drawn)} redraws, not one or two"
    assert drawn[-1] == 10
    assert len(stepper.loss_plot.lines["per step"].get_ydata()) == 10


def test_a_failing_view_is_reported_and_drawing_goes_on(monkeypatch):
    stepper, _, _ = book_stepper()
    stepper.flush()
    monkeypatch.setattr(stepper.data_plot, "update", lambda: 1 / 0)
    stepper.step_button.click()
    stepper.flush()
    assert "Drawing failed" in stepper.message.value
    assert "ZeroDivisionError" in stepper.message.value
    monkeypatch.undo()
    stepper.step_button.click()
    stepper.flush()
    assert len(stepper.loss_plot.lines["per step"].get_ydata()) == 2


def test_plots_redraw_only_their_data_and_look_like_a_full_draw(monkeypatch):
    import io

    from PIL import Image

    stepper, _, _ = book_stepper()
    for _ in range(6):
        stepper.step_button.click()
    stepper.flush()
    plot = stepper.loss_plot
    limits = plot.axes.get_xlim(), plot.axes.get_ylim()
    full_draws = []
    monkeypatch.setattr(plot.canvas, "draw", lambda: full_draws.append(1))
    for _ in range(2):  # steps 7 and 8: the same round limits (0 to 10 steps, 0.01 to 10)
        stepper.step_button.click()
        stepper.flush()
    assert (plot.axes.get_xlim(), plot.axes.get_ylim()) == limits
    assert full_draws == [] and len(plot.lines["per step"].get_ydata()) == 8
    monkeypatch.undo()
    shown = np.asarray(Image.open(io.BytesIO(plot.image.value)).convert("RGB"))

    plot.canvas.draw()  # everything at once, as savefig would
    width, height = plot.canvas.get_width_height()
    full = np.asarray(plot.canvas.buffer_rgba())[..., :3].reshape(height, width, 3)
    legend = plot.axes.get_legend().get_window_extent()
    outside = np.ones((height, width), bool)  # the legend is drawn under the data here
    outside[height - int(legend.y1) - 2 : height - int(legend.y0) + 2,
            int(legend.x0) - 2 : int(legend.x1) + 2] = False
    assert (shown[outside] == full[outside]).all()
