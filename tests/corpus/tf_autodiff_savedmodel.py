# Source: TensorFlow guide "Advanced automatic differentiation": "Custom gradients in
# SavedModel" (experimental_custom_gradients).
# ruff: noqa
# %%
import tensorflow as tf
# %%
@tf.custom_gradient
def clip_gradients(y):
  def backward(dy):
    return tf.clip_by_norm(dy, 0.5)
  return y, backward
# %%
class MyModule(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec(None)])
  def call_custom_grad(self, x):
    return clip_gradients(x)

model = MyModule()
# %%
tf.saved_model.save(
    model,
    'saved_model',
    options=tf.saved_model.SaveOptions(experimental_custom_gradients=True))

v = tf.Variable(2.0)
loaded = tf.saved_model.load('saved_model')
with tf.GradientTape() as tape:
  output = loaded.call_custom_grad(v)
print(tape.gradient(output, v))
# %%
tf.saved_model.save(
    model,
    'saved_model',
    options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))

loaded = tf.saved_model.load('saved_model')
with tf.GradientTape() as tape:
  output = loaded.call_custom_grad(v)
print(tape.gradient(output, v))
# %%
class Scale(tf.Module):
  def __init__(self):
    self.w = tf.Variable(3.0)

  @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
  def __call__(self, x):
    return self.w * x

scale = Scale()
tf.saved_model.save(scale, "scale_model")
reloaded = tf.saved_model.load("scale_model")
reloaded(tf.constant(2.0))
# %%
x = tf.constant(5.0)
with tf.GradientTape() as tape:
  tape.watch(x)
  out = reloaded(x)
tape.gradient(out, [x, reloaded.w])
