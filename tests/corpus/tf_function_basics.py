# Source: TensorFlow guide "Introduction to graphs and tf.function" (and the "Better
# performance with tf.function" guide): the same Python function eager and as a graph.
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
from IPython.display import display
# %%
def a_regular_function(x, y, b):
  x = tf.matmul(x, y)
  x = x + b
  return x

a_function_that_uses_a_graph = tf.function(a_regular_function)

x1 = tf.constant([[1.0, 2.0]])
y1 = tf.constant([[2.0], [3.0]])
b1 = tf.constant(4.0)

orig_value = a_regular_function(x1, y1, b1).numpy()
tf_function_value = a_function_that_uses_a_graph(x1, y1, b1).numpy()
assert(orig_value == tf_function_value)
orig_value
# %%
@tf.function
def my_relu(x):
  return tf.maximum(0., x)

print(my_relu(tf.constant(5.5)))
print(my_relu([1, -1]))
print(my_relu(tf.constant([3., -3.])))
# %%
print(my_relu.pretty_printed_concrete_signatures())
# %%
@tf.function
def get_MSE(y_true, y_pred):
  print("Calculating MSE!")
  sq_diff = tf.pow(y_true - y_pred, 2)
  return tf.reduce_mean(sq_diff)

y_true = tf.random.uniform([5], maxval=10, dtype=tf.int32)
y_pred = tf.random.uniform([5], maxval=10, dtype=tf.int32)
error = get_MSE(y_true, y_pred)
error = get_MSE(y_true, y_pred)
error = get_MSE(y_true, y_pred)
# %%
@tf.function
def get_MSE(y_true, y_pred):
  tf.print("Calculating MSE!")
  return tf.reduce_mean(tf.pow(y_true - y_pred, 2))

error = get_MSE(y_true, y_pred)
# %%
v = tf.Variable(1.0)

@tf.function
def add_and_square(x):
  v.assign_add(x)
  return v * v

with tf.GradientTape() as tape:
  out = add_and_square(tf.constant(2.0))
tape.gradient(out, v)
# %%
@tf.function
def sum_even(items):
  s = 0
  for c in items:
    if c % 2 > 0:
      continue
    s += c
  return s

sum_even(tf.constant([10, 12, 15, 20]))
# %%
@tf.function
def fizzbuzz(n):
  for i in tf.range(1, n + 1):
    if i % 15 == 0:
      tf.print('FizzBuzz')
    elif i % 3 == 0:
      tf.print('Fizz')
    else:
      tf.print(i)

fizzbuzz(tf.constant(5))
# %%
@tf.function
def unsafe(x):
  return x.numpy()

unsafe(tf.constant(1.0))
# %%
display(tf.constant([1.0, 2.0]))
display("a displayed string")
# %%
a_function_that_uses_a_graph.experimental_get_tracing_count()
