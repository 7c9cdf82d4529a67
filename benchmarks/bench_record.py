"""Recording overhead: the same op-heavy eager cell, plain and under tapeviz.record().

Prints the ratio recorded/plain, measured in this one run: plain and recorded runs alternate,
each pair gives a ratio, and the median ratio (with the lowest and highest) is reported, which
is steadier on a shared 2-core machine than comparing best times.
Target (issue 2): <= 1.25x for recording alone; rendering is excluded.

    .venv/bin/python benchmarks/bench_record.py
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tapeviz  # noqa: E402

STEPS = 150
REPEATS = 9


def mlp_training_loop(steps: int = STEPS, batch: int = 256, sizes=(64, 128, 10)) -> float:
    """A hand-written mini-batch training loop of a 2-layer MLP (the book's chapter 2 style)."""
    rng = np.random.default_rng(0)
    n_in, n_hidden, n_out = sizes
    x = tf.constant(rng.normal(size=(batch, n_in)), dtype=tf.float32)
    y = tf.constant(rng.normal(size=(batch, n_out)), dtype=tf.float32)
    w1 = tf.Variable(rng.normal(size=(n_in, n_hidden)) * 0.1, dtype=tf.float32)
    b1 = tf.Variable(tf.zeros(n_hidden))
    w2 = tf.Variable(rng.normal(size=(n_hidden, n_out)) * 0.1, dtype=tf.float32)
    b2 = tf.Variable(tf.zeros(n_out))
    variables = [w1, b1, w2, b2]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
            out = tf.matmul(hidden, w2) + b2
            loss = tf.reduce_mean(tf.square(out - y))
        grads = tape.gradient(loss, variables)
        for variable, grad in zip(variables, grads, strict=True):
            variable.assign_sub(0.01 * grad)
    return float(loss)


def mnist_style_loop(steps: int = 40) -> float:
    """The book's chapter 2 network: 784 -> 512 (relu) -> 10, batches of 128."""
    return mlp_training_loop(steps, batch=128, sizes=(784, 512, 10))


def linear_classifier_loop(steps: int = 200) -> float:
    """The book's chapter 3 linear classifier: 2,000 points, full-batch steps, lr 0.1."""
    rng = np.random.default_rng(0)
    cov = [[1, 0.5], [0.5, 1]]
    inputs = np.vstack([rng.multivariate_normal([0, 3], cov, 1000),
                        rng.multivariate_normal([3, 0], cov, 1000)]).astype("float32")
    targets = np.vstack([np.zeros((1000, 1)), np.ones((1000, 1))]).astype("float32")
    w = tf.Variable(rng.uniform(size=(2, 1)).astype("float32"))
    b = tf.Variable(tf.zeros((1,)))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            predictions = tf.matmul(inputs, w) + b
            loss = tf.reduce_mean(tf.square(targets - predictions))
        grad_w, grad_b = tape.gradient(loss, [w, b])
        w.assign_sub(grad_w * 0.1)
        b.assign_sub(grad_b * 0.1)
    return float(loss)


def scalar_ops(steps: int = 2000) -> float:
    """The worst case: tiny scalar ops, where per-op bookkeeping is all there is."""
    total = tf.constant(0.0)
    for _ in range(steps):
        total = total * 0.5 + 1.0
    return float(total)


def measure(workload) -> tuple[float, float, list[float], int]:
    plain, recorded, ops = [], [], 0
    workload(3)  # warm up TensorFlow's kernels and caches
    for _ in range(REPEATS):
        start = time.perf_counter()
        expected = workload()
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        with tapeviz.record({}) as rec:
            got = workload()
        recorded.append(time.perf_counter() - start)
        assert got == expected, "recording must not change results"
        ops = len(rec.ops)
    ratios = sorted(r / p for r, p in zip(recorded, plain, strict=True))
    return statistics.median(plain), statistics.median(recorded), ratios, ops


def main() -> None:
    print(f"{'workload':<28}{'ops':>7}{'plain s':>9}{'recorded s':>12}{'ratio':>8}"
          f"{'(min-max)':>14}")
    for name, workload in [("MNIST-style loop (ch. 2)", mnist_style_loop),
                           ("linear classifier (ch. 3)", linear_classifier_loop),
                           ("small MLP loop", mlp_training_loop),
                           ("scalar ops (worst case)", scalar_ops)]:
        plain, recorded, ratios, ops = measure(workload)
        spread = f"({ratios[0]:.2f}-{ratios[-1]:.2f})"
        print(f"{name:<28}{ops:>7}{plain:>9.3f}{recorded:>12.3f}"
              f"{statistics.median(ratios):>7.2f}x{spread:>14}")
    print("target (issue 2): <= 1.25x on an op-heavy eager cell such as the book's ch. 2 loop")


if __name__ == "__main__":
    main()
