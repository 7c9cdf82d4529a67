"""The workloads of bench_record.py, written as a learner writes them in a notebook cell.

bench_record.py runs this file as a cell's code (see ``load_as_cell`` there), so that tapeviz
treats these functions as the user's own: their calls become scopes and their lines are read,
as in a notebook.
"""

import numpy as np
import tensorflow as tf

STEPS = 150


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


class NaiveDense:
    """The book's chapter 2 layer, as written there (initial values from a seeded NumPy rng)."""

    def __init__(self, input_size, output_size, activation, rng):
        self.activation = activation
        self.W = tf.Variable(rng.uniform(0, 1e-1, (input_size, output_size)).astype("float32"))
        self.b = tf.Variable(tf.zeros((output_size,)))

    def __call__(self, inputs):
        return self.activation(tf.matmul(inputs, self.W) + self.b)

    @property
    def weights(self):
        return [self.W, self.b]


class NaiveSequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, inputs):
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]


def _update_weights(gradients, weights, learning_rate=1e-3):
    for g, w in zip(gradients, weights, strict=True):
        w.assign_sub(g * learning_rate)


def _one_training_step(model, images_batch, labels_batch):
    with tf.GradientTape() as tape:
        predictions = model(images_batch)
        per_sample_losses = tf.keras.losses.sparse_categorical_crossentropy(
            labels_batch, predictions)
        average_loss = tf.reduce_mean(per_sample_losses)
    gradients = tape.gradient(average_loss, model.weights)
    _update_weights(gradients, model.weights)
    return average_loss


def naive_dense_loop(batches: int = 20, batch_size: int = 128) -> float:
    """The book's chapter 2 `NaiveDense`/`NaiveSequential` fit loop on synthetic MNIST data."""
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(batches * batch_size, 28 * 28)).astype("float32")
    labels = rng.integers(0, 10, size=batches * batch_size)
    model = NaiveSequential([NaiveDense(28 * 28, 512, tf.nn.relu, rng),
                             NaiveDense(512, 10, tf.nn.softmax, rng)])
    loss = None
    for index in range(0, len(images), batch_size):
        loss = _one_training_step(model, images[index:index + batch_size],
                                  labels[index:index + batch_size])
    return float(loss)


def keras_fit(samples: int = 4096) -> float:
    """The book's MNIST model (512 relu, 10 softmax, rmsprop) fitted for one epoch, batches of
    128, on synthetic data; a fresh model each run (so it includes tracing, as a first fit)."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(samples, 28 * 28)).astype("float32")
    labels = rng.integers(0, 10, size=samples)
    model = keras.Sequential([keras.Input((28 * 28,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(images, labels, epochs=1, batch_size=128, verbose=0)
    return history.history["loss"][-1]


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


WORKLOADS = {
    "ch2-naive-dense": ("NaiveDense loop (ch. 2)", naive_dense_loop),
    "mnist-loop": ("MNIST-style loop (ch. 2)", mnist_style_loop),
    "keras-fit": ("Keras fit, MNIST model", keras_fit),
    "linear": ("linear classifier (ch. 3)", linear_classifier_loop),
    "mlp": ("small MLP loop", mlp_training_loop),
    "scalar": ("scalar ops (worst case)", scalar_ops),
}
