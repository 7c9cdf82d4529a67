# Source: "Deep Learning with Python" (Chollet), chapter 3, "A second look at the
# GradientTape API".
# ruff: noqa
# %%
import tensorflow as tf
# %%
input_var = tf.Variable(initial_value=3.)
with tf.GradientTape() as tape:
   result = tf.square(input_var)
gradient = tape.gradient(result, input_var)
gradient
# %%
input_const = tf.constant(3.)
with tf.GradientTape() as tape:
   tape.watch(input_const)
   result = tf.square(input_const)
gradient = tape.gradient(result, input_const)
print(gradient)
# %%
with tf.GradientTape() as tape:
   result = tf.square(input_const)
print(tape.gradient(result, input_const))
# %%
time = tf.Variable(0.)
with tf.GradientTape() as outer_tape:
    with tf.GradientTape() as inner_tape:
        position =  4.9 * time ** 2
    speed = inner_tape.gradient(position, time)
acceleration = outer_tape.gradient(speed, time)
print(speed, acceleration)
# %%
W = tf.Variable(tf.random.uniform((2, 2)))
b = tf.Variable(tf.zeros((2,)))
x = tf.random.uniform((2, 2))
with tf.GradientTape() as tape:
    y = tf.matmul(x, W) + b
grad_of_y_wrt_W_and_b = tape.gradient(y, [W, b])
[g.shape for g in grad_of_y_wrt_W_and_b]
# %%
with tf.GradientTape() as tape:
    y = tf.reduce_sum(tf.matmul(x, W) + b)
tape.gradient(y, W)
tape.gradient(y, b)
# %%
x = tf.Variable(2.0)
with tf.GradientTape() as tape:
    y = x ** 3
dy_dx = tape.gradient(y, x)
dy_dx.numpy()
