# Source: "Deep Learning with Python" (Chollet), chapter 2, "The gears of neural networks:
# tensor operations": naive element-wise ops, broadcasting, tensor product, reshaping.
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
# %%
def naive_relu(x):
    assert len(x.shape) == 2
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = max(x[i, j], 0)
    return x
# %%
def naive_add(x, y):
    assert len(x.shape) == 2
    assert x.shape == y.shape
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[i, j]
    return x
# %%
import time

x = np.random.random((20, 100))
y = np.random.random((20, 100))

z = x + y
z = np.maximum(z, 0.)
z_naive = naive_relu(naive_add(x, y))
np.allclose(z, z_naive)
# %%
X = np.random.random((32, 10))
y = np.random.random((10,))
y = np.expand_dims(y, axis=0)
Y = np.concatenate([y] * 32, axis=0)
Y.shape
# %%
def naive_add_matrix_and_vector(x, y):
    assert len(x.shape) == 2
    assert len(y.shape) == 1
    assert x.shape[1] == y.shape[0]
    x = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] += y[j]
    return x

naive_add_matrix_and_vector(X, y[0]).shape
# %%
x = np.random.random((64, 3, 32, 10))
y = np.random.random((32, 10))
z = np.maximum(x, y)
z.shape
# %%
x = np.random.random((32,))
y = np.random.random((32,))
z = np.dot(x, y)
type(z).__name__
# %%
def naive_vector_dot(x, y):
    assert len(x.shape) == 1
    assert len(y.shape) == 1
    assert x.shape[0] == y.shape[0]
    z = 0.
    for i in range(x.shape[0]):
        z += x[i] * y[i]
    return z

round(float(naive_vector_dot(x, y) - z), 6) == 0.0
# %%
def naive_matrix_vector_dot(x, y):
    z = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        z[i] = naive_vector_dot(x[i, :], y)
    return z

def naive_matrix_dot(x, y):
    assert len(x.shape) == 2
    assert len(y.shape) == 2
    assert x.shape[1] == y.shape[0]
    z = np.zeros((x.shape[0], y.shape[1]))
    for i in range(x.shape[0]):
        for j in range(y.shape[1]):
            row_x = x[i, :]
            column_y = y[:, j]
            z[i, j] = naive_vector_dot(row_x, column_y)
    return z

a = np.random.random((4, 3))
b = np.random.random((3, 5))
np.allclose(naive_matrix_dot(a, b), np.dot(a, b))
# %%
naive_matrix_dot(a, a)
# %%
train_images = np.zeros((60, 28, 28))
train_images = train_images.reshape((60, 28 * 28))
x = np.array([[0., 1.],
              [2., 3.],
              [4., 5.]])
x.shape
# %%
x = x.reshape((6, 1))
x
# %%
x = np.zeros((300, 20))
x = np.transpose(x)
x.shape
# %%
a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
b = tf.constant([10.0, 20.0])
tf.nn.relu(a - 2.5) + b
# %%
tf.matmul(a, tf.transpose(a))
# %%
tf.tensordot(a, b, axes=1)
# %%
tf.reshape(a, (4,))
