# Source: TensorFlow guide "tf.data: Build TensorFlow input pipelines" and the Keras
# "training with built-in methods" guide (fit on a Dataset).
# ruff: noqa
# %%
import numpy as np
import tensorflow as tf
import keras
# %%
dataset = tf.data.Dataset.from_tensor_slices([8, 3, 0, 8, 2, 1])
dataset
# %%
for elem in dataset:
  print(elem.numpy())
# %%
it = iter(dataset)
print(next(it).numpy())
# %%
print(dataset.reduce(0, lambda state, value: state + value).numpy())
# %%
dataset.element_spec
# %%
features = np.arange(40, dtype="float32").reshape(20, 2)
labels = (features.sum(axis=1) > 20).astype("int32")
ds = tf.data.Dataset.from_tensor_slices((features, labels))
ds = ds.map(lambda x, y: (x / 40.0, y))
ds = ds.shuffle(20, seed=42).batch(6)
# %%
for batch_x, batch_y in ds.take(2):
  print(batch_x.shape, batch_y.numpy())
# %%
list(ds.as_numpy_iterator())[0][1]
# %%
ds2 = tf.data.Dataset.range(10).filter(lambda x: x % 2 == 0).map(lambda x: x * x)
list(ds2.as_numpy_iterator())
# %%
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
model.compile(optimizer="sgd",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
history = model.fit(ds, epochs=2, verbose=0)
[round(v, 4) for v in history.history["loss"]]
# %%
w = tf.Variable(tf.zeros((2, 1)))
opt = keras.optimizers.SGD(0.1)
for step, (bx, by) in enumerate(ds):
  with tf.GradientTape() as tape:
    pred = tf.squeeze(bx @ w, axis=1)
    loss = tf.reduce_mean((pred - tf.cast(by, tf.float32)) ** 2)
  opt.apply_gradients([(tape.gradient(loss, w), w)])
  print(step, round(float(loss), 4))
# %%
ds.batch(2).element_spec
# %%
tf.data.Dataset.from_tensor_slices(([1, 2], [1, 2, 3]))
