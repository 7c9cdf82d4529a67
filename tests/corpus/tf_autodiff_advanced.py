# Source: TensorFlow guide "Advanced automatic differentiation": controlling recording
# (stop_recording, reset, stop_gradient), custom gradients, multiple tapes, higher order.
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
# %%
x = tf.Variable(2.0)
y = tf.Variable(3.0)

with tf.GradientTape() as t:
  x_sq = x * x
  with t.stop_recording():
    y_sq = y * y
  z = x_sq + y_sq

grad = t.gradient(z, {'x': x, 'y': y})

print('dz/dx:', grad['x'])
print('dz/dy:', grad['y'])
# %%
x = tf.Variable(2.0)
y = tf.Variable(3.0)
reset = True

with tf.GradientTape() as t:
  y_sq = y * y
  if reset:
    t.reset()
  z = x * x + y_sq

grad = t.gradient(z, {'x': x, 'y': y})

print('dz/dx:', grad['x'])
print('dz/dy:', grad['y'])
# %%
with tf.GradientTape() as t:
  y_sq = y**2
  z = x**2 + tf.stop_gradient(y_sq)

grad = t.gradient(z, {'x': x, 'y': y})

print('dz/dx:', grad['x'])
print('dz/dy:', grad['y'])
# %%
@tf.custom_gradient
def clip_gradients(y):
  def backward(dy):
    return tf.clip_by_norm(dy, 0.5)
  return y, backward

v = tf.Variable(2.0)
with tf.GradientTape() as t:
  output = clip_gradients(v * v)
print(t.gradient(output, v))
# %%
def log1pexp(x):
  return tf.math.log(1 + tf.exp(x))

x = tf.constant(100.)
with tf.GradientTape() as tape:
  tape.watch(x)
  y = log1pexp(x)
tape.gradient(y, x)
# %%
@tf.custom_gradient
def log1pexp(x):
  e = tf.exp(x)
  def grad(upstream):
    return upstream * (1 - 1 / (1 + e))
  return tf.math.log(1 + e), grad

with tf.GradientTape() as tape:
  tape.watch(x)
  y = log1pexp(x)
tape.gradient(y, x)
# %%
x0 = tf.constant(0.0)
x1 = tf.constant(0.0)

with tf.GradientTape() as tape0, tf.GradientTape() as tape1:
  tape0.watch(x0)
  tape1.watch(x1)

  y0 = tf.math.sin(x0)
  y1 = tf.nn.sigmoid(x1)

  y = y0 + y1

  ys = tf.reduce_sum(y)
# %%
tape0.gradient(ys, x0).numpy()
# %%
tape1.gradient(ys, x1).numpy()
# %%
x = tf.Variable(1.0)

with tf.GradientTape() as t2:
  with tf.GradientTape() as t1:
    y = x * x * x
  dy_dx = t1.gradient(y, x)
d2y_dx2 = t2.gradient(dy_dx, x)

print('dy_dx:', dy_dx.numpy())
print('d2y_dx2:', d2y_dx2.numpy())
# %%
x = tf.random.normal([7, 5], seed=0)
layer = tf.keras.layers.Dense(10, activation=tf.nn.relu)
with tf.GradientTape() as t2:
  with tf.GradientTape() as t1:
    t1.watch(x)
    y = layer(x)
    out = tf.reduce_sum(layer(x)**2)
  g1 = t1.gradient(out, x)
  g1_mag = tf.norm(g1)

dg1_mag = t2.gradient(g1_mag, layer.trainable_weights)
[var.shape for var in dg1_mag]
