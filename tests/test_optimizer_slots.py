"""Pins ``_tfhooks.optimizer_slots``: Keras 3 optimizers' private state, by formula name."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tapeviz._tfhooks import optimizer_slots

GRAD = np.array([0.5, -2.0], "float32")


def one_update(optimizer):
    w = tf.Variable([1.0, 1.0])
    optimizer.apply_gradients([(tf.constant(GRAD), w)])
    return {name: slot.numpy() for name, slot in optimizer_slots(optimizer, w).items()}


def test_adam_slots_are_its_first_and_second_moments():
    slots = one_update(keras.optimizers.Adam(0.1, beta_1=0.9, beta_2=0.99))
    assert set(slots) == {"m", "v"}
    np.testing.assert_allclose(slots["m"], 0.1 * GRAD, rtol=1e-6)
    np.testing.assert_allclose(slots["v"], 0.01 * GRAD**2, rtol=1e-5)


def test_sgd_momentum_slot_is_the_velocity():
    slots = one_update(keras.optimizers.SGD(0.1, momentum=0.9))
    np.testing.assert_allclose(slots["velocity"], -0.1 * GRAD, rtol=1e-6)


@pytest.mark.parametrize("optimizer", [keras.optimizers.SGD(0.1), keras.optimizers.RMSprop()])
def test_other_optimizers_have_no_named_slots(optimizer):
    assert one_update(optimizer) == {}


def test_each_variable_gets_its_own_slots():
    optimizer = keras.optimizers.Adam(0.1)
    a, b = tf.Variable([1.0]), tf.Variable([1.0, 2.0, 3.0])
    optimizer.apply_gradients([(tf.constant([1.0]), a), (tf.constant([1.0, 1.0, 1.0]), b)])
    assert optimizer_slots(optimizer, a)["m"].shape == (1,)
    assert optimizer_slots(optimizer, b)["v"].shape == (3,)
