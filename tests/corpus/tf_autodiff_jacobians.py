# Source: TensorFlow guide "Advanced automatic differentiation": Jacobians (scalar source,
# tensor source, batch Jacobian) and the Hessian via nested tapes.
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
# %%
x = tf.linspace(-10.0, 10.0, 200+1)
delta = tf.Variable(0.0)

with tf.GradientTape() as tape:
  y = tf.nn.sigmoid(x+delta)

dy_dx = tape.jacobian(y, delta)
# %%
print(y.shape)
print(dy_dx.shape)
# %%
x = tf.random.normal([7, 5], seed=1)
layer = tf.keras.layers.Dense(10, activation=tf.nn.relu)

with tf.GradientTape(persistent=True) as tape:
  y = layer(x)

y.shape
# %%
layer.kernel.shape
# %%
j = tape.jacobian(y, layer.kernel)
j.shape
# %%
g = tape.gradient(y, layer.kernel)
print('g.shape:', g.shape)

j_sum = tf.reduce_sum(j, axis=[0, 1])
delta = tf.reduce_max(abs(g - j_sum)).numpy()
assert delta < 1e-3
print('delta:', round(float(delta), 2))
# %%
x = tf.random.normal([7, 5], seed=2)
layer1 = tf.keras.layers.Dense(8, activation=tf.nn.relu)
layer2 = tf.keras.layers.Dense(6, activation=tf.nn.relu)

with tf.GradientTape() as t2:
  with tf.GradientTape() as t1:
    x = layer1(x)
    x = layer2(x)
    loss = tf.reduce_mean(x**2)

  g = t1.gradient(loss, layer1.kernel)

h = t2.jacobian(g, layer1.kernel)
# %%
print(f'layer.kernel.shape: {layer1.kernel.shape}')
print(f'h.shape: {h.shape}')
# %%
n_params = tf.reduce_prod(layer1.kernel.shape)
g_vec = tf.reshape(g, [n_params, 1])
h_mat = tf.reshape(h, [n_params, n_params])
h_mat.shape
# %%
x = tf.random.normal([7, 5], seed=3)

layer1 = tf.keras.layers.Dense(8, activation=tf.nn.elu)
layer2 = tf.keras.layers.Dense(6, activation=tf.nn.elu)

with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
  tape.watch(x)
  y = layer1(x)
  y = layer2(y)

y.shape
# %%
j = tape.jacobian(y, x)
j.shape
# %%
imax = 6
j_sum = tf.reduce_sum(j, axis=2)
j_sum.shape
# %%
jb = tape.batch_jacobian(y, x)
jb.shape
# %%
error = tf.reduce_max(abs(jb - tf.reduce_sum(j, axis=2)))
assert error < 1e-4
# %%
x = tf.constant([1.0, 2.0, 3.0])
with tf.GradientTape() as tape:
  tape.watch(x)
  y = x * x
tape.jacobian(y, x, experimental_use_pfor=False)
# %%
x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
with tf.GradientTape() as tape:
  tape.watch(x)
  y = tf.reduce_sum(x, axis=1)
tape.batch_jacobian(y, x)
