"""Benchmark the SGD stepper on the book's linear classifier (DLwP ch. 3).

1. Headless ``SGDEngine.run()`` vs the book's hand-written loop (target: <= 1.2x its time),
   full batch (40 steps of 2,000) and mini-batches of 128 (10 shuffled epochs).
2. ``SGDStepper`` on the book's classifier as lesson 10 shows it (200 points, batch 32, every
   view on: loss, |g|, data with boundary, numbers): Step clicks per second through
   ``step_button.click()`` while the drawing thread redraws (target: >= 20/s), how long the
   views then take to show the last click (``flush()``), and steps per second while playing
   at the top speed (target: >= 30/s).
   The same for a Keras model with a metric (all four plots). Outside a notebook no browser
   receives the widget messages, so this measures the Python side.

Run: ``.venv/bin/python benchmarks/bench_stepper.py`` (about 40 s).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tapeviz.sgd import SGDEngine, two_blobs  # noqa: E402
from tapeviz.widgets.stepper import SGDStepper  # noqa: E402

ROUNDS = 7
LEARNING_RATE = 0.1


def book_variables():
    W = tf.Variable(np.random.default_rng(0).uniform(size=(2, 1)).astype("float32"))
    return W, tf.Variable(tf.zeros((1,)))


def plain_loop(x, y, epochs, batch_size, shuffle):
    """The book's training_step, looped by hand, keeping each loss as a float."""
    W, b = book_variables()

    def training_step(inputs, targets):
        with tf.GradientTape() as tape:
            predictions = tf.matmul(inputs, W) + b
            loss = tf.reduce_mean(tf.square(targets - predictions))
        grad_W, grad_b = tape.gradient(loss, [W, b])
        W.assign_sub(grad_W * LEARNING_RATE)
        b.assign_sub(grad_b * LEARNING_RATE)
        return loss

    rng, losses = np.random.default_rng(0), []
    started = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            losses.append(float(training_step(x[idx], y[idx])))
    return time.perf_counter() - started, W.numpy()


def engine_for(x, y, batch_size, shuffle):
    W, b = book_variables()

    def model(inputs):
        return tf.matmul(inputs, W) + b

    def square_loss(inputs, targets):
        return tf.reduce_mean(tf.square(targets - model(inputs)))

    return SGDEngine.from_variables(x, y, {"W": W, "b": b}, square_loss, LEARNING_RATE,
                                    batch_size=batch_size, shuffle=shuffle, model=model)


def engine_vs_plain(x, y, epochs, batch_size, shuffle):
    engine = engine_for(x, y, batch_size, shuffle)
    engine_times, plain_times = [], []
    for _ in range(ROUNDS):  # interleaved, so both see the same machine load
        engine.reset()
        started = time.perf_counter()
        engine.run(epochs=epochs)
        engine_times.append(time.perf_counter() - started)
        plain_time, plain_W = plain_loop(x, y, epochs, batch_size, shuffle)
        plain_times.append(plain_time)
        assert np.array_equal(engine.weights()["W"], plain_W), "engine and loop disagree"
    steps = engine.step_count
    mine, theirs = statistics.median(engine_times), statistics.median(plain_times)
    print(f"  batch {batch_size:>4}, {steps} steps: run() {mine / steps * 1e6:6.0f} us/step, "
          f"plain loop {theirs / steps * 1e6:6.0f} us/step, ratio {mine / theirs:.2f}x "
          f"(median of {ROUNDS}; weights bit-identical)")
    return mine / theirs


def play_rate(stepper, seconds=4.0):
    """Steps per second while playing (the views redrawn meanwhile)."""
    stepper.speed.value = stepper.speed.max
    before, started = stepper.engine.step_count, time.perf_counter()
    stepper.play()
    time.sleep(seconds)
    stepper.pause()
    rate = (stepper.engine.step_count - before) / (time.perf_counter() - started)
    stepper.flush()
    return rate


def click_rate(stepper, clicks=100):
    """(Step clicks per second back to back, seconds until the views show the last one)."""
    stepper.flush()
    before, started = stepper.engine.step_count, time.perf_counter()
    for _ in range(clicks):
        stepper.step_button.click()
    clicked = time.perf_counter()
    stepper.flush()
    assert stepper.engine.step_count == before + clicks
    return clicks / (clicked - started), time.perf_counter() - clicked


def keras_stepper(x, y):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    engine = SGDEngine.from_keras(x, y, model, keras.losses.MeanSquaredError(),
                                  keras.optimizers.Adam(LEARNING_RATE),
                                  [keras.metrics.BinaryAccuracy()], batch_size=32)
    return SGDStepper(engine)


def main():
    x, y = two_blobs()
    print("1. headless run() vs the book's hand-written loop (2,000 points, lr 0.1)")
    ratios = [engine_vs_plain(x, y, 40, 2000, False), engine_vs_plain(x, y, 10, 128, True)]

    print("2. SGDStepper, 200 points, batch 32, every view on (plots redrawn at most every "
          "0.05 s)")
    small_x, small_y = two_blobs(100)
    clicks, plays, catch_up = [], [], []
    for name, stepper in [("book W, b (loss, |g|, data + boundary, numbers)",
                           SGDStepper(engine_for(small_x, small_y, 32, True))),
                          ("Keras Dense(1) + Adam + accuracy (all four plots)",
                           keras_stepper(small_x, small_y))]:
        rate, lag = click_rate(stepper)
        clicks.append(rate)
        catch_up.append(lag)
        plays.append(play_rate(stepper))
        print(f"  {name}: {rate:.0f} Step clicks/s (views caught up {lag * 1e3:.0f} ms after "
              f"the last), {plays[-1]:.0f} steps/s playing")
        stepper.close()

    print(f"ratios: run()/plain = {', '.join(f'{r:.2f}x' for r in ratios)} (target <= 1.2x); "
          f"Step clicks/s = {', '.join(f'{r:.0f}' for r in clicks)} (target >= 20); "
          f"Play steps/s = {', '.join(f'{r:.0f}' for r in plays)} (target >= 30)")


if __name__ == "__main__":
    main()
