"""Shared set-ups for the SGD tests: the book's linear classifier and the documented batch draw."""

from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from tapeviz.sgd import two_blobs


def book_variables(seed: int = 0) -> tuple[tf.Variable, tf.Variable]:
    """W ~ uniform(2, 1) as in the book (seeded), b = 0."""
    W = tf.Variable(np.random.default_rng(seed).uniform(size=(2, 1)).astype("float32"))
    b = tf.Variable(tf.zeros((1,)))
    return W, b


def square_loss(W: tf.Variable, b: tf.Variable) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The book's model (x @ W + b) and square loss, as a loss_fn(batch_x, batch_y)."""

    def loss_fn(inputs, targets):
        predictions = tf.matmul(inputs, W) + b
        return tf.reduce_mean(tf.square(targets - predictions))

    return loss_fn


def book_setup(n_per_class: int = 1000, seed: int = 0):
    """(x, y, W, b, loss_fn) for the book's linear classifier."""
    x, y = two_blobs(n_per_class, seed)
    W, b = book_variables(seed)
    return x, y, W, b, square_loss(W, b)


def plain_batches(n: int, batch_size: int, shuffle: bool, seed: int) -> Iterator[tuple]:
    """(epoch, indices) forever, drawn as tapeviz.sgd documents: one permutation per epoch."""
    rng = np.random.default_rng(seed)
    epoch = 0
    while True:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            yield epoch, order[start : start + batch_size]
        epoch += 1
