# Source: "Deep Learning with Python" (Chollet), chapter 3, "First steps with TensorFlow":
# constant tensors and variables.
# ruff: noqa
# %%
import tensorflow as tf
x = tf.ones(shape=(2, 1))
print(x)
# %%
x = tf.zeros(shape=(2, 1))
print(x)
# %%
x = tf.random.normal(shape=(3, 1), mean=0., stddev=1.)
print(x)
# %%
x = tf.random.uniform(shape=(3, 1), minval=0., maxval=1.)
print(x)
# %%
import numpy as np
x = np.ones(shape=(2, 2))
x[0, 0] = 0.
x
# %%
x = tf.ones(shape=(2, 2))
x[0, 0] = 0.
# %%
v = tf.Variable(initial_value=tf.random.normal(shape=(3, 1)))
print(v)
# %%
v.assign(tf.ones((3, 1)))
# %%
v[0, 0].assign(3.)
# %%
v.assign_add(tf.ones((3, 1)))
# %%
v.assign_sub(tf.ones((3, 1)) * 0.5)
v
# %%
v.assign(tf.ones((2, 1)))
# %%
a = tf.ones((2, 2))
b = tf.square(a)
c = tf.sqrt(a)
d = b + c
e = tf.matmul(a, b)
e *= d
e
# %%
tf.constant(3) / tf.constant(2.0)
# %%
tf.constant([1, 2, 3]).dtype
# %%
tf.cast(tf.constant([1, 2, 3]), tf.float32) / 2
